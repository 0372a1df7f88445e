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

/// The most keys a restore worker sizes its table for up front (at most one key an
/// offset: sized once rather than grown, since each growth moves every position;
/// bounded, for a log of mostly superseded records).
pub(crate) const MAX_RESERVED_KEYS: usize = 4 << 20;

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
                    let Some(theirs) = other.slots.get(pb) else {
                        b.next();
                        continue;
                    };
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
#[path = "survivors_tests.rs"]
mod tests;
