//! One transaction written chunk by chunk: a poll's memory is bounded by a chunk and
//! by the bytes awaiting their delivery reports, not by the organization.
//!
//! The caller hands a [`RecordChunks`] source, which encodes the next few records
//! only when asked; the [`ChunkedWriter`] queues them on the producer and, once more
//! than [`MAX_IN_FLIGHT_BYTES`] await their delivery reports, waits for the oldest
//! before asking for more. Every chunk belongs to the one open transaction: the
//! commit (or the abort) still covers the whole poll, so read-committed consumers
//! see all of it or nothing.

use std::collections::VecDeque;
use std::time::Duration;

use super::stats::StatsContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::stage::Stage;
use super::OutRecord;

/// Key and value bytes queued on the producer whose delivery reports are awaited
/// before the next chunk is asked for. librdkafka copies every record, so this
/// bounds its share of the poll's memory (with `queue.buffering.max.kbytes` as the
/// producer's own bound, see [`super::config`]).
pub(crate) const MAX_IN_FLIGHT_BYTES: usize = 8 * 1024 * 1024;

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

/// Queues records on the producer, awaiting the oldest delivery reports whenever
/// more than `max_in_flight` bytes are pending.
pub(crate) struct ChunkedWriter<'p> {
    producer: &'p FutureProducer<StatsContext>,
    pending: VecDeque<(DeliveryFuture, usize)>,
    in_flight: usize,
    max_in_flight: usize,
    /// Records and key + value bytes queued so far.
    pub(crate) records: usize,
    pub(crate) bytes: usize,
}

impl<'p> ChunkedWriter<'p> {
    pub(crate) fn new(producer: &'p FutureProducer<StatsContext>, max_in_flight: usize) -> Self {
        ChunkedWriter {
            producer,
            pending: VecDeque::new(),
            in_flight: 0,
            max_in_flight,
            records: 0,
            bytes: 0,
        }
    }

    /// Queue one chunk (dropped once queued: the producer holds its own copies),
    /// then wait until at most `max_in_flight` bytes await delivery.
    pub(crate) async fn send(&mut self, chunk: Vec<OutRecord>) -> Result<(), (Stage, KafkaError)> {
        for r in &chunk {
            let size = r.key.len() + r.value.as_ref().map_or(0, Vec::len);
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&r.topic).key(r.key.as_slice());
            if let Some(v) = &r.value {
                record = record.payload(v.as_slice());
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(fut) => {
                        self.pending.push_back((fut, size));
                        self.in_flight += size;
                        self.records += 1;
                        self.bytes += size;
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The producer's queue is full: wait for the oldest delivery.
                        record = back;
                        if !self.wait_oldest().await? {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    Err((e, _)) => return Err((Stage::Send, e)),
                }
            }
        }
        drop(chunk);
        while self.in_flight > self.max_in_flight {
            self.wait_oldest().await?;
        }
        Ok(())
    }

    /// Wait for every delivery report.
    pub(crate) async fn finish(&mut self) -> Result<(), (Stage, KafkaError)> {
        while self.wait_oldest().await? {}
        Ok(())
    }

    /// Wait for the oldest pending delivery; `false` when none is pending.
    async fn wait_oldest(&mut self) -> Result<bool, (Stage, KafkaError)> {
        let Some((fut, size)) = self.pending.pop_front() else {
            return Ok(false);
        };
        self.in_flight -= size;
        check_delivery(fut.await)?;
        Ok(true)
    }
}

/// A delivery report: `Err` outside when the producer dropped the report.
fn check_delivery<Dropped>(
    result: Result<OwnedDeliveryResult, Dropped>,
) -> Result<(), (Stage, KafkaError)> {
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _msg))) => Err((Stage::Delivery, e)),
        Err(_) => Err((Stage::Delivery, KafkaError::Canceled)),
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
