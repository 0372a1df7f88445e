//! Record batches (the log's format since Kafka 0.11, magic 2) as a read-committed
//! consumer sees them: the committed records of one partition's fetched bytes, in
//! offset order, each borrowed from the response (no copy).
//!
//! Read committed, as Kafka's own consumer does it (`CompletedFetch` in the Java
//! client): the fetch response lists the transactions aborted in the range it
//! covers, each by producer id and first offset. Walking the batches in order, a
//! producer's aborted transaction starts at its first offset; from there each
//! transactional batch of that producer is dropped until its ABORT marker. Control
//! batches (the COMMIT and ABORT markers) are never records. Offsets still advance
//! past everything dropped: the next fetch starts after the last whole batch.
//!
//! Only what the connector's state topic can hold is read: uncompressed batches of
//! magic 2. A compressed batch (a producer or topic `compression.type`) or an older
//! format is [`Unreadable::Unsupported`], and the caller reads through librdkafka
//! instead. CRCs are not checked (librdkafka's default, `check.crcs=false`).

use std::collections::HashSet;

use super::codec::{Malformed, Reader};

/// Bytes of a batch's header before its records (up to and including the count).
const HEADER: usize = 61;
/// Bytes that say how long a batch is: its base offset and its length.
const LOG_OVERHEAD: usize = 12;

const COMPRESSION_MASK: i16 = 0x07;
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;
/// A control record's type: the marker of an aborted transaction.
const ABORT_MARKER: i16 = 0;

/// One committed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) offset: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
}

/// A transaction that the fetched range holds and that was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Aborted {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
}

/// Why the fetched bytes could not be read here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unreadable {
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// What one partition's fetched bytes held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walked {
    /// The offset after the last whole batch: where the next fetch starts (the
    /// fetch's own offset if no batch was whole).
    pub(crate) next: i64,
    pub(crate) batches: usize,
}

/// Walks the whole batches of `records` (the bytes a fetch returned for one
/// partition from `fetch_offset`), calling `on_record` for each committed record
/// at or after `fetch_offset` in offset order. A batch cut off at the end of the
/// bytes (a fetch ends where its size limit does) is left for the next fetch.
pub(crate) fn walk<'a, E>(
    records: &'a [u8],
    fetch_offset: i64,
    aborted: &[Aborted],
    mut on_record: impl FnMut(Record<'a>) -> Result<(), E>,
) -> Result<Result<Walked, E>, Unreadable> {
    let mut pending: Vec<Aborted> = aborted.to_vec();
    // Latest first offset first, so that the next to start is popped from the end.
    pending.sort_unstable_by_key(|a| std::cmp::Reverse(a.first_offset));
    let mut open: HashSet<i64> = HashSet::new();
    let mut next = fetch_offset;
    let mut batches = 0;
    let mut rest = Reader::new(records);
    while let Some((start, base_offset, batch)) = whole_batch(&mut rest)? {
        let parsed = Batch::parse(batch, base_offset).map_err(|e| shift(e, start))?;
        batches += 1;
        next = next.max(parsed.last_offset + 1);
        if let Some(pid) = parsed.producer_id {
            while pending
                .last()
                .is_some_and(|a| a.first_offset <= parsed.last_offset)
            {
                if let Some(a) = pending.pop() {
                    open.insert(a.producer_id);
                }
            }
            if parsed.control {
                if parsed.abort_marker().map_err(|e| shift(e, start))? {
                    open.remove(&pid);
                }
                continue;
            }
            if parsed.transactional && open.contains(&pid) {
                continue;
            }
        }
        if parsed.control {
            continue;
        }
        if let Err(e) =
            (parsed.records(fetch_offset, &mut on_record)).map_err(|e| shift(e, start))?
        {
            return Ok(Err(e));
        }
    }
    Ok(Ok(Walked { next, batches }))
}

/// Where the next fetch of a partition starts after `records` (fetched from
/// `fetch_offset`): after the last whole batch, read from the batch headers alone
/// (what [`walk`] returns as [`Walked::next`], without reading a record).
pub(crate) fn next_offset(records: &[u8], fetch_offset: i64) -> Result<i64, Unreadable> {
    let mut next = fetch_offset;
    let mut rest = Reader::new(records);
    while let Some((_, base_offset, batch)) = whole_batch(&mut rest)? {
        // base offset, length, partition leader epoch, magic, crc, attributes:
        // 8 + 4 + 4 + 1 + 4 + 2 bytes, then the last offset delta.
        let mut head = Reader::new(batch);
        head.bytes(23, "batch header")?;
        let last_offset_delta = head.i32("last offset delta")?;
        next = next.max(base_offset.saturating_add(i64::from(last_offset_delta.max(0))) + 1);
    }
    Ok(next)
}

/// A whole batch: its start in the fetched bytes, its base offset, and its bytes
/// (length prefix included).
type WholeBatch<'a> = (usize, i64, &'a [u8]);

