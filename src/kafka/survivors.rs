//! What survives of the state topic: the last record of each key, with the one
//! partition that holds the key. The restore's bookkeeping, kept apart from the
//! consumer so that its rules are tested without a broker:
//!
//! - **Only survivors are decoded.** Compaction keeps the last record of each key;
//!   until it runs, superseded records are still in the log. They are never decoded,
//!   so an undecodable record is fixed by writing a record (a tombstone) for its key,
//!   effective at the next start rather than after the next compaction.
//! - **Tombstones are never decoded**: a tombstone of any key, even one the connector
//!   never wrote, deletes that key.
//! - **A key lives in one partition.** The producer's partitioner maps a key to one
//!   partition for a given partition count; a key met in two partitions (a live value
//!   or a tombstone, in either) means partitions were added to the state topic, and
//!   the order of that key's records is lost: refused.
//! - **Skipped records** (`kafka.skip_state_records`, partition and offset) are read
//!   as if they had never been written: the key's earlier record, if the log still
//!   holds one, survives.
//!
//! Memory: one entry per key met, with the raw value of its last record. Each
//! decoding thread owns its share of the live records and frees each raw value once
//! it is decoded, so raw and decoded values are not all held at once.

// The restore's errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::collections::hash_map::Entry;
use std::collections::BTreeSet;

use rdkafka::error::KafkaError;

use super::restored::{
    printable_key, RecordAt, RestoreError, RestoreStats, Restored, StateDecoder, StateMap,
};

/// The last record of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Last {
    pub(crate) at: RecordAt,
    /// `None`: a tombstone (or only skipped records so far): the key is deleted.
    pub(crate) value: Option<Vec<u8>>,
}

/// A key met in two partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitKey {
    pub(crate) key: Vec<u8>,
    pub(crate) first: i32,
    pub(crate) second: i32,
}

/// The last record of each key read so far.
#[derive(Debug, Default)]
pub(crate) struct Survivors {
    last: StateMap<Last>,
    /// Records read (values and tombstones), skipped ones included.
    pub(crate) records: u64,
    pub(crate) tombstones: u64,
    /// Key and value bytes read.
    pub(crate) bytes: u64,
    /// The skipped records met, in order of coordinates.
    pub(crate) skipped: BTreeSet<RecordAt>,
}

impl Survivors {
    /// Takes one record in log order of its partition. `skip` says whether its
    /// coordinates are to be skipped.
    pub(crate) fn offer(
        &mut self,
        at: RecordAt,
        key: &[u8],
        value: Option<&[u8]>,
        skip: bool,
    ) -> Result<(), SplitKey> {
        self.records += 1;
        self.bytes += (key.len() + value.map_or(0, <[u8]>::len)) as u64;
        if value.is_none() {
            self.tombstones += 1;
        }
        if skip {
            self.skipped.insert(at);
        }
        match self.last.get_mut(key) {
            Some(last) if last.at.partition != at.partition => Err(SplitKey {
                key: key.to_vec(),
                first: last.at.partition.min(at.partition),
                second: last.at.partition.max(at.partition),
            }),
            Some(last) => {
                if !skip {
                    *last = Last {
                        at,
                        value: value.map(<[u8]>::to_vec),
                    };
                }
                Ok(())
            }
            None => {
                // A skipped first record still places the key in its partition.
                let value = if skip {
                    None
                } else {
                    value.map(<[u8]>::to_vec)
                };
                self.last.insert(key.to_vec(), Last { at, value });
                Ok(())
            }
        }
    }

    /// Room for `keys` more keys without growing.
    pub(crate) fn reserve(&mut self, keys: usize) {
        self.last.reserve(keys);
    }

    /// Joins what another reader read (of other partitions) into this one.
    pub(crate) fn absorb(&mut self, other: Survivors) -> Result<(), SplitKey> {
        self.records += other.records;
        self.tombstones += other.tombstones;
        self.bytes += other.bytes;
        self.skipped.extend(other.skipped);
        self.last.reserve(other.last.len());
        for (key, last) in other.last {
            match self.last.entry(key) {
                Entry::Occupied(e) => {
                    let (a, b) = (e.get().at.partition, last.at.partition);
                    return Err(SplitKey {
                        key: e.key().clone(),
                        first: a.min(b),
                        second: a.max(b),
                    });
                }
                Entry::Vacant(e) => {
                    e.insert(last);
                }
            }
        }
        Ok(())
    }

