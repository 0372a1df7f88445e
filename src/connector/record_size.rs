//! One member's records must never block an organization: record sizes are checked
//! before the transaction, and a member whose records are too large is left out of
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
//! Pure and synchronous: it encodes, measures and filters; the poller reports.

use std::collections::BTreeMap;

use crate::avro::{EncodeError, Encoder};
use crate::kafka::{KafkaConfig, OutRecord};
use crate::membership::{PollOutcome, StateRecord};

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

/// The records of one poll, in the outcome's order, and the members left out.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub records: Vec<OutRecord>,
    pub left_out: Vec<LeftOut>,
}

/// Encodes the outcome's events (to `events_topic`) and state writes (to
/// `state_topic`); every member with a record over `limit` is removed from the
/// outcome and from the records, and listed in [`Batch::left_out`] (by user key).
pub(crate) fn encode_batch(
    outcome: &mut PollOutcome,
    encoder: &Encoder,
    events_topic: &str,
    state_topic: &str,
    limit: RecordLimit,
) -> Result<Batch, EncodeError> {
    // (member, record): the member is None for the checkpoint.
    let mut encoded: Vec<(Option<&str>, OutRecord)> =
        Vec::with_capacity(outcome.events.len() + outcome.state_writes.len());
    for event in &outcome.events {
        let r = encoder.encode_event(event)?;
        encoded.push((Some(event.user_key.as_str()), out(events_topic, r)));
    }
    for write in &outcome.state_writes {
        let r = encoder.encode_state(write)?;
        let member = match write {
            StateRecord::Member { user_key, .. } => Some(user_key.as_str()),
            StateRecord::Checkpoint(_) => None,
        };
        encoded.push((member, out(state_topic, r)));
    }
    let mut too_large: BTreeMap<String, LeftOut> = BTreeMap::new();
    for (member, r) in &encoded {
        let size = RecordLimit::size(&r.key, r.value.as_deref());
        if let Some(user_key) = member.filter(|_| size > limit.max_bytes) {
            let entry = too_large
                .entry((*user_key).to_owned())
                .or_insert_with(|| LeftOut {
                    user_key: (*user_key).to_owned(),
                    bytes: 0,
                    topic: String::new(),
                });
            if size > entry.bytes {
                entry.bytes = size;
                entry.topic.clone_from(&r.topic);
            }
        }
    }
    let records = encoded
        .into_iter()
        .filter(|(member, _)| member.is_none_or(|m| !too_large.contains_key(m)))
        .map(|(_, r)| r)
        .collect();
    if !too_large.is_empty() {
        outcome
            .events
            .retain(|e| !too_large.contains_key(&e.user_key));
        outcome.state_writes.retain(|w| match w {
            StateRecord::Member { user_key, .. } => !too_large.contains_key(user_key),
            StateRecord::Checkpoint(_) => true,
        });
    }
    Ok(Batch {
        records,
        left_out: too_large.into_values().collect(),
    })
}

fn out(topic: &str, r: crate::avro::EncodedRecord) -> OutRecord {
    OutRecord {
        topic: topic.to_owned(),
        key: r.key,
        value: r.value,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::avro::Schemas;
    use crate::membership::{self, Listing, Member, OrgState, Settings, SourceInfo};

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
    fn joins(big: usize) -> (OrgState, PollOutcome) {
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
        let outcome = membership::diff(&state, &second, 2_000, &settings, None);
        (state, outcome)
    }

    #[test]
    fn everything_fits_under_the_default_limit() {
        let (_, mut outcome) = joins(1024);
        let before = outcome.clone();
        let batch =
            encode_batch(&mut outcome, &encoder(), "ev", "st", RecordLimit::default()).unwrap();
        assert!(batch.left_out.is_empty());
        assert_eq!(outcome, before);
        // Three events, three member states, one checkpoint.
        assert_eq!(batch.records.len(), 7);
        assert_eq!(batch.records.iter().filter(|r| r.topic == "ev").count(), 3);
    }

    #[test]
    fn a_member_over_the_limit_is_left_out_and_its_state_does_not_move() {
        let (mut state, mut outcome) = joins(3000);
        let limit = RecordLimit { max_bytes: 2000 };
        let batch = encode_batch(&mut outcome, &encoder(), "ev", "st", limit).unwrap();
        let [left] = &batch.left_out[..] else {
            panic!("{:?}", batch.left_out)
        };
        assert_eq!(left.user_key, "u2");
        assert!(
            left.bytes > 3000 && left.bytes <= 3000 + 400,
            "{}",
            left.bytes
        );
        assert_eq!(left.topic, "ev");
        // u1 and u3: an event and a state record each; and the checkpoint.
        assert_eq!(batch.records.len(), 5);
        assert!(outcome.events.iter().all(|e| e.user_key != "u2"));
        assert_eq!(outcome.events.len(), 2);
        assert!(outcome
            .state_writes
            .iter()
            .any(|w| matches!(w, StateRecord::Checkpoint(_))));
        assert!(batch
            .records
            .iter()
            .all(|r| RecordLimit::size(&r.key, r.value.as_deref()) <= 2000));
        state.apply(&outcome);
        assert!(state.get("u2").is_none() && state.get("u1").is_some());
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
