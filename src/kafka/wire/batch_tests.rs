use proptest::prelude::*;

use super::super::codec::put_varlong;
use super::*;

/// A test record: (offset delta, key, value).
type TestRecord = (i32, Option<Vec<u8>>, Option<Vec<u8>>);

/// A record batch as a broker stores it, for tests: magic 2, uncompressed unless
/// told otherwise.
#[derive(Debug, Clone)]
struct TestBatch {
    base: i64,
    producer_id: i64,
    transactional: bool,
    /// `Some(abort)`: a control batch holding one marker.
    marker: Option<bool>,
    records: Vec<TestRecord>,
    last_delta: Option<i32>,
    magic: i8,
    compression: i16,
}

impl TestBatch {
    fn plain(base: i64, records: &[(&str, Option<&str>)]) -> TestBatch {
        TestBatch {
            base,
            producer_id: -1,
            transactional: false,
            marker: None,
            records: (records.iter().enumerate())
                .map(|(i, (k, v))| {
                    (
                        i as i32,
                        Some(k.as_bytes().to_vec()),
                        v.map(|v| v.as_bytes().to_vec()),
                    )
                })
                .collect(),
            last_delta: None,
            magic: 2,
            compression: 0,
        }
    }

    fn txn(base: i64, producer_id: i64, records: &[(&str, Option<&str>)]) -> TestBatch {
        TestBatch {
            producer_id,
            transactional: true,
            ..TestBatch::plain(base, records)
        }
    }

