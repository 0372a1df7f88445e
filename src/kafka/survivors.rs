//! What survives of the state topic: the last record of each key, decoded, with the
//! one partition that holds the key. The restore's bookkeeping, kept apart from the
//! consumer so that its rules are tested without a broker:
//!
//! - **Only a survivor's decoding counts.** Each record is decoded as it is read,
//!   straight from the consumer's buffer (no copy of its value), on the restore
//!   worker of its partition, and its outcome replaces its key's earlier one.
//!   Compaction keeps the last record of each key; until it runs, superseded records
//!   are still in the log: their outcome is dropped with them, so an undecodable
//!   record is fixed by writing a record (a tombstone) for its key, effective at the
//!   next start rather than after the next compaction. (Decoding them costs CPU for
//!   the log's uncompacted tail only: the state topic rolls a segment an hour and is
//!   cleaned at 10% dirty, see [`super::STATE_TOPIC_DEFAULTS`].)
//! - **Tombstones are never decoded**: a tombstone of any key, even one the connector
//!   never wrote, deletes that key.
//! - **A key lives in one partition.** The producer's partitioner maps a key to one
//!   partition for a given partition count; a key met in two partitions (a live value
//!   or a tombstone, in either) means partitions were added to the state topic, and
//!   the order of that key's records is lost: refused.
//! - **Skipped records** (`kafka.skip_state_records`, partition and offset) are read
//!   as if they had never been written (nor decoded): the key's earlier record, if the
//!   log still holds one, survives.
//!
//! Memory: one entry per key met, with the decoded value of its last record (or why
//! it did not decode); raw values are never held.

// The restore's errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::hash::BuildHasher as _;
use std::sync::OnceLock;

use hashbrown::HashTable;

use super::restored::{
    printable_key, RecordAt, RestoreError, RestoreStats, Restored, StateDecoder,
};

/// Why a record did not decode, kept until the restore knows whether it survives.
type Undecodable = Box<dyn std::error::Error + Send + Sync>;

/// The last record of one key.
#[derive(Debug)]
pub(crate) struct Last<T> {
    pub(crate) at: RecordAt,
    /// `None`: a tombstone (or only skipped records so far): the key is deleted.
    pub(crate) value: Option<Result<T, Undecodable>>,
}

/// A key met in two partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitKey {
    pub(crate) key: Vec<u8>,
    pub(crate) first: i32,
    pub(crate) second: i32,
}

/// One key's entry: its hash is kept, so that neither the index's growth nor the
/// merge of the workers' survivors hashes a key again.
#[derive(Debug)]
struct Slot<T> {
    hash: u64,
    key: Vec<u8>,
    last: Last<T>,
}

/// The hash of every restore's keys in this process (foldhash, seeded once per
/// process): the workers share it, so one worker's stored hashes place its keys in
/// another's index. (SipHash over a million keys was a fifth of the restore.)
fn key_hash(key: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE
        .get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random()))
        .hash_one(key)
}

/// The last record of each key read so far, decoded.
///
/// The entries are a dense list in the order their keys were first met, found
/// through an index of positions by key hash: the index costs a few bytes a key
/// rather than a whole entry per bucket (a hash table of the entries themselves,
/// at its load factor, was twice their size in pages to clear), and the merge of
/// two workers' survivors appends one list to the other.
#[derive(Debug)]
pub(crate) struct Survivors<T> {
    slots: Vec<Slot<T>>,
    /// Positions in `slots`, by the slot's key hash.
    index: HashTable<usize>,
    /// Every slot's hash and position, in order of hash ([`Survivors::seal`]): what
    /// the cross-check of two workers' survivors walks.
    by_hash: Vec<(u64, usize)>,
    /// Records read (values and tombstones), skipped ones included.
    pub(crate) records: u64,
    pub(crate) tombstones: u64,
    /// Key and value bytes read.
    pub(crate) bytes: u64,
    /// The skipped records met, in order of coordinates.
    pub(crate) skipped: BTreeSet<RecordAt>,
}

impl<T> Default for Survivors<T> {
    fn default() -> Self {
        Survivors {
            slots: Vec::new(),
            index: HashTable::new(),
            by_hash: Vec::new(),
            records: 0,
            tombstones: 0,
            bytes: 0,
            skipped: BTreeSet::new(),
        }
    }
}

