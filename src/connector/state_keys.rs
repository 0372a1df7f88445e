//! One live key per member and per checkpoint: the check between the restore and
//! the fold.
//!
//! The state topic is keyed by the encoded key record, so the key's bytes depend on
//! its framing: Avro single-object encoding without a Schema Registry, the Confluent
//! wire format (with the registry's schema id) with one. Adding a registry to a
//! deployment (or a key schema registered under a new id) changes every key's bytes:
//! the old records still decode, so each member and each checkpoint then has two
//! live keys, and which one the fold keeps depends on the map's per-process hash
//! seed. A checkpoint could rewind, `poll_seq` go backwards and event ids repeat.
//! This refuses to start instead, naming both framings.

use std::collections::HashMap;

use crate::avro::WireFormat;
use crate::membership::RestoredRecord;

/// What a state record is about, whatever its key's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject<'a> {
    Member { org: &'a str, user: &'a str },
    Checkpoint { org: &'a str },
}

impl std::fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Member { org, user } => {
                write!(f, "member {user:?} of organization {org:?}")
            }
            Subject::Checkpoint { org } => write!(f, "the checkpoint of organization {org:?}"),
        }
    }
}

/// Two live keys of the state topic decode to the same member or checkpoint.
/// Recovery: stop; an operator picks which records to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the state topic holds two live keys for {subject}: one framed as {first}, one as {second}. The records were written under two settings (with and without a Schema Registry, or under two registered key schemas), and the restore cannot tell which is newer. Go back to the setting that wrote the newest records, or recreate the state topic (delete it: the next start creates it and emits a SNAPSHOT of each organization); see docs/kafka.md")]
pub struct TwoFramings {
    /// The member or checkpoint, as text.
    pub subject: String,
    /// The framing of each key, in a fixed order.
    pub first: String,
    pub second: String,
}

/// A key's framing, for the error: its wire format and its schema id or fingerprint.
fn framing(key: &[u8]) -> String {
    match WireFormat::detect(key) {
        Some(WireFormat::Confluent) => match key.get(1..5) {
            Some(id) => {
                let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
                format!("Confluent wire format (schema id {id})")
            }
            None => "Confluent wire format (truncated)".into(),
        },
        Some(WireFormat::SingleObject) => match key.get(2..10) {
            Some(fp) => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(fp);
                let fp = u64::from_le_bytes(bytes);
                format!("Avro single-object encoding (fingerprint {fp:016x})")
            }
            None => "Avro single-object encoding (truncated)".into(),
        },
        None => format!(
            "an unknown framing (first byte 0x{:02x})",
            key.first().copied().unwrap_or(0)
        ),
    }
}

/// The bytes that say how a key is framed: the magic byte and schema id of the
/// Confluent wire format, the marker and fingerprint of single-object encoding.
/// `None` for a key of no known framing.
fn framing_header(key: &[u8]) -> Option<&[u8]> {
    match WireFormat::detect(key) {
        Some(WireFormat::Confluent) => key.get(..5),
        Some(WireFormat::SingleObject) => key.get(..10),
        None => None,
    }
}

/// Whether every key has the same framing header: then no two of them are the
/// same member or checkpoint framed two ways, and there is nothing to look for.
/// (Two keys of one framing for one subject would be two encodings of one key
/// record under one schema; the connector's encoding is canonical: one record, one
/// set of bytes.) This pass costs a comparison of at most ten bytes a key, where
/// the subject map costs a hash and an insertion.
fn one_framing<'a>(mut keys: impl Iterator<Item = &'a [u8]>) -> bool {
    let Some(first) = keys.next() else {
        return true;
    };
    let Some(header) = framing_header(first) else {
        return false;
    };
    keys.all(|k| k.starts_with(header))
}