    /// The live keys (last record not a tombstone), with their last record.
    pub(crate) fn into_live(self) -> impl Iterator<Item = LiveRecord> {
        self.last
            .into_iter()
            .filter_map(|(k, last)| last.value.map(|v| (k, last.at, v)))
    }

    /// Live keys (last record not a tombstone).
    pub(crate) fn live(&self) -> usize {
        self.last.values().filter(|l| l.value.is_some()).count()
    }

    /// Keys met, live or not.
    pub(crate) fn keys(&self) -> usize {
        self.last.len()
    }
}

/// A live survivor: its key, its coordinates, its raw value.
type LiveRecord = (Vec<u8>, RecordAt, Vec<u8>);

/// What one decoding thread gives back: its share of the entries, or the first error.
type Decoded<T> = Result<Vec<(Vec<u8>, T)>, RestoreError>;

/// Decodes the live survivors (never a tombstone, never a superseded record) on
/// `workers` threads. The first record that does not decode fails the restore with
/// its coordinates.
pub(crate) fn decode_survivors<D: StateDecoder>(
    topic: &str,
    survivors: Survivors,
    decoder: &D,
    workers: usize,
) -> Result<Restored<D::Value>, RestoreError> {
    let stats = RestoreStats {
        records: survivors.records,
        tombstones: survivors.tombstones,
        bytes: survivors.bytes,
        ..RestoreStats::default()
    };
    // Each thread owns its share and frees each raw value once decoded, so the
    // raw values and the decoded ones are not all held at once; keys move along.
    let mut shares: Vec<Vec<LiveRecord>> = Vec::new();
    let live = survivors.live();
    let chunk = live.div_ceil(workers.max(1)).max(1);
    for record in survivors.into_live() {
        match shares.last_mut() {
            Some(share) if share.len() < chunk => share.push(record),
            _ => {
                let mut share = Vec::with_capacity(chunk);
                share.push(record);
                shares.push(share);
            }
        }
    }
    let decoded: Vec<Decoded<D::Value>> = std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|records| s.spawn(move || decode_share(topic, records, decoder)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(RestoreError::Kafka {
                        topic: topic.to_owned(),
                        what: "the records (a decoding thread panicked)".into(),
                        source: KafkaError::Canceled,
                    })
                })
            })
            .collect()
    });
    let mut entries = StateMap::default();
    entries.reserve(live);
    for part in decoded {
        entries.extend(part?);
    }
    Ok(Restored { entries, stats })
}

