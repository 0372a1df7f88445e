//! Kafka I/O: topic checks, state restore from the compacted state topic, and the transactional publisher.
//!
//! This module owns everything that talks to Kafka, at the level of bytes: keys and
//! values arrive already encoded (`Vec<u8>`), and restored records are handed to a
//! caller-supplied [`StateDecoder`]. It must not know about Avro, Streak or the
//! membership domain, and it must not decide what to do after an error: every error
//! says how to recover (retry, abort and redo the cycle, or stop) and the poll cycle
//! acts on it.
//!
//! - [`config`]: [`KafkaConfig`], the validated settings, and how each client is
//!   configured from them.
//! - [`topics`]: [`ensure_topics`] creates the events topic and the compacted state
//!   topic when absent, and refuses a state topic that is not compacted.
//! - [`restore`]: [`KafkaStateSource`] reads every partition of the state topic from
//!   the beginning to its end, read committed, in parallel, and keeps the last value
//!   per key (tombstones delete), through its own reader of the fetch protocol
//!   (`wire`) on a plaintext cluster, through librdkafka's consumer otherwise.
//! - [`publisher`]: [`TransactionalPublisher`] commits one batch of records (events,
//!   state records, tombstones, checkpoint) as one Kafka transaction.
//! - [`pool`]: [`ProducerPool`], several transactional publishers so that
//!   organizations commit in parallel, and the fencing of every id they may use.
//! - [`chunked`]: how one transaction is written chunk by chunk ([`RecordChunks`]),
//!   so that a poll's memory is bounded by a chunk, not by the organization;
//!   [`delivery`]: how its delivery reports are counted rather than awaited one by one.
//! - [`memory`]: [`MemoryStore`], the in-memory twin of both, for tests of the cycle.
//!
//! The poll cycle depends on the two traits below, not on Kafka: [`TransactionalSink`]
//! and [`StateSource`].

pub(crate) mod chunked;
pub(crate) mod client_log;
pub(crate) mod config;
mod delivery;
pub(crate) mod follow;
pub mod inspect;
pub(crate) mod memory;
pub(crate) mod pool;
pub(crate) mod publisher;
pub(crate) mod restore;
mod restore_consumer;
mod restored;
mod stage;
pub(crate) mod stats;
pub(crate) mod survivors;
mod telemetry;
pub(crate) mod topics;
mod wire;

use async_trait::async_trait;

pub use chunked::{RecordChunks, SourceFailed};
pub(crate) use config::ConfigError;
pub use config::{KafkaConfig, RestoreReader, TopicPolicy};
pub use memory::{InjectedFailure, MemoryStore};
pub use pool::{transactional_ids, ProducerPool, MAX_PRODUCERS};
pub(crate) use publisher::CommitStats;
pub use publisher::{PublishError, Stage, TransactionalPublisher};
pub use restore::KafkaStateSource;
pub use restored::{RecordAt, RestoreError, Restored, StateDecoder};
pub(crate) use topics::ensure_compacted_topic;
pub use topics::{ensure_topics, TopicError, STATE_TOPIC_DEFAULTS};

/// One record to write in a transaction: already encoded, addressed to a topic.
///
/// The partition is chosen from the key by the Java-compatible murmur2 partitioner,
/// so all records of one key (one member) land in one partition, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// The events topic or the state topic.
    pub topic: String,
    pub key: Vec<u8>,
    /// `None` is a tombstone: on the compacted state topic it deletes the key.
    pub value: Option<Vec<u8>>,
}

impl OutRecord {
    /// A record with a value.
    pub fn new(
        topic: impl Into<String>,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        OutRecord {
            topic: topic.into(),
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A tombstone (null value) for `key`.
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        OutRecord {
            topic: topic.into(),
            key: key.into(),
            value: None,
        }
    }
}

/// Where the poll cycle commits: all records of one batch become visible to
/// read-committed consumers together, or none does.
///
/// Implementations serialize concurrent calls: one batch is one transaction.
#[async_trait]
pub trait TransactionalSink: Send + Sync {
    /// Write `records` in one transaction and commit it.
    ///
    /// `Ok` means committed. An error says, through its
    /// [`crate::recovery::Classified::recovery`],
    /// whether the batch is known not to be committed (redo the cycle from the last
    /// committed state after a backoff) or whether the process must stop.
    async fn commit_batch(&self, records: Vec<OutRecord>) -> Result<CommitStats, PublishError>;

    /// Write every chunk of `chunks` in one transaction and commit it, like
    /// [`commit_batch`](Self::commit_batch). The Kafka publisher asks for each
    /// chunk only when the earlier ones are queued (a poll's memory is bounded by a
    /// chunk); this default gathers them into one batch. A chunk that cannot be
    /// made aborts the transaction ([`PublishError::SourceFailed`]).
    async fn commit_chunks(
        &self,
        chunks: &mut dyn RecordChunks,
    ) -> Result<CommitStats, PublishError> {
        let records = chunked::gather(chunks).map_err(PublishError::SourceFailed)?;
        self.commit_batch(records).await
    }

    /// Transactions this sink can have open at once (one per producer); callers
    /// queue for that many commit slots.
    fn parallelism(&self) -> usize {
        1
    }
}

/// Where the state comes from at start-up: every committed record of the state
/// topic, last value per key, decoded by the caller's decoder.
#[async_trait]
pub trait StateSource: Send + Sync {
    /// Read the whole state topic and return the live entries.
    async fn restore<D: StateDecoder>(
        &self,
        decoder: D,
    ) -> Result<Restored<D::Value>, RestoreError>;
}
