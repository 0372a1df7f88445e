//! [`MemoryStore`]: the in-memory twin of the Kafka topics, a
//! [`TransactionalSink`] and a [`StateSource`] at once, for tests of the poll cycle.
//!
//! It models what the cycle relies on: a batch is all or nothing, whether it came
//! whole or chunk by chunk (chunks are asked for one at a time, as the Kafka
//! publisher does); an aborted batch stays in the log (as in Kafka) but no
//! read-committed view shows it; a restore
//! decodes every committed state record, last value per key, tombstones delete;
//! once fenced (or fatally failed) every later commit fails the same way. Failures
//! are injected with [`MemoryStore::fail_next`]. It must not model partitions or
//! timing: those belong to the Kafka tests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::chunked::OneChunk;
use super::publisher::{CommitStats, PublishError, Stage};
use super::restored::RecordAt;
use super::restored::{RestoreError, RestoreStats, Restored, StateDecoder};
use super::survivors::Survivors;
use super::telemetry::{
    StateRestored, TransactionAborted, TransactionCommitted, TransactionFailed,
};
use super::{OutRecord, RecordChunks, StateSource, TransactionalSink};
use crate::metrics::Metrics;
use crate::recovery::Classified as _;
use crate::telemetry::InternalEvent as _;

/// A failure the next [`commit_batch`](TransactionalSink::commit_batch) (or
/// [`commit_chunks`](TransactionalSink::commit_chunks)) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFailure {
    /// The commit timed out and the transaction was aborted: [`PublishError::Retriable`].
    Retriable,
    /// A delivery failed; the transaction was aborted: [`PublishError::Aborted`].
    Abort,
    /// Another instance took over: [`PublishError::Fenced`], now and for every
    /// later batch.
    Fenced,
    /// A fatal producer error: [`PublishError::Fatal`], now and for every later batch.
    Fatal,
    /// The commit was not confirmed: [`PublishError::CommitOutcomeUnknown`]. The
    /// batch IS committed (the worst case the caller must survive), and the store
    /// is dead afterwards, like a producer whose process must restart.
    CommitOutcomeUnknown,
    /// A delivery of chunk `n` (counted from 0) of a
    /// [`commit_chunks`](TransactionalSink::commit_chunks) failed: the records of
    /// the chunks before it stay in the log, aborted, the later chunks are never
    /// asked for, and the transaction aborts ([`PublishError::Aborted`]). For
    /// [`commit_batch`](TransactionalSink::commit_batch), its one chunk is chunk 0.
    AbortAtChunk(usize),
}

/// One record in the in-memory log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub topic: String,
    /// Position in its topic's log (aborted records take offsets too, as in Kafka).
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    /// Written by an aborted transaction: invisible to read-committed readers.
    pub aborted: bool,
}

#[derive(Debug, Default)]
struct Inner {
    log: Vec<StoredRecord>,
    next_offset: HashMap<String, i64>,
    failures: VecDeque<InjectedFailure>,
    dead: Option<PublishError>,
    commits: u64,
    aborts: u64,
    /// Chunks taken by `commit_chunks` (a batch of `commit_batch` counts one).
    chunks: u64,
}

