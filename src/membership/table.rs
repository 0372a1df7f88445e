//! [`KeyIndex`]: the hash index from a member key to the member's position in
//! [`super::OrgState`]'s member vector.
//!
//! It owns only slots (8 bytes each: a 24-bit hash tag and a 40-bit position), not
//! keys: callers pass a `key_at(position)` function, so each key is stored once, in
//! its packed member. Open addressing with linear probing, a power-of-two slot
//! count, at most half full counting tombstones.
//!
//! Why not `hashbrown`: a diff looks up every listed member in a state far larger
//! than the CPU caches, so each lookup is a chain of cache misses (slot, then
//! member). [`KeyIndex::find_many`] walks a batch of lookups stage by stage, so the
//! misses of the batch overlap instead of queuing one after the other; that needs
//! the probe's internals, which `hashbrown` does not expose (and `unsafe` prefetch
//! intrinsics are forbidden in this crate).

use std::hash::BuildHasher;

/// Bits of a slot holding `position + 1` (0 means empty).
const POS_BITS: u32 = 40;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
const EMPTY: u64 = 0;
/// A removed entry: probes continue past it, inserts may reuse it.
const TOMBSTONE: u64 = POS_MASK;

/// Lookups [`KeyIndex::find_many`] handles at once.
pub(crate) const BATCH: usize = 32;

#[derive(Clone, Default)]
pub(crate) struct KeyIndex {
    slots: Vec<u64>,
    /// Live entries.
    len: usize,
    tombstones: usize,
    hasher: foldhash::fast::RandomState,
}

fn tag(hash: u64) -> u64 {
    hash >> POS_BITS
}

fn slot(hash: u64, pos: usize) -> u64 {
    (tag(hash) << POS_BITS) | (pos as u64 + 1)
}

/// The position a live slot holds.
fn pos_of(slot: u64) -> usize {
    ((slot & POS_MASK) - 1) as usize
}

