//! A poll's records, encoded a chunk at a time as the publisher asks for them: the
//! events first, then the state records and the checkpoint (the order the poll has
//! always written them in), [`CHUNK_RECORDS`] at a time.

use crate::avro::{EncodeError, EncodedRecord, Encoder};
use crate::kafka::chunked::CHUNK_RECORDS;
use crate::kafka::{OutRecord, RecordChunks, SourceFailed};
use crate::membership::{ChangeEvent, StateRecord};

/// The records of one poll outcome, encoded lazily. An encoding error is kept (for
/// the cycle to report as [`EncodeError`]) and aborts the transaction.
pub struct PollRecords<'a> {
    encoder: &'a Encoder,
    events_topic: &'a str,
    state_topic: &'a str,
    events: std::slice::Iter<'a, ChangeEvent>,
    state_writes: std::slice::Iter<'a, StateRecord>,
    chunk: usize,
    error: Option<EncodeError>,
}

impl std::fmt::Debug for PollRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollRecords")
            .field("events_left", &self.events.len())
            .field("state_writes_left", &self.state_writes.len())
            .finish_non_exhaustive()
    }
}

impl<'a> PollRecords<'a> {
    pub fn new(
        encoder: &'a Encoder,
        events_topic: &'a str,
        state_topic: &'a str,
        events: &'a [ChangeEvent],
        state_writes: &'a [StateRecord],
    ) -> Self {
        PollRecords {
            encoder,
            events_topic,
            state_topic,
            events: events.iter(),
            state_writes: state_writes.iter(),
            chunk: CHUNK_RECORDS,
            error: None,
        }
    }

    /// Chunks of `n` records instead of [`CHUNK_RECORDS`] (tests).
    pub fn with_chunk(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// The encoding error that stopped the source, if any.
    pub fn take_error(&mut self) -> Option<EncodeError> {
        self.error.take()
    }

    /// Encode every record, keeping none (a dry run's check that all encode).
    pub fn check_all(&mut self) -> Result<(), EncodeError> {
        while let Ok(Some(_)) = self.next_chunk() {}
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn fill(&mut self, out: &mut Vec<OutRecord>) -> Result<(), EncodeError> {
        while out.len() < self.chunk {
            let (topic, r) = if let Some(event) = self.events.next() {
                (self.events_topic, self.encoder.encode_event(event)?)
            } else if let Some(write) = self.state_writes.next() {
                (self.state_topic, self.encoder.encode_state(write)?)
            } else {
                break;
            };
            let EncodedRecord { key, value } = r;
            out.push(OutRecord {
                topic: topic.to_string(),
                key,
                value,
            });
        }
        Ok(())
    }
}

impl RecordChunks for PollRecords<'_> {
    fn next_chunk(&mut self) -> Result<Option<Vec<OutRecord>>, SourceFailed> {
        if let Some(e) = &self.error {
            return Err(SourceFailed(e.to_string()));
        }
        let mut out =
            Vec::with_capacity(self.chunk.min(self.events.len() + self.state_writes.len()));
        if let Err(e) = self.fill(&mut out) {
            let failed = SourceFailed(e.to_string());
            self.error = Some(e);
            return Err(failed);
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::avro::Schemas;
    use crate::membership::{diff, Listing, Member, OrgState, Settings, SourceInfo};

    fn encoder() -> Encoder {
        let schemas = Arc::new(Schemas::load().expect("embedded schemas"));
        let source = SourceInfo {
            connector: "c".into(),
            version: "0".into(),
            instance: "i".into(),
        };
        Encoder::single_object(schemas, source)
    }

    /// Chunks of 2 of a 5-member first poll: the events, then the state records and
    /// the checkpoint, each byte for byte what encoding them one by one gives.
    #[test]
    fn chunks_hold_every_record_in_order() {
        let members = (0..5)
            .map(|i| Member {
                key: format!("user-{i}"),
                email: Some(format!("u{i}@example.com")),
                ..Member::default()
            })
            .collect();
        let listing = Listing {
            members,
            complete: true,
        };
        let settings = Settings {
            inactive_after_ms: 1_000,
            min_departures: 10,
            max_departure_fraction: 0.5,
        };
        let outcome = diff(&OrgState::new("org"), &listing, 5_000, &settings, None);
        let enc = encoder();
        let mut expected = Vec::new();
        for e in &outcome.events {
            let r = enc.encode_event(e).expect("encodes");
            expected.push(("ev", r.key, r.value));
        }
        for w in &outcome.state_writes {
            let r = enc.encode_state(w).expect("encodes");
            expected.push(("st", r.key, r.value));
        }
        assert_eq!(expected.len(), 5 + 5 + 1);

        let mut src = PollRecords::new(&enc, "ev", "st", &outcome.events, &outcome.state_writes)
            .with_chunk(2);
        let mut sizes = Vec::new();
        let mut got = Vec::new();
        while let Some(chunk) = src.next_chunk().expect("no failure") {
            sizes.push(chunk.len());
            got.extend(chunk.into_iter().map(|r| (r.topic, r.key, r.value)));
        }
        assert_eq!(sizes, vec![2, 2, 2, 2, 2, 1]);
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(t, k, v)| (t.to_string(), k, v))
            .collect();
        assert_eq!(got, expected);
        assert!(src.take_error().is_none());
        assert_eq!(src.next_chunk(), Ok(None));
    }
}