/// The in-memory twin of the state and events topics.
#[derive(Debug)]
pub struct MemoryStore {
    state_topic: String,
    transactional_id: String,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new(state_topic: impl Into<String>, metrics: Arc<Metrics>) -> Self {
        MemoryStore {
            state_topic: state_topic.into(),
            transactional_id: "memory".into(),
            metrics,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Make the next commit fail with `failure` (queued: one per call).
    pub fn fail_next(&self, failure: InjectedFailure) {
        self.lock().failures.push_back(failure);
    }

    /// The committed records of `topic`, in log order (a read-committed consumer's view).
    pub fn committed(&self, topic: &str) -> Vec<StoredRecord> {
        self.lock()
            .log
            .iter()
            .filter(|r| r.topic == topic && !r.aborted)
            .cloned()
            .collect()
    }

    /// Every record of `topic`, aborted ones included (a read-uncommitted view).
    pub fn all_records(&self, topic: &str) -> Vec<StoredRecord> {
        self.lock()
            .log
            .iter()
            .filter(|r| r.topic == topic)
            .cloned()
            .collect()
    }

    /// Batches committed so far.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    /// Batches aborted so far.
    pub fn aborts(&self) -> u64 {
        self.lock().aborts
    }

    /// Chunks taken so far, over every transaction (a whole batch counts one).
    pub fn chunks(&self) -> u64 {
        self.lock().chunks
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent log (every mutation
        // is a push or a counter): keep going with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(inner: &mut Inner, records: Vec<OutRecord>, aborted: bool) -> usize {
        let mut bytes = 0;
        for r in records {
            bytes += r.key.len() + r.value.as_ref().map_or(0, Vec::len);
            let next = inner.next_offset.entry(r.topic.clone()).or_insert(0);
            let offset = *next;
            *next += 1;
            inner.log.push(StoredRecord {
                topic: r.topic,
                offset,
                key: r.key,
                value: r.value,
                aborted,
            });
        }
        bytes
    }
}

fn injected_source(code: RDKafkaErrorCode) -> KafkaError {
    KafkaError::MessageProduction(code)
}

impl MemoryStore {
    /// The transaction aborted while its chunks were being written: what was
    /// written stays in the log, aborted.
    fn abort_chunks(&self, written: Vec<OutRecord>, err: PublishError) -> PublishError {
        let count = written.len();
        let mut inner = self.lock();
        Self::append(&mut inner, written, true);
        inner.aborts += 1;
        TransactionAborted {
            records: count,
            error_code: err.error_code(),
            error: &err,
        }
        .emit(&self.metrics);
        err
    }

    /// Takes an [`InjectedFailure::AbortAtChunk`] at the head of the queue.
    fn take_abort_at_chunk(&self) -> Option<usize> {
        let mut inner = self.lock();
        match inner.failures.front() {
            Some(&InjectedFailure::AbortAtChunk(n)) if inner.dead.is_none() => {
                inner.failures.pop_front();
                Some(n)
            }
            _ => None,
        }
    }
}

#[async_trait]
impl TransactionalSink for MemoryStore {
    /// Takes the chunks one at a time, as the Kafka publisher does, then commits
    /// them as one batch.
    async fn commit_chunks(
        &self,
        chunks: &mut dyn RecordChunks,
    ) -> Result<CommitStats, PublishError> {
        if let Some(dead) = &self.lock().dead {
            return Err(dead.clone());
        }
        let abort_at = self.take_abort_at_chunk();
        let mut records = Vec::new();
        let mut n = 0;
        loop {
            let chunk = if abort_at == Some(n) {
                None
            } else {
                match chunks.next_chunk() {
                    Ok(chunk) => chunk,
                    Err(failed) => {
                        let err = PublishError::SourceFailed(failed);
                        return Err(self.abort_chunks(records, err));
                    }
                }
            };
            let Some(chunk) = chunk else {
                break;
            };
            self.lock().chunks += 1;
            records.extend(chunk);
            n += 1;
        }
        if abort_at.is_some() {
            // At chunk `n`, or at the end if there were fewer chunks.
            let err = PublishError::Aborted {
                stage: Stage::Delivery,
                source: injected_source(RDKafkaErrorCode::MessageTimedOut),
            };
            return Err(self.abort_chunks(records, err));
        }
        self.commit_records(records)
    }

    async fn commit_batch(&self, records: Vec<OutRecord>) -> Result<CommitStats, PublishError> {
        self.commit_chunks(&mut OneChunk::new(records)).await
    }
}

impl MemoryStore {
    /// One transaction of `records`, or the injected failure at the head.
    fn commit_records(&self, records: Vec<OutRecord>) -> Result<CommitStats, PublishError> {
        let started = Instant::now();
        let count = records.len();
        let mut inner = self.lock();
        if let Some(dead) = &inner.dead {
            return Err(dead.clone());
        }
        let Some(failure) = inner.failures.pop_front() else {
            let bytes = Self::append(&mut inner, records, false);
            inner.commits += 1;
            let stats = CommitStats {
                records: count,
                bytes,
                duration: started.elapsed(),
            };
            TransactionCommitted {
                records: count,
                duration: stats.duration,
            }
            .emit(&self.metrics);
            return Ok(stats);
        };
        let err = match failure {
            InjectedFailure::AbortAtChunk(_) | InjectedFailure::Abort => PublishError::Aborted {
                stage: Stage::Delivery,
                source: injected_source(RDKafkaErrorCode::MessageTimedOut),
            },
            InjectedFailure::Retriable => PublishError::Retriable {
                stage: Stage::Commit,
                source: injected_source(RDKafkaErrorCode::RequestTimedOut),
            },
            InjectedFailure::Fenced => PublishError::Fenced {
                stage: Stage::Commit,
                transactional_id: self.transactional_id.clone(),
                source: injected_source(RDKafkaErrorCode::ProducerFenced),
            },
            InjectedFailure::Fatal => PublishError::Fatal {
                stage: Stage::Commit,
                source: injected_source(RDKafkaErrorCode::Fatal),
            },
            InjectedFailure::CommitOutcomeUnknown => PublishError::CommitOutcomeUnknown {
                waited: Duration::ZERO,
                source: injected_source(RDKafkaErrorCode::RequestTimedOut),
            },
        };
        match failure {
            InjectedFailure::Retriable
            | InjectedFailure::Abort
            | InjectedFailure::AbortAtChunk(_) => {
                Self::append(&mut inner, records, true);
                inner.aborts += 1;
                TransactionAborted {
                    records: count,
                    error_code: err.error_code(),
                    error: &err,
                }
                .emit(&self.metrics);
            }
            InjectedFailure::Fenced | InjectedFailure::Fatal => {
                // The zombie's open transaction is aborted by whoever fenced it.
                Self::append(&mut inner, records, true);
                inner.aborts += 1;
                inner.dead = Some(err.clone());
                TransactionFailed {
                    records: count,
                    error_code: err.error_code(),
                    error: &err,
                }
                .emit(&self.metrics);
            }
            InjectedFailure::CommitOutcomeUnknown => {
                Self::append(&mut inner, records, false);
                inner.commits += 1;
                inner.dead = Some(err.clone());
                TransactionFailed {
                    records: count,
                    error_code: err.error_code(),
                    error: &err,
                }
                .emit(&self.metrics);
            }
        }
        Err(err)
    }
}

#[async_trait]
impl StateSource for MemoryStore {
    async fn restore<D: StateDecoder>(
        &self,
        decoder: D,
    ) -> Result<Restored<D::Value>, RestoreError> {
        let started = Instant::now();
        let records = self.committed(&self.state_topic);
        let mut stats = RestoreStats {
            partitions: 1,
            ..RestoreStats::default()
        };
        // The same rules as the Kafka restore: last record per key, tombstones never
        // decoded, a superseded record's decoding never counts (one partition here).
        let mut survivors = Survivors::default();
        for r in records {
            let at = RecordAt {
                partition: 0,
                offset: r.offset,
            };
            // One partition: a key cannot be split.
            let _ = survivors.offer(at, &r.key, r.value.as_deref(), false, &decoder);
        }
        let Restored { entries, stats: s } = survivors.finish(&self.state_topic)?;
        stats.records = s.records;
        stats.tombstones = s.tombstones;
        stats.bytes = s.bytes;
        stats.duration = started.elapsed();
        stats.reader = "memory";
        StateRestored {
            topic: &self.state_topic,
            partitions: 1,
            records: stats.records,
            live: entries.len(),
            duration: stats.duration,
            reader: stats.reader,
        }
        .emit(&self.metrics);
        Ok(Restored { entries, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::Recovery;

    fn store() -> (MemoryStore, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        (MemoryStore::new("state", Arc::clone(&metrics)), metrics)
    }

    fn batch(key: &str) -> Vec<OutRecord> {
        vec![
            OutRecord::new("events", key, "e"),
            OutRecord::new("state", key, "s"),
        ]
    }

    fn count(m: &Metrics, result: &str) -> u64 {
        m.transactions_total.with_label_values(&[result]).get()
    }

    #[tokio::test]
    async fn an_aborted_batch_is_kept_but_invisible_and_the_next_commits() {
        let (s, m) = store();
        s.fail_next(InjectedFailure::Retriable);
        let err = s.commit_batch(batch("a")).await.unwrap_err();
        assert_eq!(err.recovery(), Recovery::RedoCycle);
        s.commit_batch(batch("b")).await.expect("commits");
        assert_eq!(s.all_records("events").len(), 2);
        let committed = s.committed("events");
        assert_eq!(committed.len(), 1);
        assert_eq!(committed[0].key, b"b");
        assert_eq!(committed[0].offset, 1, "aborted records take offsets");
        assert_eq!((s.commits(), s.aborts()), (1, 1));
        assert_eq!((count(&m, "committed"), count(&m, "aborted")), (1, 1));
    }

    #[tokio::test]
    async fn fenced_is_for_good() {
        let (s, m) = store();
        s.fail_next(InjectedFailure::Fenced);
        let err = s.commit_batch(batch("a")).await.unwrap_err();
        assert!(matches!(err, PublishError::Fenced { .. }));
        assert_eq!(err.recovery(), Recovery::StopProcess);
        let again = s.commit_batch(batch("b")).await.unwrap_err();
        assert!(matches!(again, PublishError::Fenced { .. }));
        assert!(s.committed("events").is_empty());
        assert_eq!(count(&m, "fatal"), 1);
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_committed_and_stops_the_store() {
        let (s, _) = store();
        s.fail_next(InjectedFailure::CommitOutcomeUnknown);
        let err = s.commit_batch(batch("a")).await.unwrap_err();
        assert_eq!(err.recovery(), Recovery::StopProcess);
        assert_eq!(s.committed("state").len(), 1, "the commit did happen");
        assert!(s.commit_batch(batch("b")).await.is_err());
    }
}