/// Decodes one thread's share, freeing each raw value as it goes.
fn decode_share<D: StateDecoder>(
    topic: &str,
    records: Vec<LiveRecord>,
    decoder: &D,
) -> Decoded<D::Value> {
    let mut out = Vec::with_capacity(records.len());
    for (key, at, value) in records {
        match decoder.decode(&key, Some(&value)) {
            Ok(v) => out.push((key, v)),
            Err(e) => {
                return Err(RestoreError::Undecodable {
                    topic: topic.to_owned(),
                    partition: at.partition,
                    offset: at.offset,
                    key: printable_key(&key),
                    source: Box::new(e),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::{Classified as _, Recovery};

    fn at(partition: i32, offset: i64) -> RecordAt {
        RecordAt { partition, offset }
    }

    fn live(s: Survivors) -> Vec<(String, String)> {
        let mut v: Vec<_> = s
            .into_live()
            .map(|(k, _, v)| {
                (
                    String::from_utf8(k).expect("utf-8"),
                    String::from_utf8(v).expect("utf-8"),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_last_record_of_each_key_survives_and_tombstones_delete() {
        let mut s = Survivors::default();
        s.offer(at(0, 0), b"a", Some(b"1"), false).unwrap();
        s.offer(at(0, 1), b"b", Some(b"bad"), false).unwrap();
        s.offer(at(0, 2), b"a", Some(b"2"), false).unwrap();
        s.offer(at(0, 3), b"b", None, false).unwrap();
        // A tombstone of a key never written is fine.
        s.offer(at(0, 4), b"never", None, false).unwrap();
        assert_eq!((s.records, s.tombstones, s.keys()), (5, 2, 3));
        assert_eq!(live(s), vec![("a".into(), "2".into())]);
    }

    #[test]
    fn a_key_in_two_partitions_is_refused_tombstone_or_not() {
        let mut s = Survivors::default();
        s.offer(at(3, 0), b"a", None, false).unwrap();
        let split = s.offer(at(1, 9), b"a", Some(b"x"), false).unwrap_err();
        assert_eq!((split.first, split.second), (1, 3));

        let mut one = Survivors::default();
        one.offer(at(0, 0), b"k", Some(b"x"), false).unwrap();
        let mut two = Survivors::default();
        two.offer(at(5, 0), b"k", None, false).unwrap();
        two.offer(at(5, 1), b"other", Some(b"y"), false).unwrap();
        let split = one.absorb(two).unwrap_err();
        assert_eq!(
            (split.key.as_slice(), split.first, split.second),
            (&b"k"[..], 0, 5)
        );
    }

    #[test]
    fn a_skipped_record_is_read_as_never_written() {
        let mut s = Survivors::default();
        s.offer(at(2, 10), b"a", Some(b"good"), false).unwrap();
        s.offer(at(2, 11), b"a", Some(b"bad"), true).unwrap();
        s.offer(at(2, 12), b"b", Some(b"bad"), true).unwrap();
        assert_eq!(
            s.skipped
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["2@11", "2@12"]
        );
        assert_eq!(s.records, 3);
        // A skipped first record still places its key in its partition.
        assert!(s.offer(at(0, 0), b"b", Some(b"x"), false).is_err());
        assert_eq!(live(s), vec![("a".into(), "good".into())]);
    }

    #[test]
    fn record_coordinates_parse_and_print() {
        assert_eq!("3@1200".parse(), Ok(at(3, 1200)));
        assert_eq!(" 0 @ 0 ".parse(), Ok(at(0, 0)));
        assert_eq!(at(7, 42).to_string(), "7@42");
        for bad in ["", "3", "3@", "@4", "-1@4", "1@-4", "a@b", "1@2@3"] {
            assert!(bad.parse::<RecordAt>().is_err(), "{bad}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("not a number")]
    struct NotANumber;

    fn number(_: &[u8], v: Option<&[u8]>) -> Result<u32, NotANumber> {
        let v = v.ok_or(NotANumber)?;
        std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(NotANumber)
    }

    #[test]
    fn only_the_survivors_are_decoded_on_every_worker_count() {
        for workers in [1, 2, 3, 8] {
            let mut s = Survivors::default();
            for i in 0..20i64 {
                let key = format!("k{}", i % 7);
                s.offer(
                    at(0, i),
                    key.as_bytes(),
                    Some(i.to_string().as_bytes()),
                    false,
                )
                .unwrap();
            }
            // Superseded, then undecodable records: never decoded.
            s.offer(at(1, 0), b"x", Some(b"garbage"), false).unwrap();
            s.offer(at(1, 1), b"x", Some(b"5"), false).unwrap();
            s.offer(at(1, 2), b"y", Some(b"garbage"), false).unwrap();
            s.offer(at(1, 3), b"y", None, false).unwrap();
            let r = decode_survivors("state", s, &number, workers).expect("decodes");
            assert_eq!(r.entries.len(), 8, "{workers}");
            assert_eq!(r.entries[&b"k0".to_vec()], 14);
            assert_eq!(r.entries[&b"x".to_vec()], 5);
            assert_eq!((r.stats.records, r.stats.tombstones), (24, 1));
        }
    }

    #[test]
    fn a_surviving_undecodable_record_names_its_coordinates_and_the_ways_past_it() {
        let mut s = Survivors::default();
        s.offer(at(2, 40), b"o/bad", Some(b"garbage"), false)
            .unwrap();
        let err = decode_survivors("state", s, &number, 4).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("state/2@40"), "{msg}");
        assert!(msg.contains("--skip-state-record 2@40"), "{msg}");
        assert!(msg.contains("tombstone"), "{msg}");
        assert_eq!(err.recovery(), Recovery::StopProcess);
    }
}