/// The position in `slots` of `key` (with hash `hash`), if it was met.
fn find<T>(index: &HashTable<usize>, slots: &[Slot<T>], hash: u64, key: &[u8]) -> Option<usize> {
    index
        .find(hash, |&i| slots.get(i).is_some_and(|s| s.key == key))
        .copied()
}

/// Indexes the slot just pushed at the end of `slots`.
fn index_last<T>(index: &mut HashTable<usize>, slots: &[Slot<T>]) {
    let Some(slot) = slots.last() else { return };
    let rehash = |&i: &usize| slots.get(i).map_or(0, |s| s.hash);
    index.insert_unique(slot.hash, slots.len() - 1, rehash);
}

impl<T> Survivors<T> {
    /// Takes one record in log order of its partition, decoding its value with
    /// `decoder` unless it is a tombstone or skipped. `skip` says whether its
    /// coordinates are to be skipped.
    pub(crate) fn offer<D: StateDecoder<Value = T>>(
        &mut self,
        at: RecordAt,
        key: &[u8],
        value: Option<&[u8]>,
        skip: bool,
        decoder: &D,
    ) -> Result<(), SplitKey> {
        self.records += 1;
        self.bytes += (key.len() + value.map_or(0, <[u8]>::len)) as u64;
        if value.is_none() {
            self.tombstones += 1;
        }
        if skip {
            self.skipped.insert(at);
        }
        let decode = |v: &[u8]| {
            decoder
                .decode(key, Some(v))
                .map_err(|e| Box::new(e) as Undecodable)
        };
        let hash = key_hash(key);
        let met = find(&self.index, &self.slots, hash, key);
        match met.and_then(|i| self.slots.get_mut(i)) {
            Some(slot) if slot.last.at.partition != at.partition => Err(SplitKey {
                key: key.to_vec(),
                first: slot.last.at.partition.min(at.partition),
                second: slot.last.at.partition.max(at.partition),
            }),
            Some(slot) => {
                if !skip {
                    slot.last = Last {
                        at,
                        value: value.map(decode),
                    };
                }
                Ok(())
            }
            None => {
                let value = if skip { None } else { value.map(decode) };
                self.slots.push(Slot {
                    hash,
                    key: key.to_vec(),
                    last: Last { at, value },
                });
                index_last(&mut self.index, &self.slots);
                Ok(())
            }
        }
    }

    /// Room for `keys` more keys, made once rather than grown.
    pub(crate) fn reserve(&mut self, keys: usize) {
        self.slots.reserve(keys);
        let slots = &self.slots;
        self.index
            .reserve(keys, |&i| slots.get(i).map_or(0, |s| s.hash));
    }

    /// Sorts the slots' hashes for [`merge`]'s cross-check: called by each worker
    /// when it is done (the workers sort in parallel); [`merge`] seals what is not.
    pub(crate) fn seal(&mut self) {
        if self.by_hash.len() == self.slots.len() {
            return;
        }
        self.by_hash = (self.slots.iter().enumerate())
            .map(|(i, s)| (s.hash, i))
            .collect();
        self.by_hash.sort_unstable();
    }

    /// A key both `self` and `other` (sealed, other partitions) hold. A walk of the
    /// two sorted hash lists: a key is compared only where two hashes are equal.
    fn shared_key(&self, other: &Survivors<T>) -> Option<SplitKey> {
        let (mut a, mut b) = (
            self.by_hash.iter().peekable(),
            other.by_hash.iter().peekable(),
        );
        while let (Some(&&(ha, _)), Some(&&(hb, pb))) = (a.peek(), b.peek()) {
            match ha.cmp(&hb) {
                std::cmp::Ordering::Less => {
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    let theirs = other.slots.get(pb)?;
                    let mine = find(&self.index, &self.slots, hb, &theirs.key)
                        .and_then(|i| self.slots.get(i));
                    if let Some(mine) = mine {
                        let (x, y) = (mine.last.at.partition, theirs.last.at.partition);
                        return Some(SplitKey {
                            key: theirs.key.clone(),
                            first: x.min(y),
                            second: x.max(y),
                        });
                    }
                    b.next();
                }
            }
        }
        None
    }