fn is_live(slot: u64) -> bool {
    slot != EMPTY && slot != TOMBSTONE
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl KeyIndex {
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The position of `key`, whose hash is `hash`.
    pub(crate) fn find<'a>(
        &self,
        hash: u64,
        key: &[u8],
        key_at: impl Fn(usize) -> &'a [u8],
    ) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s != TOMBSTONE && s >> POS_BITS == tag(hash) && key_at(pos_of(s)) == key {
                return Some(pos_of(s));
            }
            i = (i + 1) & mask;
        }
    }

    /// Look up to [`BATCH`] keys; `out[i]` gets the position of `keys[i]`.
    ///
    /// Same answers as [`KeyIndex::find`], in stages over the whole batch: first
    /// every home slot is loaded, then every tag-matching candidate's member is
    /// touched (`touch`, which should read the member's bytes), and only then are
    /// keys compared. Each stage's loads are independent of each other, so their
    /// cache misses overlap.
    pub(crate) fn find_many<'a>(
        &self,
        keys: &[&[u8]],
        out: &mut [Option<usize>],
        key_at: impl Fn(usize) -> &'a [u8],
        touch: impl Fn(usize) -> u8,
    ) {
        let n = keys.len().min(out.len()).min(BATCH);
        if self.slots.is_empty() {
            out[..n].fill(None);
            return;
        }
        let mask = self.mask();
        // Each stage is a short loop of loads independent of each other, so the
        // CPU keeps many of them in flight.
        let mut hashes = [0u64; BATCH];
        for i in 0..n {
            hashes[i] = self.hash(keys[i]);
        }
        let mut first = [EMPTY; BATCH];
        for i in 0..n {
            first[i] = self.slots[hashes[i] as usize & mask];
        }
        // The first live slot whose tag matches: nearly always the answer.
        let mut candidate = [usize::MAX; BATCH];
        for i in 0..n {
            let (h, mut s, mut j) = (hashes[i], first[i], hashes[i] as usize & mask);
            while s != EMPTY {
                if s != TOMBSTONE && s >> POS_BITS == tag(h) {
                    candidate[i] = pos_of(s);
                    break;
                }
                j = (j + 1) & mask;
                s = self.slots[j];
            }
        }
        let mut sink = 0u8;
        for &c in &candidate[..n] {
            if c != usize::MAX {
                sink = sink.wrapping_add(touch(c));
            }
        }
        std::hint::black_box(sink);
        for i in 0..n {
            out[i] = match candidate[i] {
                usize::MAX => None,
                c if key_at(c) == keys[i] => Some(c),
                // A tag collision (1 in 16M): the full probe decides.
                _ => self.find(hashes[i], keys[i], &key_at),
            };
        }
    }

    /// Add a key that is not in the index (the caller checked) at `pos`.
    /// `key_at(p)` gives the key at position `p`, for regrowth.
    pub(crate) fn insert_new<'a>(
        &mut self,
        hash: u64,
        pos: usize,
        key_at: impl Fn(usize) -> &'a [u8],
    ) {
        if (self.len + self.tombstones + 1) * 2 > self.slots.len() {
            // At most half full after the insert; and if tombstones caused the
            // rebuild, room for an eighth more before the next one.
            let need = self.len + 1;
            let mut size = self.slots.len().max(8);
            while need * 2 > size {
                size *= 2;
            }
            if need * 8 > size * 3 {
                size *= 2;
            }
            self.rebuild(size, key_at);
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while is_live(self.slots[i]) {
            i = (i + 1) & mask;
        }
        if self.slots[i] == TOMBSTONE {
            self.tombstones -= 1;
        }
        self.slots[i] = slot(hash, pos);
        self.len += 1;
    }

    /// Room for `additional` more keys with no rebuild on the way: the restore
    /// knows an organization's size before it inserts, and each rebuild re-reads
    /// every member's key (a cache miss a member).
    pub(crate) fn reserve<'a>(&mut self, additional: usize, key_at: impl Fn(usize) -> &'a [u8]) {
        let need = self.len + additional;
        if (need + self.tombstones) * 2 <= self.slots.len() {
            return;
        }
        let mut size = self.slots.len().max(8);
        while need * 2 > size {
            size *= 2;
        }
        self.rebuild(size, key_at);
    }

    /// The entry at `pos`, whose key hashes to `hash`, moved to `new_pos`.
    pub(crate) fn moved(&mut self, hash: u64, pos: usize, new_pos: usize) {
        if let Some(i) = self.slot_of(hash, pos) {
            self.slots[i] = slot(hash, new_pos);
        }
    }

    /// Forget the entry at `pos`, whose key hashes to `hash`.
    pub(crate) fn remove(&mut self, hash: u64, pos: usize) {
        if let Some(i) = self.slot_of(hash, pos) {
            self.slots[i] = TOMBSTONE;
            self.len -= 1;
            self.tombstones += 1;
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u64>()
    }

    fn slot_of(&self, hash: u64, pos: usize) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if is_live(s) && pos_of(s) == pos {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Re-insert every live position into `size` fresh slots.
    fn rebuild<'a>(&mut self, size: usize, key_at: impl Fn(usize) -> &'a [u8]) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        self.tombstones = 0;
        let mask = self.mask();
        for s in old.into_iter().filter(|&s| is_live(s)) {
            let pos = pos_of(s);
            let h = self.hash(key_at(pos));
            let mut i = h as usize & mask;
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot(h, pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys by position, with the index over them, as `OrgState` uses it.
    #[derive(Default)]
    struct Set {
        keys: Vec<Vec<u8>>,
        index: KeyIndex,
    }

    impl Set {
        fn find(&self, key: &[u8]) -> Option<usize> {
            self.index
                .find(self.index.hash(key), key, |p| &self.keys[p])
        }

        fn insert(&mut self, key: &[u8]) {
            if self.find(key).is_some() {
                return;
            }
            let h = self.index.hash(key);
            self.keys.push(key.to_vec());
            let keys = &self.keys;
            self.index.insert_new(h, keys.len() - 1, |p| &keys[p][..]);
        }

        fn remove(&mut self, key: &[u8]) {
            let Some(pos) = self.find(key) else { return };
            self.index.remove(self.index.hash(key), pos);
            let last = self.keys.len() - 1;
            self.keys.swap_remove(pos);
            if pos != last {
                let h = self.index.hash(&self.keys[pos]);
                self.index.moved(h, last, pos);
            }
        }
    }

    #[test]
    fn random_operations_match_a_std_set() {
        let mut set = Set::default();
        let mut model = std::collections::HashSet::new();
        // A fixed LCG: the test is deterministic.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..60_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = format!("k{}", (x >> 33) % 3000).into_bytes();
            if (x >> 20) % 3 == 0 {
                set.remove(&key);
                model.remove(&key);
            } else {
                set.insert(&key);
                model.insert(key.clone());
            }
            if step % 997 == 0 {
                for k in 0..3000 {
                    let k = format!("k{k}").into_bytes();
                    let found = set.find(&k);
                    assert_eq!(found.is_some(), model.contains(&k), "step {step}");
                    if let Some(p) = found {
                        assert_eq!(set.keys[p], k);
                    }
                }
            }
            assert_eq!(set.index.len, model.len());
            assert!((set.index.len + set.index.tombstones) * 2 <= set.index.slots.len());
        }
    }

    #[test]
    fn find_many_agrees_with_find() {
        let mut set = Set::default();
        for i in 0..500 {
            set.insert(format!("member-{i}").as_bytes());
        }
        for i in (0..500).step_by(7) {
            set.remove(format!("member-{i}").as_bytes());
        }
        let queries: Vec<Vec<u8>> = (0..600)
            .map(|i| format!("member-{i}").into_bytes())
            .collect();
        for chunk in queries.chunks(BATCH) {
            let keys: Vec<&[u8]> = chunk.iter().map(|k| &k[..]).collect();
            let mut out = [None; BATCH];
            set.index
                .find_many(&keys, &mut out, |p| &set.keys[p], |p| set.keys[p][0]);
            for (k, got) in keys.iter().zip(out) {
                assert_eq!(got, set.find(k));
            }
        }
        // An empty index answers too.
        let empty = Set::default();
        let mut out = [Some(3); BATCH];
        empty.index.find_many(&[b"a"], &mut out, |_| b"", |_| 0);
        assert_eq!(out[0], None);
    }

    #[test]
    fn tag_collisions_fall_back_to_the_full_probe() {
        // Same tag, different keys: force it by inserting slots by hand.
        let keys: Vec<&[u8]> = vec![b"first", b"second"];
        let mut index = KeyIndex {
            slots: vec![EMPTY; 8],
            ..KeyIndex::default()
        };
        let h = 0xABCD_EF00_0000_0003u64; // both keys "hash" to this
        index.slots[3] = slot(h, 0);
        index.slots[4] = slot(h, 1);
        index.len = 2;
        assert_eq!(index.find(h, b"second", |p| keys[p]), Some(1));
        assert_eq!(index.find(h, b"third", |p| keys[p]), None);
    }
}
