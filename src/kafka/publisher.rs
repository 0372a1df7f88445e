//! The transactional publisher: one batch of records (a poll's events, state
//! records, tombstones and checkpoint) is one Kafka transaction, committed or
//! aborted as a whole.
//!
//! Errors are classified as librdkafka classifies them: retriable (try again),
//! requires abort (abort, then redo the cycle from the last committed state), fatal
//! (the producer is dead; fenced is the fatal case where another instance with the
//! same transactional id took over). The caller reads its [`Classified::recovery`].
//! This module must not retry a whole cycle itself nor touch any in-memory state:
//! the caller's state moves only after `Ok`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;

use super::delivery::{PublisherContext, TxnProducer};
use super::stats::StatsContext;
use rdkafka::util::Timeout;
use tokio::sync::Mutex;

use super::chunked::{ChunkedWriter, OneChunk, RecordChunks, SourceFailed, MAX_IN_FLIGHT_BYTES};
use super::config::KafkaConfig;
pub use super::stage::Stage;
use super::telemetry::{
    TransactionAborted, TransactionCommitted, TransactionEndResumed, TransactionFailed,
    TransactionsInitialized,
};
use super::{OutRecord, TransactionalSink};
use crate::metrics::Metrics;
use crate::recovery::{Classified, Recovery};
use crate::telemetry::InternalEvent as _;

/// Why a batch was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// Recovery: stop; the properties cannot make a producer.
    #[error("cannot create the transactional producer (check the kafka properties): {0}")]
    Client(#[source] KafkaError),
    /// Recovery: stop; a bug (commit before `init`).
    #[error("transactions are not initialized: call init() before commit_batch()")]
    NotInitialized,
    /// Recovery: back off and retry (the batch, or start-up for `init`). Nothing of
    /// the batch is visible; the producer is usable (an unfinished abort is finished
    /// before the next batch).
    #[error("transaction not committed ({stage}): {source}; retry after a backoff")]
    Retriable {
        stage: Stage,
        #[source]
        source: KafkaError,
    },
    /// Recovery: redo the cycle. The transaction required an abort and was aborted:
    /// nothing of the batch is visible to read-committed consumers.
    #[error("transaction aborted ({stage}): {source}; nothing of the batch is visible, redo the cycle from the last committed state")]
    Aborted {
        stage: Stage,
        #[source]
        source: KafkaError,
    },
    /// Recovery: stop. Another instance initialized the same transactional id.
    #[error("producer fenced ({stage}): another instance with the same connector name (transactional id `{transactional_id}`) took over; this instance stops. Give each instance its own connector name if both should run")]
    Fenced {
        stage: Stage,
        transactional_id: String,
        #[source]
        source: KafkaError,
    },
    /// Recovery: redo the cycle. The caller's records could not be made (an
    /// encoding defect); the transaction was aborted, nothing of it is visible.
    #[error("transaction aborted: the records could not be made: {0}")]
    SourceFailed(#[source] SourceFailed),
    /// Recovery: stop; the broker's ACLs refuse the transactional id (every id of
    /// the pool needs them, see [`super::pool`]).
    #[error("the Kafka principal may not use the transactional id `{transactional_id}` ({stage}): {source}; grant Describe and Write on the TransactionalId prefix of the connector's ids (docs/operations.md, \"Kafka ACLs\")")]
    Unauthorized {
        stage: Stage,
        transactional_id: String,
        #[source]
        source: KafkaError,
    },
    /// Recovery: stop; a restart starts a new producer from the committed state.
    #[error("fatal producer error ({stage}): {source}; the producer cannot continue")]
    Fatal {
        stage: Stage,
        #[source]
        source: KafkaError,
    },
    /// Recovery: stop. The commit was sent but not confirmed in time: it may have
    /// happened. Redoing the cycle could double it; a restart learns the outcome
    /// (`init_transactions` completes it, the restore reads it).
    #[error("commit_transaction did not complete within {waited:?} ({source}); its outcome is unknown, stopping so that a restart resolves it")]
    CommitOutcomeUnknown {
        waited: Duration,
        #[source]
        source: KafkaError,
    },
}

impl Classified for PublishError {
    /// Nothing of the batch is visible ([`Recovery::RedoCycle`]), or the producer
    /// cannot go on ([`Recovery::StopProcess`]: a restart resolves any open
    /// transaction with `init_transactions` and restores the committed state).
    fn recovery(&self) -> Recovery {
        match self {
            PublishError::Retriable { .. }
            | PublishError::Aborted { .. }
            | PublishError::SourceFailed(_) => Recovery::RedoCycle,
            PublishError::Client(_)
            | PublishError::NotInitialized
            | PublishError::Fenced { .. }
            | PublishError::Unauthorized { .. }
            | PublishError::Fatal { .. }
            | PublishError::CommitOutcomeUnknown { .. } => Recovery::StopProcess,
        }
    }

    /// A fixed label for metrics and logs.
    fn error_code(&self) -> &'static str {
        match self {
            PublishError::Client(_) => "client",
            PublishError::NotInitialized => "not_initialized",
            PublishError::Retriable { .. } => "retriable",
            PublishError::Aborted { .. } => "aborted",
            PublishError::SourceFailed(_) => "source_failed",
            PublishError::Fenced { .. } => "fenced",
            PublishError::Unauthorized { .. } => "unauthorized",
            PublishError::Fatal { .. } => "fatal",
            PublishError::CommitOutcomeUnknown { .. } => "commit_outcome_unknown",
        }
    }
}

