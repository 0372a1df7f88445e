//! Tests of [`super`]: the restore's bookkeeping without a broker.

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
        let mut parts: Vec<Survivors<u32>> = (0..workers).map(|_| Survivors::default()).collect();
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
