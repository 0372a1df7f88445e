//! One transaction written chunk by chunk: a poll's memory is bounded by a chunk and
//! by the bytes awaiting their delivery reports, not by the organization.
//!
//! The caller hands a [`RecordChunks`] source, which encodes the next few records
//! only when asked; the [`ChunkedWriter`] queues them on the producer and, once more
//! than [`MAX_IN_FLIGHT_BYTES`] await their delivery reports, waits for reports
//! before asking for more. Every chunk belongs to the one open transaction: the
//! commit (or the abort) still covers the whole poll, so read-committed consumers
//! see all of it or nothing.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::BaseRecord;

use super::delivery::{record_bytes, Deliveries, TxnProducer};
use super::stage::Stage;
use super::OutRecord;

/// Key and value bytes queued on the producer whose delivery reports are awaited
/// before the next chunk is asked for. librdkafka copies every record, so this
/// bounds its share of the poll's memory (with `queue.buffering.max.kbytes` as the
/// producer's own bound, see [`super::config`]).
pub(crate) const MAX_IN_FLIGHT_BYTES: usize = 8 * 1024 * 1024;

/// How long the writer waits for a delivery report before it asks the producer
/// again whether its queue has room.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(10);

/// The longest the writer sleeps between two looks at the counts while it waits
/// for reports: a wake-up is sent for each change it waits for, this only bounds
/// the cost of one that never comes.
const RECHECK: Duration = Duration::from_secs(1);

/// Why a source could not make its next chunk (an encoding defect): the message is
/// the source's own error, for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceFailed(pub String);

/// The records of one transaction, made a chunk at a time.
pub trait RecordChunks: Send {
    /// The next chunk; `None` once every record was handed over. An error aborts the
    /// transaction: nothing of it becomes visible.
    fn next_chunk(&mut self) -> Result<Option<Vec<OutRecord>>, SourceFailed>;
}

/// A whole batch as one chunk (what [`super::TransactionalSink::commit_batch`] sends).
#[derive(Debug)]
pub(crate) struct OneChunk(Option<Vec<OutRecord>>);

impl OneChunk {
    pub(crate) fn new(records: Vec<OutRecord>) -> Self {
        OneChunk(Some(records))
    }
}

impl RecordChunks for OneChunk {
    fn next_chunk(&mut self) -> Result<Option<Vec<OutRecord>>, SourceFailed> {
        Ok(self.0.take())
    }
}

/// Every chunk of `chunks`, gathered into one batch (for sinks that commit a batch
/// at once, like the in-memory twin).
pub(crate) fn gather(chunks: &mut dyn RecordChunks) -> Result<Vec<OutRecord>, SourceFailed> {
    let mut all = Vec::new();
    while let Some(chunk) = chunks.next_chunk()? {
        all.extend(chunk);
    }
    Ok(all)
}

/// Queues one transaction's records on the producer, waiting for delivery reports
/// whenever more than `max_in_flight` bytes await them (counted by
/// [`Deliveries`], see [`super::delivery`]).
pub(crate) struct ChunkedWriter<'p> {
    producer: &'p TxnProducer,
    deliveries: Arc<Deliveries>,
    /// Records and key + value bytes queued so far.
    pub(crate) records: usize,
    pub(crate) bytes: usize,
}

impl<'p> ChunkedWriter<'p> {
    pub(crate) fn new(producer: &'p TxnProducer, max_in_flight: usize) -> Self {
        ChunkedWriter {
            producer,
            deliveries: Arc::new(Deliveries::new(max_in_flight)),
            records: 0,
            bytes: 0,
        }
    }

    /// Queue one chunk (dropped once queued: the producer holds its own copies),
    /// then wait until at most `max_in_flight` bytes await delivery.
    pub(crate) async fn send(&mut self, chunk: Vec<OutRecord>) -> Result<(), (Stage, KafkaError)> {
        for r in &chunk {
            let size = record_bytes(Some(&r.key), r.value.as_deref());
            self.deliveries.queued(size);
            let mut record: BaseRecord<'_, [u8], [u8], Arc<Deliveries>> =
                BaseRecord::with_opaque_to(&r.topic, Arc::clone(&self.deliveries))
                    .key(r.key.as_slice());
            if let Some(v) = &r.value {
                record = record.payload(v.as_slice());
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => {
                        self.records += 1;
                        self.bytes += size;
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The producer's queue is full: wait for a report.
                        record = back;
                        if let Err(failed) = self.check() {
                            self.deliveries.refused(size);
                            return Err(failed);
                        }
                        self.deliveries.changed(QUEUE_FULL_WAIT).await;
                    }
                    Err((e, _)) => {
                        self.deliveries.refused(size);
                        return Err((Stage::Send, e));
                    }
                }
            }
        }
        drop(chunk);
        self.check()?;
        while self.deliveries.over_bound() {
            self.deliveries.changed(RECHECK).await;
            self.check()?;
        }
        Ok(())
    }

    /// Wait for every delivery report.
    pub(crate) async fn finish(&mut self) -> Result<(), (Stage, KafkaError)> {
        while self.deliveries.awaited().0 > 0 {
            self.check()?;
            self.deliveries.changed(RECHECK).await;
        }
        self.check()
    }

    /// The first failed delivery so far, as the transaction's error.
    fn check(&self) -> Result<(), (Stage, KafkaError)> {
        match self.deliveries.failure() {
            Some(e) => Err((Stage::Delivery, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source of `n` records in chunks of `size`, failing at chunk `fail_at`.
    struct Counting {
        left: usize,
        size: usize,
        chunks: usize,
        fail_at: Option<usize>,
    }

    impl RecordChunks for Counting {
        fn next_chunk(&mut self) -> Result<Option<Vec<OutRecord>>, SourceFailed> {
            if self.fail_at == Some(self.chunks) {
                return Err(SourceFailed("cannot encode".into()));
            }
            if self.left == 0 {
                return Ok(None);
            }
            let n = self.left.min(self.size);
            self.left -= n;
            self.chunks += 1;
            Ok(Some(
                (0..n)
                    .map(|i| OutRecord::new("t", vec![i as u8], vec![1]))
                    .collect(),
            ))
        }
    }

    #[test]
    fn gather_takes_every_chunk_in_order() {
        let mut src = Counting {
            left: 5,
            size: 2,
            chunks: 0,
            fail_at: None,
        };
        let all = gather(&mut src).expect("no failure");
        let keys: Vec<u8> = all.iter().map(|r| r.key[0]).collect();
        assert_eq!(keys, vec![0, 1, 0, 1, 0]);
        assert_eq!(src.chunks, 3);
    }

    #[test]
    fn gather_stops_at_a_failed_chunk() {
        let mut src = Counting {
            left: 5,
            size: 2,
            chunks: 0,
            fail_at: Some(1),
        };
        assert_eq!(gather(&mut src), Err(SourceFailed("cannot encode".into())));
    }

    #[test]
    fn one_chunk_hands_over_its_batch_once() {
        let mut src = OneChunk::new(vec![OutRecord::tombstone("t", b"k".to_vec())]);
        assert_eq!(src.next_chunk().map(|c| c.map(|c| c.len())), Ok(Some(1)));
        assert_eq!(src.next_chunk(), Ok(None));
    }
}