/// What a committed batch cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    pub records: usize,
    /// Key and value bytes.
    pub bytes: usize,
    /// From `begin_transaction` to the end of the commit.
    pub duration: Duration,
}

/// The transactional producer. Batches are serialized: one at a time.
pub struct TransactionalPublisher {
    producer: TxnProducer,
    transactional_id: String,
    transaction_timeout: Duration,
    /// Bound of `init_transactions`: it may wait for the coordinator to finish an
    /// older instance's transaction.
    init_timeout: Duration,
    metrics: Arc<Metrics>,
    state: Mutex<TxnState>,
}

impl std::fmt::Debug for TransactionalPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionalPublisher")
            .field("transactional_id", &self.transactional_id)
            .field("transaction_timeout", &self.transaction_timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct TxnState {
    initialized: bool,
    /// An abort was asked for and did not finish: finish it before the next begin.
    needs_abort: bool,
    /// Once fatal, always fatal: the same error for every later call.
    dead: Option<PublishError>,
}

/// How librdkafka classified an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fenced,
    Fatal,
    RequiresAbort,
    Retriable,
    Other,
}

const FENCED_CODES: [RDKafkaErrorCode; 4] = [
    RDKafkaErrorCode::Fenced,
    RDKafkaErrorCode::ProducerFenced,
    RDKafkaErrorCode::InvalidProducerEpoch,
    RDKafkaErrorCode::TransactionCoordinatorFenced,
];

impl TransactionalPublisher {
    /// Build the producer (no network I/O yet). Call [`init`](Self::init) next.
    pub fn new(config: &KafkaConfig, metrics: Arc<Metrics>) -> Result<Self, PublishError> {
        let stats = StatsContext::new(metrics.clone(), &config.transactional_id);
        let producer: TxnProducer = config
            .producer_config()
            .create_with_context(PublisherContext::new(stats))
            .map_err(PublishError::Client)?;
        Ok(TransactionalPublisher {
            producer,
            transactional_id: config.transactional_id.clone(),
            transaction_timeout: config.transaction_timeout,
            init_timeout: config.transaction_timeout.max(config.request_timeout),
            metrics,
            state: Mutex::new(TxnState::default()),
        })
    }

    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// `init_transactions`: registers the transactional id with its coordinator,
    /// fences any older producer with the same id and aborts (or completes) its
    /// open transaction. Run it before the restore, so that the restore reads a
    /// settled state topic.
    pub async fn init(&self) -> Result<(), PublishError> {
        let mut state = self.state.lock().await;
        if let Some(dead) = &state.dead {
            return Err(dead.clone());
        }
        let started = Instant::now();
        let producer = self.producer.clone();
        let timeout = Timeout::After(self.init_timeout);
        let result = blocking(move || {
            // librdkafka looks the transaction coordinator up at once and, while
            // no broker connection is up (a fresh producer), asks again only on its
            // 500 ms coordinator timer: half a second of every start measured here.
            // A metadata request first brings a connection up. All topics: a
            // request naming a topic would create it on a broker that auto-creates
            // topics. Its error, if any, is init_transactions' to report.
            let _ = producer.client().fetch_metadata(None, timeout);
            producer.init_transactions(timeout)
        })
        .await;
        match result {
            Ok(()) => {
                state.initialized = true;
                TransactionsInitialized {
                    transactional_id: &self.transactional_id,
                    duration: started.elapsed(),
                }
                .emit(&self.metrics);
                Ok(())
            }
            Err(e) => match self.kind(&e) {
                Kind::Fenced | Kind::Fatal => Err(self.die(&mut state, Stage::Init, e, 0)),
                _ => Err(PublishError::Retriable {
                    stage: Stage::Init,
                    source: e,
                }),
            },
        }
    }