    /// Keys met (live or deleted).
    pub(crate) fn keys(&self) -> usize {
        self.slots.len()
    }

    /// The live entries, or the first surviving record that did not decode, with its
    /// coordinates (one worker's survivors: [`merge`] for several).
    pub(crate) fn finish(self, topic: &str) -> Result<Restored<T>, RestoreError> {
        Merged {
            parts: vec![self],
            skipped: BTreeSet::new(),
        }
        .finish(topic)
    }
}

/// Several workers' survivors, checked to share no key.
#[derive(Debug)]
pub(crate) struct Merged<T> {
    parts: Vec<Survivors<T>>,
    /// The skipped records met by every worker, in order of coordinates.
    pub(crate) skipped: BTreeSet<RecordAt>,
}

/// Joins the survivors of workers that read different partitions, refusing a key
/// met by two of them. Nothing is moved or hashed again: each pair of workers'
/// sorted hash lists is walked once (for `k` workers, `k - 1` passes over the keys),
/// and the entries leave their workers' lists only in [`Merged::finish`].
pub(crate) fn merge<T>(mut parts: Vec<Survivors<T>>) -> Result<Merged<T>, SplitKey> {
    for part in &mut parts {
        part.seal();
    }
    for (i, a) in parts.iter().enumerate() {
        for b in parts.iter().skip(i + 1) {
            if let Some(split) = a.shared_key(b) {
                return Err(split);
            }
        }
    }
    let mut skipped = BTreeSet::new();
    for part in &mut parts {
        skipped.append(&mut part.skipped);
    }
    Ok(Merged { parts, skipped })
}

impl<T> Merged<T> {
    /// Keys met (live or deleted), every worker.
    pub(crate) fn keys(&self) -> usize {
        self.parts.iter().map(Survivors::keys).sum()
    }

    /// The live entries, or the first surviving record that did not decode, with
    /// its coordinates.
    pub(crate) fn finish(self, topic: &str) -> Result<Restored<T>, RestoreError> {
        let mut stats = RestoreStats::default();
        let mut entries = Vec::with_capacity(self.keys());
        for part in self.parts {
            stats.records += part.records;
            stats.tombstones += part.tombstones;
            stats.bytes += part.bytes;
            drop((part.index, part.by_hash));
            for Slot { key, last, .. } in part.slots {
                match last.value {
                    None => {}
                    Some(Ok(v)) => entries.push((key, v)),
                    Some(Err(source)) => {
                        return Err(RestoreError::Undecodable {
                            topic: topic.to_owned(),
                            partition: last.at.partition,
                            offset: last.at.offset,
                            key: printable_key(&key),
                            source,
                        })
                    }
                }
            }
        }
        Ok(Restored { entries, stats })
    }
}