/// The next whole batch of `rest`, moving past it; `None` at the end or at a batch
/// cut off by the fetch's size limit (the next fetch starts at it).
fn whole_batch<'a>(rest: &mut Reader<'a>) -> Result<Option<WholeBatch<'a>>, Unreadable> {
    if rest.remaining() < LOG_OVERHEAD {
        return Ok(None);
    }
    let start = rest.position();
    let mut head = rest.clone();
    let base_offset = head.i64("batch base offset")?;
    let length = head.i32("batch length")?;
    let length = usize::try_from(length).map_err(|_| Malformed {
        what: "batch length",
        at: start + 8,
    })?;
    if head.remaining() < length {
        return Ok(None);
    }
    let batch = rest.bytes(LOG_OVERHEAD + length, "record batch")?;
    Ok(Some((start, base_offset, batch)))
}

/// A malformed field's place in the whole fetched bytes rather than in its batch.
fn shift(e: Unreadable, by: usize) -> Unreadable {
    match e {
        Unreadable::Malformed(m) => Unreadable::Malformed(Malformed {
            what: m.what,
            at: m.at + by,
        }),
        other => other,
    }
}

/// One whole batch, its header read.
struct Batch<'a> {
    base_offset: i64,
    last_offset: i64,
    producer_id: Option<i64>,
    transactional: bool,
    control: bool,
    count: usize,
    body: Reader<'a>,
}

impl<'a> Batch<'a> {
    fn parse(batch: &'a [u8], base_offset: i64) -> Result<Batch<'a>, Unreadable> {
        let mut r = Reader::new(batch);
        r.bytes(LOG_OVERHEAD, "batch length")?;
        let _leader_epoch = r.i32("partition leader epoch")?;
        let magic = r.i8("magic")?;
        if magic != 2 {
            return Err(Unreadable::Unsupported(format!(
                "a record batch of format (magic) {magic} at offset {base_offset}; only magic 2 is read here"
            )));
        }
        let _crc = r.i32("crc")?;
        let attributes = r.i16("batch attributes")?;
        let compression = attributes & COMPRESSION_MASK;
        if compression != 0 {
            return Err(Unreadable::Unsupported(format!(
                "a compressed record batch (codec {compression}) at offset {base_offset}"
            )));
        }
        let last_offset_delta = r.i32("last offset delta")?;
        let _base_timestamp = r.i64("base timestamp")?;
        let _max_timestamp = r.i64("max timestamp")?;
        let producer_id = r.i64("producer id")?;
        let _producer_epoch = r.i16("producer epoch")?;
        let _base_sequence = r.i32("base sequence")?;
        let count = r.i32("record count")?;
        debug_assert_eq!(r.position(), HEADER);
        let count = usize::try_from(count).map_err(|_| Malformed {
            what: "record count",
            at: HEADER - 4,
        })?;
        Ok(Batch {
            base_offset,
            last_offset: base_offset.saturating_add(i64::from(last_offset_delta.max(0))),
            producer_id: (producer_id >= 0).then_some(producer_id),
            transactional: attributes & TRANSACTIONAL != 0,
            control: attributes & CONTROL != 0,
            count,
            body: r,
        })
    }

    /// Whether this control batch is an ABORT marker (its record's key: version,
    /// type).
    fn abort_marker(&self) -> Result<bool, Unreadable> {
        let mut body = self.body.clone();
        if self.count == 0 {
            return Ok(false);
        }
        let _length = body.varint("record length")?;
        let _attributes = body.i8("record attributes")?;
        let _ts = body.varlong("timestamp delta")?;
        let _od = body.varint("offset delta")?;
        let Some(key) = body.varint_bytes("control record key")? else {
            return Ok(false);
        };
        let mut key = Reader::new(key);
        let _version = key.i16("control record version")?;
        Ok(key.i16("control record type")? == ABORT_MARKER)
    }

    fn records<E>(
        mut self,
        from: i64,
        on_record: &mut impl FnMut(Record<'a>) -> Result<(), E>,
    ) -> Result<Result<(), E>, Unreadable> {
        let r = &mut self.body;
        for _ in 0..self.count {
            let length = r.varint("record length")?;
            let length = usize::try_from(length).map_err(|_| Malformed {
                what: "record length",
                at: r.position(),
            })?;
            let mut rec = Reader::new(r.bytes(length, "record")?);
            let _attributes = rec.i8("record attributes")?;
            let _ts = rec.varlong("timestamp delta")?;
            let delta = rec.varint("offset delta")?;
            let key = rec.varint_bytes("record key")?;
            let value = rec.varint_bytes("record value")?;
            // Headers follow; the state topic's records carry none that matter.
            let offset = self.base_offset + i64::from(delta);
            if offset < from {
                continue; // a fetch may start inside a batch
            }
            if let Err(e) = on_record(Record { offset, key, value }) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
