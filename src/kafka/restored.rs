//! What a restore of the state topic yields and how it fails: the types that the
//! consumer ([`super::restore`]), its bookkeeping ([`super::survivors`]), the
//! in-memory source ([`super::memory`]) and the configuration (a record to skip,
//! [`RecordAt`]) share. A leaf of the module: it knows no consumer.

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use rdkafka::error::KafkaError;

use crate::recovery::{Classified, Recovery};

/// A record of the state topic by its coordinates, as `kafka.skip_state_records`
/// names it: `<partition>@<offset>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordAt {
    pub partition: i32,
    pub offset: i64,
}

impl std::fmt::Display for RecordAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

impl std::str::FromStr for RecordAt {
    type Err = String;

    /// `<partition>@<offset>`, both non-negative integers.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not <partition>@<offset> (for example `3@1200`)");
        let (p, o) = s.trim().split_once('@').ok_or_else(bad)?;
        let partition: i32 = p.trim().parse().map_err(|_| bad())?;
        let offset: i64 = o.trim().parse().map_err(|_| bad())?;
        if partition < 0 || offset < 0 {
            return Err(bad());
        }
        Ok(RecordAt { partition, offset })
    }
}

/// Turns one raw state record into the caller's value.
///
/// Called only for the last record of each key, and never for a tombstone: `value`
/// is always `Some` (the `Option` keeps the signature of callers that decode any
/// record). Decoding runs on several threads at once.
pub trait StateDecoder: Send + Sync + 'static {
    type Value: Send + 'static;
    type Error: std::error::Error + Send + Sync + 'static;
    fn decode(&self, key: &[u8], value: Option<&[u8]>) -> Result<Self::Value, Self::Error>;
}

impl<F, T, E> StateDecoder for F
where
    F: Fn(&[u8], Option<&[u8]>) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    type Value = T;
    type Error = E;
    fn decode(&self, key: &[u8], value: Option<&[u8]>) -> Result<T, E> {
        self(key, value)
    }
}

/// The outcome of a restore: the live entries, and how it went.
#[derive(Debug, Clone)]
pub struct Restored<T> {
    /// Each live key (raw bytes) once, with its value, in no particular order. A
    /// list, not a map: the restore has already kept one record a key, and its
    /// callers only go through them (no lookup), so no key is hashed again.
    pub entries: Vec<(Vec<u8>, T)>,
    pub stats: RestoreStats,
}

/// Measures of one restore (also exported as metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Records read (values and tombstones), all partitions.
    pub records: u64,
    /// Of which tombstones.
    pub tombstones: u64,
    /// Key and value bytes read.
    pub bytes: u64,
    pub partitions: usize,
    pub duration: Duration,
    /// Which reader read the topic: `own` (the connector's reader of the fetch
    /// protocol), `librdkafka`, or `memory` (the in-memory twin).
    pub reader: &'static str,
}

/// Why the state could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Recovery: stop; the properties cannot make a consumer.
    #[error("cannot create the restore consumer (check the kafka properties): {0}")]
    Client(#[source] KafkaError),
    /// Recovery: stop; run the topic set-up first, or check the topic name.
    #[error("state topic `{0}` does not exist. With kafka.topic_policy = \"trust\" the connector creates no topic and does not start from empty state (its state would land in whatever topic the cluster creates, not compacted on a broker that auto-creates topics): create the topic compacted (docs/kafka.md), or use topic_policy = \"verify\", which creates it")]
    MissingTopic(String),
    /// Recovery: retry start-up after a backoff (the cluster may be unreachable).
    #[error("cannot read {what} of state topic `{topic}`: {source}; is the cluster reachable?")]
    Kafka {
        topic: String,
        what: String,
        #[source]
        source: KafkaError,
    },
    /// Recovery: retry start-up after a backoff.
    #[error("restore of `{topic}` partition {partition} made no progress for {idle:?} (position {position}, end {end})")]
    Stalled {
        topic: String,
        partition: i32,
        position: i64,
        end: i64,
        idle: Duration,
    },
    /// Recovery: stop. A key lives in one partition unless partitions were added
    /// to the state topic; then the order of its records is lost and no restore
    /// can be trusted. Any record counts, a tombstone too: a key whose newest
    /// record is a tombstone in one partition and an older value in another would
    /// come back to life.
    #[error("key {key} of state topic `{topic}` has records in partitions {first} and {second}: partitions were added to the topic, so the order of a member's records is lost (a member who left could come back, a stale admin flag be restored). Kafka cannot remove partitions: stop every instance, delete the state topic `{topic}` (the next start creates it and publishes a SNAPSHOT of each organization), and never change its partition count again (docs/kafka.md)")]
    KeyInTwoPartitions {
        topic: String,
        key: String,
        first: i32,
        second: i32,
    },
    /// Recovery: stop. Only the last record of a key is decoded, so writing a record
    /// for the key (a tombstone, which forgets that member) gets past it at the next
    /// start; so does skipping it explicitly.
    #[error("state record at {topic}/{partition}@{offset} (key {key}) cannot be decoded: {source}; refusing to start rather than skip it silently. Write a tombstone for its key (the member is forgotten, and reported as JOINED at the next poll), or start with --skip-state-record {partition}@{offset} (kafka.skip_state_records) to read it as never written (docs/kafka.md)")]
    Undecodable {
        topic: String,
        partition: i32,
        offset: i64,
        /// The key, lossy UTF-8, truncated to 200 characters.
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Classified for RestoreError {
    /// The cluster may come back ([`Recovery::RetryNow`]: retry start-up after a
    /// backoff); everything else needs an operator ([`Recovery::StopProcess`]).
    fn recovery(&self) -> Recovery {
        match self {
            RestoreError::Kafka { .. } | RestoreError::Stalled { .. } => Recovery::RetryNow,
            RestoreError::Client(_)
            | RestoreError::MissingTopic(_)
            | RestoreError::KeyInTwoPartitions { .. }
            | RestoreError::Undecodable { .. } => Recovery::StopProcess,
        }
    }

    /// A fixed label for metrics and logs.
    fn error_code(&self) -> &'static str {
        match self {
            RestoreError::Client(_) => "client",
            RestoreError::MissingTopic(_) => "missing_topic",
            RestoreError::Kafka { .. } => "kafka",
            RestoreError::Stalled { .. } => "stalled",
            RestoreError::Undecodable { .. } => "undecodable",
            RestoreError::KeyInTwoPartitions { .. } => "key_in_two_partitions",
        }
    }
}

pub(crate) fn printable_key(key: &[u8]) -> String {
    let s = String::from_utf8_lossy(key);
    s.chars().take(200).collect()
}