/// Refuses two live keys that decode to the same member or checkpoint.
pub(crate) fn one_key_per_subject(
    entries: &[(Vec<u8>, RestoredRecord)],
) -> Result<(), TwoFramings> {
    if one_framing(entries.iter().map(|(key, _)| key.as_slice())) {
        return Ok(());
    }
    // foldhash, like the restore's own map: SipHash over every key of a large state
    // topic was a measurable part of the start-up.
    let mut seen: HashMap<Subject<'_>, &[u8], foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(entries.len(), Default::default());
    for (key, record) in entries {
        let subject = match record.subject() {
            (org, Some(user)) => Subject::Member { org, user },
            (org, None) => Subject::Checkpoint { org },
        };
        if let Some(other) = seen.insert(subject.clone(), key) {
            // A fixed order, so the message does not depend on the hash seed.
            let (a, b) = if other <= key.as_slice() {
                (other, key.as_slice())
            } else {
                (key.as_slice(), other)
            };
            return Err(TwoFramings {
                subject: subject.to_string(),
                first: framing(a),
                second: framing(b),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::avro::{Encoder, SchemaIds, Schemas};
    use crate::membership::{Checkpoint, Member, MemberState, SourceInfo, StateRecord};

    fn source() -> SourceInfo {
        SourceInfo {
            connector: "t".into(),
            version: "0".into(),
            instance: "i".into(),
        }
    }

    fn member(user: &str) -> StateRecord {
        StateRecord::Member {
            org_key: "o1".into(),
            user_key: user.into(),
            state: Some(MemberState {
                member: Member {
                    key: user.into(),
                    ..Member::default()
                },
                inactive: false,
                first_seen_ms: 1,
                last_changed_ms: 2,
            }),
        }
    }

    fn checkpoint() -> StateRecord {
        StateRecord::Checkpoint(Checkpoint {
            org_key: "o1".into(),
            poll_seq: 3,
            last_poll_ms: 0,
            member_count: 1,
            incarnation: None,
        })
    }

    fn entries(encoders: &[(&Encoder, StateRecord)]) -> Vec<(Vec<u8>, RestoredRecord)> {
        encoders
            .iter()
            .map(|(e, r)| (e.encode_state(r).expect("encodes").key, r.clone().into()))
            .collect()
    }

    fn encoders() -> (Encoder, Encoder) {
        let schemas = Arc::new(Schemas::load().expect("schemas"));
        let single = Encoder::single_object(schemas.clone(), source());
        let ids = SchemaIds {
            events_key: 1,
            events_value: 2,
            state_key: 7,
            state_value: 8,
        };
        let confluent = Encoder::with_schema_ids(schemas, source(), ids);
        (single, confluent)
    }

    #[test]
    fn one_framing_passes() {
        let (single, confluent) = encoders();
        for e in [&single, &confluent] {
            let map = entries(&[(e, member("u1")), (e, member("u2")), (e, checkpoint())]);
            assert_eq!(map.len(), 3);
            assert!(one_framing(map.iter().map(|(k, _)| k.as_slice())));
            assert_eq!(one_key_per_subject(&map), Ok(()));
        }
    }

    #[test]
    fn two_framings_of_different_subjects_pass_through_the_subject_map() {
        let (single, confluent) = encoders();
        let map = entries(&[(&single, member("u1")), (&confluent, member("u2"))]);
        assert!(!one_framing(map.iter().map(|(k, _)| k.as_slice())));
        assert_eq!(one_key_per_subject(&map), Ok(()));
        // Two schema ids of one wire format are two framings too.
        let ids = SchemaIds {
            events_key: 1,
            events_value: 2,
            state_key: 9,
            state_value: 8,
        };
        let schemas = Arc::new(Schemas::load().expect("schemas"));
        let other_id = Encoder::with_schema_ids(schemas, source(), ids);
        let map = entries(&[(&confluent, member("u1")), (&other_id, member("u1"))]);
        assert!(!one_framing(map.iter().map(|(k, _)| k.as_slice())));
        let err = one_key_per_subject(&map).expect_err("two key schema ids for u1");
        assert_eq!(err.first, "Confluent wire format (schema id 7)");
        assert_eq!(err.second, "Confluent wire format (schema id 9)");
        // A key of no known framing is never taken for the common one.
        assert!(!one_framing(
            [b"\x00\x00".as_slice(), b"junk".as_slice()].into_iter()
        ));
        assert!(!one_framing([b"junk".as_slice()].into_iter()));
    }

    #[test]
    fn two_framings_of_one_member_or_checkpoint_are_refused_naming_both() {
        let (single, confluent) = encoders();
        let map = entries(&[(&single, member("u1")), (&confluent, member("u1"))]);
        let err = one_key_per_subject(&map).expect_err("two keys for u1");
        assert_eq!(err.subject, r#"member "u1" of organization "o1""#);
        assert_eq!(err.first, "Confluent wire format (schema id 7)");
        assert!(
            err.second
                .starts_with("Avro single-object encoding (fingerprint "),
            "{}",
            err.second
        );
        assert!(err.to_string().contains("Schema Registry"), "{err}");

        let map = entries(&[
            (&single, member("u1")),
            (&single, checkpoint()),
            (&confluent, checkpoint()),
        ]);
        let err = one_key_per_subject(&map).expect_err("two checkpoints");
        assert_eq!(err.subject, r#"the checkpoint of organization "o1""#);
    }
}