    /// One transaction of every chunk of `chunks`: each chunk is encoded only when
    /// the previous ones are queued and the delivery reports awaited are few (see
    /// [`ChunkedWriter`]), so a poll's memory is bounded by a chunk.
    async fn commit(&self, chunks: &mut dyn RecordChunks) -> Result<CommitStats, PublishError> {
        let mut state = self.state.lock().await;
        if let Some(dead) = &state.dead {
            return Err(dead.clone());
        }
        if !state.initialized {
            return Err(PublishError::NotInitialized);
        }
        if state.needs_abort {
            self.abort(&mut state, Stage::PendingAbort, 0).await?;
        }
        let started = Instant::now();
        if let Err(e) = self.producer.begin_transaction() {
            return Err(self.fail(&mut state, Stage::Begin, e, 0).await);
        }
        let mut writer = ChunkedWriter::new(&self.producer, MAX_IN_FLIGHT_BYTES);
        let sent = loop {
            match chunks.next_chunk() {
                Ok(Some(chunk)) => {
                    if let Err(e) = writer.send(chunk).await {
                        break Err(e);
                    }
                }
                Ok(None) => break writer.finish().await,
                Err(failed) => {
                    let records = writer.records;
                    return Err(self.source_failed(&mut state, failed, records).await);
                }
            }
        };
        let (count, bytes) = (writer.records, writer.bytes);
        drop(writer);
        if let Err((stage, e)) = sent {
            return Err(self.fail(&mut state, stage, e, count).await);
        }

        // Commit, resuming on retriable errors (librdkafka continues the commit in
        // the background) until the deadline.
        let deadline = started + self.transaction_timeout * 2;
        // A bounded wait per attempt: librdkafka's "-1" waits forever for an
        // unreachable coordinator.
        let attempt = Timeout::After(self.transaction_timeout);
        loop {
            let producer = self.producer.clone();
            match blocking(move || producer.commit_transaction(attempt)).await {
                Ok(()) => break,
                Err(e) => match self.kind(&e) {
                    Kind::Retriable if Instant::now() < deadline => {
                        TransactionEndResumed {
                            what: "commit",
                            error: &e,
                        }
                        .emit(&self.metrics);
                    }
                    Kind::Retriable | Kind::Other => {
                        let err = PublishError::CommitOutcomeUnknown {
                            waited: started.elapsed(),
                            source: e,
                        };
                        return Err(self.die_with(&mut state, err, count));
                    }
                    Kind::RequiresAbort | Kind::Fenced | Kind::Fatal => {
                        return Err(self.fail(&mut state, Stage::Commit, e, count).await);
                    }
                },
            }
        }
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
        Ok(stats)
    }

    /// The source could not make a chunk: abort what was queued.
    async fn source_failed(
        &self,
        state: &mut TxnState,
        failed: SourceFailed,
        records: usize,
    ) -> PublishError {
        if let Err(abort_err) = self.abort(state, Stage::Send, records).await {
            return abort_err;
        }
        let err = PublishError::SourceFailed(failed);
        TransactionAborted {
            records,
            error_code: err.error_code(),
            error: &err,
        }
        .emit(&self.metrics);
        err
    }

    /// The batch failed at `stage`: abort when possible, and say what the caller does.
    async fn fail(
        &self,
        state: &mut TxnState,
        stage: Stage,
        e: KafkaError,
        records: usize,
    ) -> PublishError {
        match self.kind(&e) {
            Kind::Fenced | Kind::Fatal => self.die(state, stage, e, records),
            kind => {
                if let Err(abort_err) = self.abort(state, stage, records).await {
                    return abort_err;
                }
                let err = if kind == Kind::Retriable {
                    PublishError::Retriable { stage, source: e }
                } else {
                    PublishError::Aborted { stage, source: e }
                };
                TransactionAborted {
                    records,
                    error_code: err.error_code(),
                    error: &err,
                }
                .emit(&self.metrics);
                err
            }
        }
    }

    /// `abort_transaction`, resumed on retriable errors until the deadline; when it
    /// cannot finish, it is left for the next batch to finish.
    async fn abort(
        &self,
        state: &mut TxnState,
        stage: Stage,
        records: usize,
    ) -> Result<(), PublishError> {
        state.needs_abort = true;
        let deadline = Instant::now() + self.transaction_timeout;
        let attempt = Timeout::After(self.transaction_timeout);
        loop {
            let producer = self.producer.clone();
            match blocking(move || producer.abort_transaction(attempt)).await {
                Ok(()) => {
                    state.needs_abort = false;
                    return Ok(());
                }
                Err(e) => match self.kind(&e) {
                    Kind::Fenced | Kind::Fatal => {
                        return Err(self.die(state, Stage::Abort, e, records))
                    }
                    Kind::Retriable if Instant::now() < deadline => {
                        TransactionEndResumed {
                            what: "abort",
                            error: &e,
                        }
                        .emit(&self.metrics);
                    }
                    _ => {
                        let err = PublishError::Retriable {
                            stage: if stage == Stage::PendingAbort {
                                stage
                            } else {
                                Stage::Abort
                            },
                            source: e,
                        };
                        TransactionAborted {
                            records,
                            error_code: err.error_code(),
                            error: &err,
                        }
                        .emit(&self.metrics);
                        return Err(err);
                    }
                },
            }
        }
    }