    fn marker(base: i64, producer_id: i64, abort: bool) -> TestBatch {
        let mut key = Vec::new();
        key.extend_from_slice(&0i16.to_be_bytes());
        key.extend_from_slice(&i16::from(!abort).to_be_bytes());
        let mut value = Vec::new();
        value.extend_from_slice(&0i16.to_be_bytes());
        value.extend_from_slice(&0i32.to_be_bytes());
        TestBatch {
            base,
            producer_id,
            transactional: true,
            marker: Some(abort),
            records: vec![(0, Some(key), Some(value))],
            last_delta: None,
            magic: 2,
            compression: 0,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut recs = Vec::new();
        for (delta, key, value) in &self.records {
            let mut r = vec![0u8]; // attributes
            put_varlong(&mut r, 0); // timestamp delta
            put_varlong(&mut r, i64::from(*delta));
            for field in [key, value] {
                match field {
                    None => put_varlong(&mut r, -1),
                    Some(b) => {
                        put_varlong(&mut r, b.len() as i64);
                        r.extend_from_slice(b);
                    }
                }
            }
            put_varlong(&mut r, 0); // headers
            put_varlong(&mut recs, r.len() as i64);
            recs.extend_from_slice(&r);
        }
        let last_delta = self
            .last_delta
            .unwrap_or_else(|| self.records.iter().map(|r| r.0).max().unwrap_or(0));
        let mut attributes = self.compression;
        if self.transactional {
            attributes |= TRANSACTIONAL;
        }
        if self.marker.is_some() {
            attributes |= CONTROL;
        }
        let mut after_length = Vec::new();
        after_length.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
        after_length.push(self.magic as u8);
        after_length.extend_from_slice(&0i32.to_be_bytes()); // crc, unchecked
        after_length.extend_from_slice(&attributes.to_be_bytes());
        after_length.extend_from_slice(&last_delta.to_be_bytes());
        after_length.extend_from_slice(&0i64.to_be_bytes());
        after_length.extend_from_slice(&0i64.to_be_bytes());
        after_length.extend_from_slice(&self.producer_id.to_be_bytes());
        after_length.extend_from_slice(&0i16.to_be_bytes());
        after_length.extend_from_slice(&0i32.to_be_bytes());
        after_length.extend_from_slice(&(self.records.len() as i32).to_be_bytes());
        after_length.extend_from_slice(&recs);
        let mut out = Vec::new();
        out.extend_from_slice(&self.base.to_be_bytes());
        out.extend_from_slice(&(after_length.len() as i32).to_be_bytes());
        out.extend_from_slice(&after_length);
        out
    }
}

fn log(batches: &[TestBatch]) -> Vec<u8> {
    batches.iter().flat_map(TestBatch::encode).collect()
}

/// (offset, key, value) of each record `walk` hands out, and where it ends.
type Seen = (Vec<(i64, String, Option<String>)>, Walked);

fn read(bytes: &[u8], from: i64, aborted: &[Aborted]) -> Result<Seen, Unreadable> {
    let mut seen = Vec::new();
    let walked = walk::<std::convert::Infallible>(bytes, from, aborted, |r| {
        seen.push((
            r.offset,
            String::from_utf8_lossy(r.key.unwrap_or_default()).into_owned(),
            r.value.map(|v| String::from_utf8_lossy(v).into_owned()),
        ));
        Ok(())
    })?;
    match walked {
        Ok(w) => Ok((seen, w)),
        Err(never) => match never {},
    }
}

fn offsets(seen: &Seen) -> Vec<i64> {
    seen.0.iter().map(|r| r.0).collect()
}

#[test]
fn plain_batches_give_every_record_in_order_and_the_next_offset() {
    let bytes = log(&[
        TestBatch::plain(0, &[("a", Some("1")), ("b", None)]),
        TestBatch::plain(2, &[("a", Some("2"))]),
    ]);
    let seen = read(&bytes, 0, &[]).expect("reads");
    assert_eq!(
        seen.0,
        vec![
            (0, "a".into(), Some("1".into())),
            (1, "b".into(), None),
            (2, "a".into(), Some("2".into())),
        ]
    );
    assert_eq!(
        seen.1,
        Walked {
            next: 3,
            batches: 2
        }
    );
}

#[test]
fn a_batch_cut_off_by_the_fetch_size_is_left_for_the_next_fetch() {
    let bytes = log(&[
        TestBatch::plain(0, &[("a", Some("1"))]),
        TestBatch::plain(1, &[("b", Some("2")), ("c", Some("3"))]),
    ]);
    for cut in 1..20 {
        let seen = read(&bytes[..bytes.len() - cut], 0, &[]).expect("reads");
        assert_eq!(offsets(&seen), vec![0], "cut {cut}");
        assert_eq!(seen.1.next, 1);
    }
    // Nothing whole: the next fetch starts where this one did.
    let seen = read(&bytes[..10], 5, &[]).expect("reads");
    assert_eq!(
        seen.1,
        Walked {
            next: 5,
            batches: 0
        }
    );
    assert_eq!(next_offset(&bytes[..bytes.len() - 1], 0), Ok(1));
    assert_eq!(next_offset(&bytes, 0), Ok(3));
}

#[test]
fn a_fetch_inside_a_batch_skips_the_records_before_its_offset() {
    let bytes = log(&[TestBatch::plain(
        10,
        &[("a", Some("1")), ("b", Some("2")), ("c", None)],
    )]);
    let seen = read(&bytes, 11, &[]).expect("reads");
    assert_eq!(offsets(&seen), vec![11, 12]);
    assert_eq!(seen.1.next, 13);
}

#[test]
fn a_compacted_batch_keeps_its_offset_range() {
    // Compaction removed offsets 1 and 3 of a batch of 5, and every record of the
    // next batch (kept empty for its producer's sake).
    let mut b = TestBatch::plain(0, &[("a", Some("1")), ("c", Some("3")), ("e", Some("5"))]);
    b.records[1].0 = 2;
    b.records[2].0 = 4;
    let mut empty = TestBatch::plain(5, &[]);
    empty.last_delta = Some(2);
    let seen = read(&log(&[b, empty]), 0, &[]).expect("reads");
    assert_eq!(offsets(&seen), vec![0, 2, 4]);
    assert_eq!(
        seen.1,
        Walked {
            next: 8,
            batches: 2
        }
    );
}

#[test]
fn aborted_transactions_and_markers_are_not_records() {
    let bytes = log(&[
        TestBatch::txn(0, 7, &[("x", Some("aborted")), ("y", Some("aborted"))]),
        TestBatch::txn(2, 8, &[("a", Some("committed"))]),
        TestBatch::marker(3, 7, true),
        TestBatch::plain(4, &[("b", Some("plain"))]),
        TestBatch::marker(5, 8, false),
        // Producer 7 again, after its abort: a committed transaction.
        TestBatch::txn(6, 7, &[("z", Some("committed later"))]),
        TestBatch::marker(7, 7, false),
    ]);
    let aborted = [Aborted {
        producer_id: 7,
        first_offset: 0,
    }];
    let seen = read(&bytes, 0, &aborted).expect("reads");
    assert_eq!(offsets(&seen), vec![2, 4, 6]);
    assert_eq!(seen.1.next, 8);
    // Without the broker's list the aborted batch would show: the list decides.
    assert_eq!(
        offsets(&read(&bytes, 0, &[]).expect("reads")),
        vec![0, 1, 2, 4, 6]
    );
}

#[test]
fn a_transaction_aborted_before_the_fetch_offset_still_hides_its_later_batches() {
    let bytes = log(&[
        TestBatch::txn(5, 7, &[("x", Some("aborted"))]),
        TestBatch::plain(6, &[("a", Some("1"))]),
        TestBatch::marker(7, 7, true),
    ]);
    let aborted = [Aborted {
        producer_id: 7,
        first_offset: 2,
    }];
    let seen = read(&bytes, 5, &aborted).expect("reads");
    assert_eq!(offsets(&seen), vec![6]);
    assert_eq!(seen.1.next, 8);
}

#[test]
fn compressed_and_old_formats_are_unsupported_not_misread() {
    let mut b = TestBatch::plain(0, &[("a", Some("1"))]);
    b.compression = 3; // lz4
    let err = read(&b.encode(), 0, &[]).expect_err("refused");
    assert!(
        matches!(&err, Unreadable::Unsupported(m) if m.contains("compressed")),
        "{err}"
    );
    let mut b = TestBatch::plain(0, &[("a", Some("1"))]);
    b.magic = 1;
    let err = read(&b.encode(), 0, &[]).expect_err("refused");
    assert!(
        matches!(&err, Unreadable::Unsupported(m) if m.contains("magic")),
        "{err}"
    );
}

#[test]
fn malformed_batches_are_refused_with_their_place() {
    let good = TestBatch::plain(0, &[("a", Some("1"))]).encode();
    // A negative batch length.
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    assert!(matches!(read(&bad, 0, &[]), Err(Unreadable::Malformed(_))));
    // A record count larger than the batch holds.
    let mut bad = good.clone();
    bad[57..61].copy_from_slice(&3i32.to_be_bytes());
    let err = read(&bad, 0, &[]).expect_err("refused");
    assert!(
        matches!(err, Unreadable::Malformed(Malformed { at, .. }) if at >= 61),
        "{err:?}"
    );
    // A second, malformed batch after a good one: its place is in the whole bytes.
    let mut two = good.clone();
    two.extend_from_slice(&bad);
    let err = read(&two, 0, &[]).expect_err("refused");
    assert!(
        matches!(err, Unreadable::Malformed(Malformed { at, .. }) if at >= good.len() + 61),
        "{err:?}"
    );
}

#[test]
fn the_callers_error_stops_the_walk() {
    let bytes = log(&[TestBatch::plain(0, &[("a", Some("1")), ("b", Some("2"))])]);
    let mut calls = 0;
    let out = walk(&bytes, 0, &[], |_| {
        calls += 1;
        Err("stop")
    })
    .expect("readable");
    assert_eq!(out, Err("stop"));
    assert_eq!(calls, 1);
}

/// One transaction of a random log: who wrote it, its records, and how it ended.
#[derive(Debug, Clone)]
struct Txn {
    producer: i64,
    records: usize,
    committed: bool,
    /// Plain batches written between this transaction's batches and its marker.
    between: usize,
}

fn txn() -> impl Strategy<Value = Txn> {
    (0i64..3, 1usize..4, any::<bool>(), 0usize..3).prop_map(
        |(producer, records, committed, between)| Txn {
            producer,
            records,
            committed,
            between,
        },
    )
}

proptest! {
    /// A log of random transactions, aborted or committed, with plain batches in
    /// between, read from any offset: exactly the committed and plain records at
    /// or after it come out, and the next offset is the log's end.
    #[test]
    fn only_committed_records_come_out_of_any_log(txns in proptest::collection::vec(txn(), 0..12), from in 0i64..40) {
        let mut batches = Vec::new();
        let mut aborted = Vec::new();
        let mut expected = Vec::new();
        let mut offset = 0i64;
        for t in &txns {
            let first = offset;
            for _ in 0..t.records {
                batches.push(TestBatch::txn(offset, t.producer, &[("k", Some("v"))]));
                if t.committed {
                    expected.push(offset);
                }
                offset += 1;
            }
            for _ in 0..t.between {
                batches.push(TestBatch::plain(offset, &[("p", Some("v"))]));
                expected.push(offset);
                offset += 1;
            }
            batches.push(TestBatch::marker(offset, t.producer, !t.committed));
            // The broker lists the aborted transactions whose marker is at or after
            // the fetch offset (and that start before the range's end).
            if !t.committed && offset >= from {
                aborted.push(Aborted { producer_id: t.producer, first_offset: first });
            }
            offset += 1;
        }
        // Every batch here holds one record, so any offset is a batch boundary.
        let bytes: Vec<u8> = batches
            .iter()
            .filter(|b| b.base >= from)
            .flat_map(TestBatch::encode)
            .collect();
        let seen = read(&bytes, from, &aborted).expect("reads");
        let want: Vec<i64> = expected.into_iter().filter(|&o| o >= from).collect();
        prop_assert_eq!(offsets(&seen), want);
        prop_assert_eq!(seen.1.next, offset.max(from));
        prop_assert_eq!(next_offset(&bytes, from), Ok(seen.1.next));
    }

    #[test]
    fn no_bytes_panic_the_walk(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = read(&bytes, 0, &[]);
    }

    #[test]
    fn no_corruption_of_a_real_batch_panics_the_walk(at in 0usize..80, byte in any::<u8>()) {
        let mut bytes = log(&[TestBatch::plain(0, &[("a", Some("1")), ("bb", None)])]);
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        let _ = read(&bytes, 0, &[]);
    }
}
