//! One member's records must never block an organization: record sizes are checked
//! before the transaction begins, and a member whose records are too large is left out of
//! the poll, while the rest commits.
//!
//! The string fields are bounded when parsed (`streak::wire`), so a member's records
//! stay far below any broker's limit; this is the last line, for a limit set very low
//! (`message.max.bytes`) or a bound that proves too generous. Without it, the producer
//! refuses the record, the transaction aborts, the cycle is redone forever and no
//! other change of the organization is ever published.
//!
//! **"Left out" means the member's state does not move on.** Every event of the
//! member and its state record are removed from the poll's outcome before it is
//! committed and applied: the state topic and the in-memory state keep the member as
//! last committed. The change is therefore detected again at the next poll, and left
//! out again (with an error and a count each time) until the member's data fits: the
//! member's events are late, never lost and never silently skipped. A member seen for
//! the first time stays unknown (its JOINED, or its SNAPSHOT at an organization's
//! first poll, comes when it fits). The checkpoint still commits, and its
//! `member_count` counts the listing, not the state.
//!
//! Pure and synchronous: it measures and filters; the poller reports. The check
//! comes first, on the poll's compact changes, before the transaction begins; the
//! records themselves are encoded later, chunk by chunk ([`super::records`]).

use crate::avro::{EncodeError, Encoder};
use crate::kafka::KafkaConfig;
use crate::membership::{OrgState, PollChanges};

/// librdkafka's default `message.max.bytes`.
pub(crate) const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;
/// Bytes a record takes beyond its key and value in a batch of its own (record and
/// batch headers, attributes, varints), rounded up generously.
pub(crate) const RECORD_OVERHEAD_BYTES: usize = 128;

/// The largest record the producer sends: its `message.max.bytes` (a passthrough
/// property, else librdkafka's default). The broker's own limit, the topics'
/// `max.message.bytes` (1 048 588 by default), is larger by default; where a topic's
/// is set lower, set `message.max.bytes` to it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimit {
    pub max_bytes: usize,
}

impl RecordLimit {
    /// The producer's limit from the Kafka settings.
    pub fn of(config: &KafkaConfig) -> RecordLimit {
        let max_bytes = config
            .properties
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        RecordLimit { max_bytes }
    }

    /// What a record of this key and value counts against the limit.
    pub fn size(key: &[u8], value: Option<&[u8]>) -> usize {
        key.len() + value.map_or(0, <[u8]>::len) + RECORD_OVERHEAD_BYTES
    }
}

impl Default for RecordLimit {
    fn default() -> Self {
        RecordLimit {
            max_bytes: DEFAULT_MESSAGE_MAX_BYTES,
        }
    }
}

/// A member left out of a poll: its largest record and where it was going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeftOut {
    pub user_key: String,
    /// The size of its largest record, as counted against the limit.
    pub bytes: usize,
    /// The topic of that record.
    pub topic: String,
}

/// Checks every record of the poll against `limit` before anything is sent, and
/// leaves out of `changes` every member with a record over it: its events and its
/// state record are not written, its state does not move. Returns the members left
/// out, in key order. `topics` are the events and the state topic, for the report.
///
/// The check reads no more than it must: [`Encoder::record_bound`] clears almost
/// every member from the sizes of its packed states alone, and only a member it
/// cannot clear has its records encoded (and then dropped) to measure them. The
/// poll's records are encoded later, chunk by chunk, inside the transaction
/// ([`super::records`]).
pub(crate) fn leave_out_oversized(
    changes: &mut PollChanges,
    state: &OrgState,
    encoder: &Encoder,
    topics: (&str, &str),
    limit: RecordLimit,
) -> Result<Vec<LeftOut>, EncodeError> {
    let mut left_out = Vec::new();
    let mut dropped = Vec::new();
    let mut events = Vec::new();
    for i in 0..changes.len() {
        let (before, after) = changes.packed_bytes(i, state);
        let bound = encoder.record_bound(state.org_key(), before.max(after));
        if bound + RECORD_OVERHEAD_BYTES <= limit.max_bytes {
            continue;
        }
        events.clear();
        let write = changes.member_records(i, state, &mut events);
        let mut sizes = Vec::with_capacity(events.len() + 1);
        for e in &events {
            sizes.push((encoded_size(&encoder.encode_event(e)?), topics.0));
        }
        sizes.push((encoded_size(&encoder.encode_state(&write)?), topics.1));
        // The largest record, the first of equals.
        let largest = sizes
            .into_iter()
            .reduce(|a, b| if b.0 > a.0 { b } else { a });
        if let Some((bytes, topic)) = largest.filter(|(bytes, _)| *bytes > limit.max_bytes) {
            left_out.push(LeftOut {
                user_key: changes.user_key(i, state).to_owned(),
                bytes,
                topic: topic.to_owned(),
            });
            dropped.push(i);
        }
    }
    if !dropped.is_empty() {
        // `dropped` is ascending: one pass.
        let mut next = dropped.iter().peekable();
        changes.retain(|i| {
            let drop = next.peek() == Some(&&i);
            if drop {
                next.next();
            }
            !drop
        });
    }
    Ok(left_out)
}

