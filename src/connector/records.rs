//! The records of one poll, made a chunk at a time inside its transaction: a
//! [`RecordChunks`] source over the poll's [`PollChanges`], so that a poll's memory
//! is bounded by a chunk, not by the organization.
//!
//! Each chunk is the records of the next [`PollContext::chunk_members`] changed
//! members, in the changes' order: each member's events (to the events topic, each
//! followed by its OCSF record when the OCSF topic is on, keyed with the event's own
//! key bytes) and its state record. The last chunk holds the checkpoint and the
//! poll's finding records (and their OCSF records), made before the transaction.
//! Within a topic the order is the one a whole batch had: members by key, each
//! member's events in the documented order, the checkpoint after every member's
//! state record. Every chunk belongs to the one transaction: read-committed
//! consumers see the whole poll or nothing.
//!
//! Record sizes were checked before the transaction ([`super::record_size`]): a
//! chunk is only encoded here. An encoding error (a defect) ends the source; the
//! publisher aborts the transaction and [`PollRecords::failure`] says why.
//!
//! [`PollContext::chunk_members`]: super::PollContext::chunk_members

use super::ocsf::OcsfOutput;
use crate::avro::{EncodeError, EncodedRecord, Encoder};
use crate::kafka::{OutRecord, RecordChunks, SourceFailed};
use crate::membership::{OrgState, PollChanges, StateRecord};

/// Changed members a chunk holds by default: a few thousand records, about a
/// megabyte encoded (the publisher's in-flight bound, 8 MiB, is the larger share).
pub const DEFAULT_CHUNK_MEMBERS: usize = 1000;

/// Where a poll's records go and how they are made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Targets<'a> {
    pub(crate) encoder: &'a Encoder,
    pub(crate) events_topic: &'a str,
    pub(crate) state_topic: &'a str,
    /// With the OCSF topic on, each event's OCSF record.
    pub(crate) ocsf: Option<&'a OcsfOutput>,
    /// Changed members a chunk holds (at least one).
    pub(crate) chunk_members: usize,
}

/// One poll's records, encoded a chunk at a time.
#[derive(Debug)]
pub(crate) struct PollRecords<'a> {
    changes: &'a PollChanges,
    state: &'a OrgState,
    targets: Targets<'a>,
    /// The next changed member to encode.
    next: usize,
    /// The records after every member's (findings), until the last chunk takes them.
    tail: Option<Vec<OutRecord>>,
    failure: Option<EncodeError>,
}

impl<'a> PollRecords<'a> {
    /// The records of `changes` (made against `state`), then the checkpoint and
    /// `tail`.
    pub(crate) fn new(
        changes: &'a PollChanges,
        state: &'a OrgState,
        targets: Targets<'a>,
        tail: Vec<OutRecord>,
    ) -> Self {
        PollRecords {
            changes,
            state,
            targets,
            next: 0,
            tail: Some(tail),
            failure: None,
        }
    }

    /// Why the source stopped, if a chunk could not be encoded.
    pub(crate) fn failure(&mut self) -> Option<EncodeError> {
        self.failure.take()
    }

    fn record(topic: &str, r: EncodedRecord) -> OutRecord {
        OutRecord {
            topic: topic.to_owned(),
            key: r.key,
            value: r.value,
        }
    }

    /// The records of changed members `next..end`.
    fn members(&mut self, end: usize) -> Result<Vec<OutRecord>, EncodeError> {
        let t = self.targets;
        let mut out = Vec::with_capacity((end - self.next) * 3);
        let mut events = Vec::new();
        for i in self.next..end {
            let write = self.changes.member_records(i, self.state, &mut events);
            for event in events.drain(..) {
                let r = Self::record(t.events_topic, t.encoder.encode_event(&event)?);
                let ocsf = t.ocsf.map(|o| o.record(&event, &r.key));
                out.push(r);
                out.extend(ocsf);
            }
            out.push(Self::record(t.state_topic, t.encoder.encode_state(&write)?));
        }
        self.next = end;
        Ok(out)
    }

    fn make(&mut self) -> Result<Option<Vec<OutRecord>>, EncodeError> {
        let len = self.changes.len();
        if self.next < len {
            let end = len.min(self.next + self.targets.chunk_members.max(1));
            return self.members(end).map(Some);
        }
        let Some(tail) = self.tail.take() else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(tail.len() + 1);
        if let Some(c) = self.changes.checkpoint() {
            let r = (self.targets.encoder).encode_state(&StateRecord::Checkpoint(c.clone()))?;
            out.push(Self::record(self.targets.state_topic, r));
        }
        out.extend(tail);
        Ok(Some(out))
    }
}