impl SplitKey {
    /// The restore's error for this key, in `topic`.
    pub(crate) fn into_error(self, topic: &str) -> RestoreError {
        RestoreError::KeyInTwoPartitions {
            topic: topic.to_owned(),
            key: printable_key(&self.key),
            first: self.first,
            second: self.second,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::{Classified as _, Recovery};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn at(partition: i32, offset: i64) -> RecordAt {
        RecordAt { partition, offset }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("not a number")]
    struct NotANumber;

    /// Decodes a decimal number, counting its calls.
    #[derive(Debug, Clone, Default)]
    struct Number(Arc<AtomicUsize>);

    impl StateDecoder for Number {
        type Value = u32;
        type Error = NotANumber;
        fn decode(&self, _key: &[u8], v: Option<&[u8]>) -> Result<u32, NotANumber> {
            self.0.fetch_add(1, Ordering::Relaxed);
            let v = v.ok_or(NotANumber)?;
            std::str::from_utf8(v)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or(NotANumber)
        }
    }

    fn live(s: Survivors<u32>) -> Vec<(String, u32)> {
        let restored = s.finish("state").expect("every survivor decodes");
        let mut v: Vec<_> = restored
            .entries
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).expect("utf-8"), v))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_last_record_of_each_key_survives_and_tombstones_delete() {
        let n = Number::default();
        let mut s = Survivors::default();
        s.offer(at(0, 0), b"a", Some(b"1"), false, &n).unwrap();
        s.offer(at(0, 1), b"b", Some(b"bad"), false, &n).unwrap();
        s.offer(at(0, 2), b"a", Some(b"2"), false, &n).unwrap();
        s.offer(at(0, 3), b"b", None, false, &n).unwrap();
        // A tombstone of a key never written is fine.
        s.offer(at(0, 4), b"never", None, false, &n).unwrap();
        assert_eq!((s.records, s.tombstones, s.keys()), (5, 2, 3));
        assert_eq!(live(s), vec![("a".into(), 2)]);
        // Tombstones are never decoded.
        assert_eq!(n.0.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_key_in_two_partitions_is_refused_tombstone_or_not() {
        let n = Number::default();
        let mut s = Survivors::default();
        s.offer(at(3, 0), b"a", None, false, &n).unwrap();
        let split = s.offer(at(1, 9), b"a", Some(b"7"), false, &n).unwrap_err();
        assert_eq!((split.first, split.second), (1, 3));

        let mut one = Survivors::default();
        one.offer(at(0, 0), b"k", Some(b"1"), false, &n).unwrap();
        let mut two = Survivors::default();
        two.offer(at(5, 0), b"k", None, false, &n).unwrap();
        two.offer(at(5, 1), b"other", Some(b"2"), false, &n)
            .unwrap();
        let split = merge(vec![one, two]).unwrap_err();
        assert_eq!(
            (split.key.as_slice(), split.first, split.second),
            (&b"k"[..], 0, 5)
        );
    }

    #[test]
    fn a_skipped_record_is_read_as_never_written() {
        let n = Number::default();
        let mut s = Survivors::default();
        s.offer(at(2, 10), b"a", Some(b"1"), false, &n).unwrap();
        s.offer(at(2, 11), b"a", Some(b"bad"), true, &n).unwrap();
        s.offer(at(2, 12), b"b", Some(b"bad"), true, &n).unwrap();
        assert_eq!(
            s.skipped
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["2@11", "2@12"]
        );
        assert_eq!(s.records, 3);
        // Skipped records are not decoded.
        assert_eq!(n.0.load(Ordering::Relaxed), 1);
        // A skipped first record still places its key in its partition.
        assert!(s.offer(at(0, 0), b"b", Some(b"3"), false, &n).is_err());
        assert_eq!(live(s), vec![("a".into(), 1)]);
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

    /// Superseded undecodable records stop nothing, on one worker or split across
    /// several (each worker's survivors absorbed into one).
    #[test]
    fn only_a_survivors_decoding_counts_on_every_worker_count() {
        for workers in [1usize, 2, 3, 8] {
            let n = Number::default();
            let mut parts: Vec<Survivors<u32>> =
                (0..workers).map(|_| Survivors::default()).collect();
            let mut offer = |p: i32, o: i64, key: &[u8], v: Option<&[u8]>| {
                let w = usize::try_from(p).expect("partition") % workers;
                parts[w].offer(at(p, o), key, v, false, &n).unwrap();
            };
            for i in 0..20i64 {
                let key = format!("k{}", i % 7);
                offer(0, i, key.as_bytes(), Some(i.to_string().as_bytes()));
            }
            // Undecodable, then superseded: never an error.
            offer(1, 0, b"x", Some(b"garbage"));
            offer(1, 1, b"x", Some(b"5"));
            offer(2, 0, b"y", Some(b"garbage"));
            offer(2, 1, b"y", None);
            let r = merge(parts)
                .expect("no key in two partitions")
                .finish("state")
                .expect("decodes");
            assert_eq!(r.entries.len(), 8, "{workers}");
            let value = |key: &[u8]| r.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
            assert_eq!(value(b"k0"), Some(14));
            assert_eq!(value(b"x"), Some(5));
            assert_eq!((r.stats.records, r.stats.tombstones), (24, 1));
        }
    }

    /// Thousands of keys, no room reserved: the index grows many times (placing each
    /// key again by the hash its entry keeps) and still finds every key.
    #[test]
    fn the_index_finds_every_key_after_growing() {
        let n = Number::default();
        let mut s = Survivors::default();
        for round in 0..3u32 {
            for i in 0..6000u32 {
                let key = format!("o/u{i}");
                let value = (i * 10 + round).to_string();
                let offset = i64::from(round * 6000 + i);
                s.offer(
                    at(0, offset),
                    key.as_bytes(),
                    Some(value.as_bytes()),
                    false,
                    &n,
                )
                .expect("one partition");
            }
        }
        assert_eq!(s.keys(), 6000);
        let split = s
            .offer(at(7, 0), b"o/u4", Some(b"1"), false, &n)
            .expect_err("o/u4 is in partition 0");
        assert_eq!((split.first, split.second), (0, 7));
        let live = live(s);
        assert_eq!(live.len(), 6000);
        assert!(live
            .iter()
            .all(|(k, v)| *k == format!("o/u{}", v / 10) && v % 10 == 2));
    }

    /// Workers of many keys each: a key two of them share is found wherever it is
    /// in their hash order (first, last, in between, between any two of them), and
    /// the merge of disjoint ones keeps every entry with its last value.
    #[test]
    fn the_merge_finds_a_shared_key_anywhere_and_keeps_every_other_entry() {
        let n = Number::default();
        let worker = |w: i32| {
            let mut s = Survivors::default();
            for i in 0..2000u32 {
                let key = format!("w{w}/k{i}");
                s.offer(at(w, i64::from(i)), key.as_bytes(), Some(b"0"), false, &n)
                    .expect("first");
                let value = i.to_string();
                s.offer(
                    at(w, i64::from(i) + 2000),
                    key.as_bytes(),
                    Some(value.as_bytes()),
                    false,
                    &n,
                )
                .expect("again");
            }
            s
        };
        let r = merge((0..4).map(worker).collect())
            .expect("disjoint")
            .finish("state")
            .expect("decodes");
        assert_eq!(r.entries.len(), 8000);
        assert_eq!((r.stats.records, r.stats.tombstones), (16000, 0));
        assert!(r
            .entries
            .iter()
            .all(|(k, v)| k.ends_with(format!("/k{v}").as_bytes())));

        for (holder, other) in [(0, 1), (1, 3), (3, 0), (2, 1)] {
            for i in [0u32, 1, 777, 1999] {
                let mut parts: Vec<Survivors<u32>> = (0..4).map(worker).collect();
                let key = format!("w{holder}/k{i}");
                let w = usize::try_from(other).expect("worker");
                parts[w]
                    .offer(at(other, 9999), key.as_bytes(), None, false, &n)
                    .expect("new to that worker");
                let split = merge(parts).expect_err("a key in two workers");
                assert_eq!(split.key, key.as_bytes(), "{key} also in {other}");
                assert_eq!(
                    (split.first, split.second),
                    (holder.min(other), holder.max(other))
                );
            }
        }
    }

    #[test]
    fn skipped_records_of_every_worker_are_kept_in_order() {
        let n = Number::default();
        let mut a = Survivors::<u32>::default();
        a.offer(at(2, 5), b"a", Some(b"1"), true, &n).expect("a");
        let mut b = Survivors::default();
        b.offer(at(1, 9), b"b", Some(b"1"), true, &n).expect("b");
        b.offer(at(1, 3), b"c", Some(b"1"), true, &n).expect("c");
        let merged = merge(vec![a, b]).expect("disjoint");
        assert_eq!(
            merged
                .skipped
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["1@3", "1@9", "2@5"]
        );
        assert_eq!(merged.keys(), 3);
    }

    #[test]
    fn a_surviving_undecodable_record_names_its_coordinates_and_the_ways_past_it() {
        let mut s = Survivors::default();
        s.offer(
            at(2, 40),
            b"o/bad",
            Some(b"garbage"),
            false,
            &Number::default(),
        )
        .unwrap();
        let err = s.finish("state").expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("state/2@40"), "{msg}");
        assert!(msg.contains("--skip-state-record 2@40"), "{msg}");
        assert!(msg.contains("tombstone"), "{msg}");
        assert_eq!(err.recovery(), Recovery::StopProcess);
    }
}