fn encoded_size(r: &crate::avro::EncodedRecord) -> usize {
    RecordLimit::size(&r.key, r.value.as_deref())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::avro::Schemas;
    use crate::connector::records::{PollRecords, Targets};
    use crate::kafka::chunked::gather;
    use crate::kafka::OutRecord;
    use crate::membership::{self, Listing, Member, Settings, SourceInfo};

    fn encoder() -> Encoder {
        let source = SourceInfo {
            connector: "t".into(),
            version: "0".into(),
            instance: "i".into(),
        };
        Encoder::single_object(Arc::new(Schemas::load().expect("schemas")), source)
    }

    fn member(key: &str, name_bytes: usize) -> Member {
        Member {
            key: key.into(),
            display_name: Some("n".repeat(name_bytes)),
            ..Member::default()
        }
    }

    /// A second poll (the first makes a SNAPSHOT) where three members join.
    fn joins(big: usize) -> (OrgState, PollChanges) {
        let settings = Settings::default();
        let mut state = OrgState::new("o1");
        let first = Listing {
            members: vec![member("u0", 10)],
            complete: true,
        };
        let snapshot = membership::diff(&state, &first, 1_000, &settings, None);
        state.apply(&snapshot);
        let second = Listing {
            members: vec![
                member("u0", 10),
                member("u1", 10),
                member("u2", big),
                member("u3", 10),
            ],
            complete: true,
        };
        let changes = membership::diff_changes(&state, &second, 2_000, &settings, None);
        (state, changes)
    }

    /// Every record of the poll, as its transaction gets them (chunks of two
    /// members).
    fn records(changes: &PollChanges, state: &OrgState) -> Vec<OutRecord> {
        let encoder = encoder();
        let targets = Targets {
            encoder: &encoder,
            events_topic: "ev",
            state_topic: "st",
            ocsf: None,
            chunk_members: 2,
        };
        gather(&mut PollRecords::new(changes, state, targets, Vec::new())).expect("encodes")
    }

    fn keys(changes: &PollChanges, state: &OrgState) -> Vec<String> {
        (0..changes.len())
            .map(|i| changes.user_key(i, state).to_owned())
            .collect()
    }

    #[test]
    fn everything_fits_under_the_default_limit() {
        let (state, mut changes) = joins(1024);
        let limit = RecordLimit::default();
        let left_out =
            leave_out_oversized(&mut changes, &state, &encoder(), ("ev", "st"), limit).unwrap();
        assert!(left_out.is_empty());
        assert_eq!(keys(&changes, &state), ["u1", "u2", "u3"]);
        assert_eq!(changes.event_count(), 3);
        let records = records(&changes, &state);
        // Three events, three member states, one checkpoint.
        assert_eq!(records.len(), 7);
        assert_eq!(records.iter().filter(|r| r.topic == "ev").count(), 3);
    }

    #[test]
    fn a_member_over_the_limit_is_left_out_and_its_state_does_not_move() {
        let (mut state, mut changes) = joins(3000);
        let limit = RecordLimit { max_bytes: 2000 };
        let left_out =
            leave_out_oversized(&mut changes, &state, &encoder(), ("ev", "st"), limit).unwrap();
        let [left] = &left_out[..] else {
            panic!("{left_out:?}")
        };
        assert_eq!(left.user_key, "u2");
        assert!(
            left.bytes > 3000 && left.bytes <= 3000 + 400,
            "{}",
            left.bytes
        );
        assert_eq!(left.topic, "ev");
        let records = records(&changes, &state);
        // u1 and u3: an event and a state record each; and the checkpoint.
        assert_eq!(records.len(), 5);
        assert_eq!(keys(&changes, &state), ["u1", "u3"]);
        assert_eq!(changes.event_count(), 2);
        assert!(changes.checkpoint().is_some());
        assert!(records
            .iter()
            .all(|r| RecordLimit::size(&r.key, r.value.as_deref()) <= 2000));
        state.apply_changes(changes);
        assert!(state.get("u2").is_none() && state.get("u1").is_some());
    }

    /// A member the cheap bound cannot clear is measured exactly, and kept when
    /// its records fit.
    #[test]
    fn a_member_near_the_limit_is_measured_exactly() {
        let (state, mut changes) = joins(1000);
        let limit = RecordLimit { max_bytes: 3000 };
        assert!(encoder().record_bound("o1", 1000) + RECORD_OVERHEAD_BYTES > limit.max_bytes);
        let left_out =
            leave_out_oversized(&mut changes, &state, &encoder(), ("ev", "st"), limit).unwrap();
        assert!(left_out.is_empty(), "{left_out:?}");
        let records = records(&changes, &state);
        assert_eq!(records.len(), 7);
        let largest = records
            .iter()
            .map(|r| RecordLimit::size(&r.key, r.value.as_deref()));
        assert!(largest.max().is_some_and(|n| n > 1000 && n <= 3000));
    }

    #[test]
    fn the_limit_is_the_producers_message_max_bytes() {
        let mut k = KafkaConfig::new("b:9092", "t");
        assert_eq!(RecordLimit::of(&k).max_bytes, 1_000_000);
        k.properties
            .insert("message.max.bytes".into(), "4000".into());
        assert_eq!(RecordLimit::of(&k).max_bytes, 4000);
    }
}