impl RecordChunks for PollRecords<'_> {
    fn next_chunk(&mut self) -> Result<Option<Vec<OutRecord>>, SourceFailed> {
        if self.failure.is_some() {
            return Err(SourceFailed("an earlier chunk could not be encoded".into()));
        }
        match self.make() {
            Ok(chunk) => Ok(chunk),
            Err(e) => {
                let failed = SourceFailed(e.to_string());
                self.failure = Some(e);
                Err(failed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::avro::Schemas;
    use crate::membership::{self, Checkpoint, Listing, Member, Settings, SourceInfo};

    fn encoder() -> Encoder {
        let source = SourceInfo {
            connector: "t".into(),
            version: "0".into(),
            instance: "i".into(),
        };
        Encoder::single_object(Arc::new(Schemas::load().expect("schemas")), source)
    }

    fn listing(n: usize) -> Listing {
        Listing {
            members: (0..n)
                .map(|i| Member {
                    key: format!("u{i:02}"),
                    ..Member::default()
                })
                .collect(),
            complete: true,
        }
    }

    fn targets<'a>(encoder: &'a Encoder, ocsf: Option<&'a OcsfOutput>) -> Targets<'a> {
        Targets {
            encoder,
            events_topic: "ev",
            state_topic: "st",
            ocsf,
            chunk_members: 3,
        }
    }

    fn chunks(source: &mut PollRecords<'_>) -> Vec<Vec<OutRecord>> {
        let mut all = Vec::new();
        while let Some(chunk) = source.next_chunk().expect("encodes") {
            all.push(chunk);
        }
        all
    }

    #[test]
    fn members_a_chunk_then_the_checkpoint_and_the_tail() {
        let state = membership::OrgState::new("o1");
        let changes =
            membership::diff_changes(&state, &listing(7), 1_000, &Settings::default(), None);
        let (encoder, ocsf) = (encoder(), OcsfOutput::new(Some("oc"), Default::default()));
        let tail = vec![OutRecord::new("findings", "f", "{}")];
        let mut source = PollRecords::new(&changes, &state, targets(&encoder, ocsf.as_ref()), tail);
        let chunks = chunks(&mut source);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        // Three members a chunk (event, its OCSF record, state record), then the
        // checkpoint and the finding record.
        assert_eq!(sizes, [9, 9, 3, 2]);
        let topics: Vec<&str> = chunks[0][..3].iter().map(|r| r.topic.as_str()).collect();
        assert_eq!(topics, ["ev", "oc", "st"]);
        assert_eq!(
            chunks[0][1].key, chunks[0][0].key,
            "OCSF keyed like its event"
        );
        let last: Vec<&str> = chunks[3].iter().map(|r| r.topic.as_str()).collect();
        assert_eq!(last, ["st", "findings"]);
        // Every record once, in the order a whole batch had within each topic.
        let all: Vec<OutRecord> = chunks.into_iter().flatten().collect();
        let decoder = crate::avro::Decoder::new(Arc::new(Schemas::load().expect("schemas")));
        let state_keys: Vec<Option<String>> = (all.iter().filter(|r| r.topic == "st"))
            .map(
                |r| match decoder.decode_state_cached(&r.key, r.value.as_deref()) {
                    Ok(membership::StateRecord::Member { user_key, .. }) => Some(user_key),
                    Ok(membership::StateRecord::Checkpoint(_)) => None,
                    Err(e) => panic!("{e}"),
                },
            )
            .collect();
        let mut expected: Vec<Option<String>> = (0..7).map(|i| Some(format!("u{i:02}"))).collect();
        expected.push(None);
        assert_eq!(state_keys, expected);
        assert_eq!(source.next_chunk(), Ok(None), "done stays done");
    }

    #[test]
    fn a_poll_without_changes_is_one_chunk() {
        let mut state = membership::OrgState::new("o1");
        let l = listing(4);
        let settings = Settings::default();
        state.apply(&membership::diff(&state, &l, 1_000, &settings, None));
        let changes = membership::diff_changes(&state, &l, 2_000, &settings, None);
        let encoder = encoder();
        let mut source = PollRecords::new(&changes, &state, targets(&encoder, None), Vec::new());
        let chunks = chunks(&mut source);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), 1, "the checkpoint alone");
    }

    #[test]
    fn an_encoding_error_ends_the_source_and_says_why() {
        let mut state = membership::OrgState::new("o1");
        state.set_checkpoint(Checkpoint {
            org_key: "o1".into(),
            poll_seq: i64::MAX as u64,
            last_poll_ms: 0,
            member_count: 0,
            incarnation: None,
        });
        let changes =
            membership::diff_changes(&state, &listing(2), 1_000, &Settings::default(), None);
        let encoder = encoder();
        let mut source = PollRecords::new(&changes, &state, targets(&encoder, None), Vec::new());
        let failed = source.next_chunk().expect_err("poll_seq out of range");
        assert!(failed.0.contains("poll_seq"), "{failed}");
        assert!(source.next_chunk().is_err(), "no chunk after a failure");
        assert!(matches!(
            source.failure(),
            Some(EncodeError::OutOfRange {
                field: "poll_seq",
                ..
            })
        ));
    }
}