    fn die(
        &self,
        state: &mut TxnState,
        stage: Stage,
        e: KafkaError,
        records: usize,
    ) -> PublishError {
        let unauthorized = e.rdkafka_error_code()
            == Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed)
            || (self.producer.client().fatal_error())
                .is_some_and(|(c, _)| c == RDKafkaErrorCode::TransactionalIdAuthorizationFailed);
        let err = if self.kind(&e) == Kind::Fenced {
            PublishError::Fenced {
                stage,
                transactional_id: self.transactional_id.clone(),
                source: e,
            }
        } else if unauthorized {
            PublishError::Unauthorized {
                stage,
                transactional_id: self.transactional_id.clone(),
                source: e,
            }
        } else {
            PublishError::Fatal { stage, source: e }
        };
        self.die_with(state, err, records)
    }

    fn die_with(&self, state: &mut TxnState, err: PublishError, records: usize) -> PublishError {
        TransactionFailed {
            records,
            error_code: err.error_code(),
            error: &err,
        }
        .emit(&self.metrics);
        state.dead = Some(err.clone());
        err
    }

    /// Classify by the transactional error's flags, then by the producer's fatal
    /// error (a fenced producer raises one), then by the code.
    fn kind(&self, e: &KafkaError) -> Kind {
        let fatal = self.producer.client().fatal_error();
        if let Some((code, _)) = &fatal {
            return if FENCED_CODES.contains(code) {
                Kind::Fenced
            } else {
                Kind::Fatal
            };
        }
        let code = e.rdkafka_error_code();
        if let KafkaError::Transaction(rd) = e {
            if rd.is_fatal() {
                return if FENCED_CODES.contains(&rd.code()) {
                    Kind::Fenced
                } else {
                    Kind::Fatal
                };
            }
            if rd.txn_requires_abort() {
                return Kind::RequiresAbort;
            }
            if rd.is_retriable() {
                return Kind::Retriable;
            }
            return Kind::Other;
        }
        match code {
            Some(c) if FENCED_CODES.contains(&c) => Kind::Fenced,
            // A failed delivery puts the transaction in the abortable state.
            Some(_) => Kind::RequiresAbort,
            None => Kind::Other,
        }
    }
}

async fn blocking(
    f: impl FnOnce() -> Result<(), KafkaError> + Send + 'static,
) -> Result<(), KafkaError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or(Err(KafkaError::Canceled))
}

#[async_trait]
impl TransactionalSink for TransactionalPublisher {
    async fn commit_batch(&self, records: Vec<OutRecord>) -> Result<CommitStats, PublishError> {
        self.commit(&mut OneChunk::new(records)).await
    }

    async fn commit_chunks(
        &self,
        chunks: &mut dyn RecordChunks,
    ) -> Result<CommitStats, PublishError> {
        self.commit(chunks).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_follows_the_kind() {
        let src = KafkaError::MessageProduction(RDKafkaErrorCode::RequestTimedOut);
        let retriable = PublishError::Retriable {
            stage: Stage::Commit,
            source: src.clone(),
        };
        assert_eq!(retriable.recovery(), Recovery::RedoCycle);
        let fenced = PublishError::Fenced {
            stage: Stage::Commit,
            transactional_id: "streak-connector-a".into(),
            source: src.clone(),
        };
        assert_eq!(fenced.recovery(), Recovery::StopProcess);
        let msg = fenced.to_string();
        assert!(
            msg.contains("another instance with the same connector name"),
            "{msg}"
        );
        assert!(msg.contains("streak-connector-a"), "{msg}");
        let unauthorized = PublishError::Unauthorized {
            stage: Stage::Init,
            transactional_id: "streak-connector-a.membership.3".into(),
            source: KafkaError::MessageProduction(
                RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
            ),
        };
        assert_eq!(unauthorized.recovery(), Recovery::StopProcess);
        assert_eq!(unauthorized.error_code(), "unauthorized");
        let msg = unauthorized.to_string();
        assert!(msg.contains("streak-connector-a.membership.3"), "{msg}");
        assert!(msg.contains("TransactionalId prefix"), "{msg}");
        let unknown = PublishError::CommitOutcomeUnknown {
            waited: Duration::from_secs(1),
            source: src,
        };
        assert_eq!(unknown.recovery(), Recovery::StopProcess);
    }
}
