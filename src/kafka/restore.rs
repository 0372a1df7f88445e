//! State restore: read every partition of the compacted state topic from its
//! beginning to its end, read committed, in parallel across partitions, and keep the
//! last value of each key (a tombstone deletes the key).
//!
//! "The end" is the partition's last stable offset, taken before reading: what was
//! committed when the restore began. A partition is done when the consumer's
//! POSITION reaches it, not when a record at `end - 1` arrives: the tail of a
//! partition is often a transaction marker, or an aborted batch, that no
//! read-committed consumer ever receives.
//!
//! Each worker decodes its records with the caller's [`StateDecoder`] as it reads
//! them, straight from the consumer's buffer, and keeps the last outcome per key
//! ([`super::survivors`]: a key met in two partitions is refused, tombstone or not,
//! tombstones are never decoded, and the records named by
//! `kafka.skip_state_records` are read as never written). Only a survivor's decoding
//! counts: one that does not decode stops the restore with its coordinates, a
//! superseded one stops nothing. This module must not interpret the records beyond
//! their key.

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::client_log::ClientLog;
use super::config::KafkaConfig;
use super::config::RestoreReader;
use super::restored::{RecordAt, RestoreError, Restored, StateDecoder};
use super::survivors::{merge, Survivors};
use super::telemetry::{
    RestoreFellBack, RestoreWorkerPanicked, StateRecordsSkipped, StateRestored,
};
use super::wire::{self, Failure, WireError};
use super::StateSource;
use crate::metrics::Metrics;
use crate::release::drop_in_background;
use crate::telemetry::InternalEvent as _;

/// The Kafka state topic as a [`StateSource`].
#[derive(Debug, Clone)]
pub struct KafkaStateSource {
    config: KafkaConfig,
    metrics: Arc<Metrics>,
}

impl KafkaStateSource {
    pub fn new(config: KafkaConfig, metrics: Arc<Metrics>) -> Self {
        KafkaStateSource { config, metrics }
    }
}

#[async_trait]
impl StateSource for KafkaStateSource {
    async fn restore<D: StateDecoder>(
        &self,
        decoder: D,
    ) -> Result<Restored<D::Value>, RestoreError> {
        let started = Instant::now();
        let topic = self.config.state_topic.clone();
        let decoder = Arc::new(decoder);
        let mut read = None;
        if self.config.restore_reader == RestoreReader::Auto {
            match wire::bootstrap(&self.config) {
                Ok(_) => match self.read_own(Arc::clone(&decoder)).await {
                    Ok(parts) => read = Some((parts, "own")),
                    Err(Failure::Restore(e)) => return Err(e),
                    Err(Failure::Fallback(e)) => {
                        RestoreFellBack {
                            topic: &topic,
                            reason: &e,
                        }
                        .emit(&self.metrics);
                    }
                    Err(Failure::Cancelled) => {
                        let e = WireError::Unsupported("its workers were cancelled".into());
                        RestoreFellBack {
                            topic: &topic,
                            reason: &e,
                        }
                        .emit(&self.metrics);
                    }
                },
                Err(why) => tracing::debug!(topic, why, "Restoring through librdkafka"),
            }
        }
        let ((parts, partitions), reader) = match read {
            Some(read) => read,
            None => (self.read_librdkafka(decoder).await?, "librdkafka"),
        };
        // Off the async thread: the cross-check walks every key (each worker sorted
        // its own hashes in parallel before it returned).
        let merged = {
            let topic = topic.clone();
            blocking(move || merge(parts).map_err(|split| split.into_error(&topic))).await?
        };
        StateRecordsSkipped {
            topic: &topic,
            configured: &self.config.skip_state_records,
            met: &merged.skipped,
        }
        .emit(&self.metrics);
        let mut restored = {
            let topic = topic.clone();
            blocking(move || merged.finish(&topic)).await?
        };
        restored.stats.partitions = partitions;
        restored.stats.duration = started.elapsed();
        restored.stats.reader = reader;
        StateRestored {
            topic: &topic,
            partitions,
            records: restored.stats.records,
            live: restored.entries.len(),
            duration: restored.stats.duration,
            reader,
        }
        .emit(&self.metrics);
        Ok(restored)
    }
}

/// Each worker's survivors and the topic's partition count.
type Parts<T> = (Vec<Survivors<T>>, usize);

impl KafkaStateSource {
    /// Reads every partition with the connector's own reader ([`wire`]).
    async fn read_own<D: StateDecoder>(&self, decoder: Arc<D>) -> Result<Parts<D::Value>, Failure> {
        let config = self.config.clone();
        let plan = match tokio::task::spawn_blocking(move || wire::plan(&config)).await {
            Ok(plan) => plan?,
            Err(_) => return Err(Failure::Cancelled),
        };
        let ids = plan.partitions.clone();
        let config = self.config.clone();
        let plan = Arc::new(plan);
        let parts = run_workers(
            self.config.restore_parallelism,
            &ids,
            move |share, cancel| wire::read_partitions(&config, &plan, share, cancel, &*decoder),
            // The root cause first: a key in two partitions, then another answer of
            // the topic, then a limit of the reader; a cancelled worker last.
            |e| match e {
                Failure::Restore(RestoreError::KeyInTwoPartitions { .. }) => 3,
                Failure::Restore(_) => 2,
                Failure::Fallback(_) => 1,
                Failure::Cancelled => 0,
            },
            |join| {
                RestoreWorkerPanicked { error: join }.emit(&self.metrics);
                Failure::Cancelled
            },
        )
        .await?;
        Ok((parts, ids.len()))
    }

    /// Reads every partition with librdkafka's consumers.
    async fn read_librdkafka<D: StateDecoder>(
        &self,
        decoder: Arc<D>,
    ) -> Result<Parts<D::Value>, RestoreError> {
        let topic = self.config.state_topic.clone();
        let partitions = {
            let config = self.config.clone();
            blocking(move || list_partitions(&config)).await?
        };
        let config = self.config.clone();
        let parts = run_workers(
            self.config.restore_parallelism,
            &partitions,
            move |share, cancel| read_partitions(&config, share, cancel, &*decoder),
            // The root cause first, not a worker that only saw the cancel flag.
            |e| match e {
                RestoreError::KeyInTwoPartitions { .. } => 2,
                RestoreError::Kafka {
                    source: KafkaError::Canceled,
                    ..
                } => 0,
                _ => 1,
            },
            |join| {
                RestoreWorkerPanicked { error: join }.emit(&self.metrics);
                RestoreError::Kafka {
                    topic: topic.clone(),
                    what: "the partitions".into(),
                    source: KafkaError::Canceled,
                }
            },
        )
        .await?;
        Ok((parts, partitions.len()))
    }
}

/// Runs `read` on each worker's share of `partitions` ([`balanced_workers`] of
/// them), each on its own blocking thread; a worker's error cancels the others.
/// The error of highest `rank` is returned (the first of equals); `panicked` names
/// a worker that panicked.
async fn run_workers<T, E, F>(
    parallelism: usize,
    partitions: &[i32],
    read: F,
    rank: impl Fn(&E) -> u8,
    panicked: impl Fn(&tokio::task::JoinError) -> E,
) -> Result<Vec<Survivors<T>>, E>
where
    T: Send + 'static,
    E: Send + 'static,
    F: Fn(&[i32], &AtomicBool) -> Result<Survivors<T>, E> + Send + Sync + 'static,
{
    let workers = balanced_workers(parallelism, partitions.len());
    let cancel = Arc::new(AtomicBool::new(false));
    let read = Arc::new(read);
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let share: Vec<i32> = (partitions.iter().copied().enumerate())
            .filter(|(i, _)| i % workers == w)
            .map(|(_, p)| p)
            .collect();
        let cancel = Arc::clone(&cancel);
        let read = Arc::clone(&read);
        handles.push(tokio::task::spawn_blocking(move || {
            let out = read(&share, &cancel);
            if out.is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
            out
        }));
    }
    let mut parts = Vec::with_capacity(workers);
    let mut first_err: Option<E> = None;
    for h in handles {
        let e = match h.await {
            Ok(Ok(part)) => {
                parts.push(part);
                continue;
            }
            Ok(Err(e)) => e,
            Err(join) => panicked(&join),
        };
        if first_err.as_ref().is_none_or(|f| rank(&e) > rank(f)) {
            first_err = Some(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(parts),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RestoreError> + Send + 'static,
) -> Result<T, RestoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(_) => Err(RestoreError::Kafka {
            topic: String::new(),
            what: "the metadata".into(),
            source: KafkaError::Canceled,
        }),
    }
}

/// The state topic's partition ids.
///
/// A missing state topic is refused under every topic policy: under `trust` the
/// connector creates no topic, and starting from empty state would write that
/// state to whatever topic the cluster then creates (on a broker that auto-creates
/// topics, one with `cleanup.policy=delete`, which forgets it).
fn list_partitions(config: &KafkaConfig) -> Result<Vec<i32>, RestoreError> {
    let consumer: BaseConsumer<ClientLog> = config
        .restore_consumer_config()
        .create_with_context(ClientLog::new("restore"))
        .map_err(RestoreError::Client)?;
    let topic = &config.state_topic;
    let md = consumer
        .fetch_metadata(Some(topic), config.request_timeout)
        .map_err(|source| RestoreError::Kafka {
            topic: topic.clone(),
            what: "the metadata".into(),
            source,
        })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Err(RestoreError::MissingTopic(topic.clone()));
    };
    match t.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
            return Err(RestoreError::MissingTopic(topic.clone()));
        }
        Some(code) => {
            return Err(RestoreError::Kafka {
                topic: topic.clone(),
                what: "the metadata".into(),
                source: KafkaError::MetadataFetch(code),
            })
        }
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    drop(md);
    drop_in_background(consumer);
    Ok(ids)
}

/// Read `partitions` of the state topic to their end on one consumer, keeping the
/// last record of each key, decoded as it is read (see [`super::survivors`]).
fn read_partitions<D: StateDecoder>(
    config: &KafkaConfig,
    partitions: &[i32],
    cancel: &AtomicBool,
    decoder: &D,
) -> Result<Survivors<D::Value>, RestoreError> {
    let topic = config.state_topic.as_str();
    let mut part = Survivors::default();
    if partitions.is_empty() {
        return Ok(part);
    }
    // Declared first, so dropped last: no list of this consumer outlives it.
    let consumer: BaseConsumer<ClientLog> = config
        .restore_consumer_config()
        .create_with_context(ClientLog::new("restore"))
        .map_err(RestoreError::Client)?;
    let kafka_err = |what: String, source| RestoreError::Kafka {
        topic: topic.to_owned(),
        what,
        source,
    };

    let (mut end, offsets) = assign_to_end(&consumer, config, partitions)?;
    if end.is_empty() {
        drop_in_background(consumer);
        return Ok(part);
    }
    // At most one key an offset: sized once rather than grown (each growth
    // rehashes every key so far). Bounded, for a log of mostly superseded records.
    part.reserve(usize::try_from(offsets).unwrap_or(0).min(MAX_RESERVED_KEYS));

    let idle_limit = config.request_timeout;
    let mut last_progress = Instant::now();
    // Set by each record, turned into `last_progress` only when the consumer waits:
    // reading the clock for every record was 4% of a large restore's CPU.
    let mut progressed = false;
    let mut position: HashMap<i32, i64> = end.keys().map(|&p| (p, -1)).collect();
    while !end.is_empty() {
        if cancel.load(Ordering::Relaxed) {
            return Err(kafka_err("the partitions".into(), KafkaError::Canceled));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                let p = msg.partition();
                let offset = msg.offset();
                let Some(&stop) = end.get(&p) else { continue };
                progressed = true;
                if offset < stop {
                    let at = RecordAt {
                        partition: p,
                        offset,
                    };
                    let skip = config.skip_state_records.contains(&at);
                    part.offer(
                        at,
                        msg.key().unwrap_or_default(),
                        msg.payload(),
                        skip,
                        decoder,
                    )
                    .map_err(|split| split.into_error(topic))?;
                }
                if offset + 1 >= stop {
                    end.remove(&p);
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {
                // The tail may be a marker or an aborted batch: no record comes,
                // but the position moves past it.
                if std::mem::take(&mut progressed) {
                    last_progress = Instant::now();
                }
                let positions = consumer
                    .position()
                    .map_err(|e| kafka_err("the consumer position".into(), e))?;
                for elem in positions.elements_for_topic(topic) {
                    let p = elem.partition();
                    if let (Some(&stop), Offset::Offset(pos)) = (end.get(&p), elem.offset()) {
                        if position.get(&p) != Some(&pos) {
                            position.insert(p, pos);
                            last_progress = Instant::now();
                        }
                        if pos >= stop {
                            end.remove(&p);
                        }
                    }
                }
                drop(positions);
                if !end.is_empty() && last_progress.elapsed() > idle_limit {
                    let (&p, &stop) = end.iter().next().unwrap_or((&-1, &-1));
                    return Err(RestoreError::Stalled {
                        topic: topic.to_owned(),
                        partition: p,
                        position: position.get(&p).copied().unwrap_or(-1),
                        end: stop,
                        idle: idle_limit,
                    });
                }
            }
            Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                return Err(kafka_err(
                    "the records".into(),
                    KafkaError::MessageConsumptionFatal(code),
                ));
            }
            Some(Err(e)) => {
                // Transport and leadership errors are retried by librdkafka; the
                // idle limit above bounds how long we wait for it.
                tracing::debug!(topic, error = %e, "Restore consumer error; librdkafka retries");
            }
        }
    }
    drop_in_background(consumer);
    part.seal();
    Ok(part)
}

/// How many consumers read `partitions` partitions, at most `parallelism`: as few as
/// give each the same number of partitions as `parallelism` would. The slowest
/// consumer, the one with the most partitions, sets the restore's time; a consumer
/// with fewer only adds a client and its threads on the same cores (6 partitions
/// on 4 consumers read 2, 2, 1, 1: three consumers of 2 were faster, measured in
/// docs/benchmarks.md).
fn balanced_workers(parallelism: usize, partitions: usize) -> usize {
    let partitions = partitions.max(1);
    let per_worker = partitions.div_ceil(parallelism.clamp(1, partitions));
    partitions.div_ceil(per_worker)
}

/// The most keys a restore worker sizes its map for up front.
const MAX_RESERVED_KEYS: usize = 4 << 20;

/// Assigns the non-empty `partitions` from their beginning and returns the end of
/// each (its last stable offset now: the consumer is read committed, so the
/// watermark query answers the LSO rather than the high watermark) and the offsets
/// to read in all. Empty partitions are done before they start.
fn assign_to_end(
    consumer: &BaseConsumer<ClientLog>,
    config: &KafkaConfig,
    partitions: &[i32],
) -> Result<(HashMap<i32, i64>, i64), RestoreError> {
    let topic = config.state_topic.as_str();
    let kafka_err = |what: String, source| RestoreError::Kafka {
        topic: topic.to_owned(),
        what,
        source,
    };
    let mut end: HashMap<i32, i64> = HashMap::new();
    let mut offsets = 0;
    let mut assignment = TopicPartitionList::new();
    for &p in partitions {
        let (low, high) = watermarks(consumer, topic, p, config.request_timeout)
            .map_err(|e| kafka_err(format!("the offsets of partition {p}"), e))?;
        if high > low {
            end.insert(p, high);
            offsets += high - low;
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| kafka_err(format!("partition {p}"), e))?;
        }
    }
    if !end.is_empty() {
        consumer
            .assign(&assignment)
            .map_err(|e| kafka_err("an assignment".into(), e))?;
    }
    Ok((end, offsets))
}

/// A partition's low and high watermarks (the high one is the last stable offset
/// for a read-committed consumer). Right after a topic is created (the first start
/// on a fresh cluster creates the state topic a moment before it is read) its
/// partitions may have no leader yet: the query is asked again every 50 ms while
/// the broker says the leader is moving, within `timeout`.
pub(crate) fn watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), KafkaError> {
    let deadline = Instant::now() + timeout;
    let mut attempt = FIRST_ATTEMPT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let began = Instant::now();
        match consumer.fetch_watermarks(topic, partition, left.min(attempt)) {
            Err(e) if leader_is_moving(&e) && Instant::now() + LEADER_RETRY < deadline => {
                std::thread::sleep(LEADER_RETRY);
            }
            // An attempt that ran out of its bound (librdkafka says "all brokers
            // down" while the connection is still being set up): once the bound
            // is spent, ask again with twice the bound, within `timeout`.
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::AllBrokersDown,
            )) if attempt < left => {
                std::thread::sleep(attempt.saturating_sub(began.elapsed()));
                attempt *= 2;
            }
            other => return other,
        }
    }
}

/// The first bound of one watermark query. Right after a topic was created or
/// written, librdkafka's query sometimes waits about 700 ms for a metadata update
/// that a fresh query does not need (measured on a local broker: one restore in
/// three of a just-created topic); a query that takes longer is asked again, each
/// time with twice the bound, so a slow cluster still gets its answer.
const FIRST_ATTEMPT: Duration = Duration::from_millis(100);

/// The pause between two watermark queries of a partition whose leader is moving.
const LEADER_RETRY: Duration = Duration::from_millis(50);

/// Whether `e` says the partition's leader is not settled yet (a new topic, a
/// leader election): worth asking again shortly.
fn leader_is_moving(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownLeaderEpoch
                | RDKafkaErrorCode::FencedLeaderEpoch
                | RDKafkaErrorCode::NotCoordinator
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::restored::printable_key;
    use crate::kafka::survivors::SplitKey;
    use crate::recovery::{Classified as _, Recovery};

    #[test]
    fn a_moving_leader_is_asked_again_and_other_errors_are_not() {
        for code in [
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::UnknownLeaderEpoch,
        ] {
            assert!(
                leader_is_moving(&KafkaError::MetadataFetch(code)),
                "{code:?}"
            );
        }
        for code in [
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::BrokerTransportFailure,
        ] {
            assert!(
                !leader_is_moving(&KafkaError::MetadataFetch(code)),
                "{code:?}"
            );
        }
        assert!(!leader_is_moving(&KafkaError::Canceled));
    }

    #[test]
    fn the_consumers_share_the_partitions_evenly() {
        // (parallelism, partitions) -> consumers
        for (parallelism, partitions, consumers) in [
            (4, 6, 3),
            (4, 1, 1),
            (4, 0, 1),
            (0, 6, 1),
            (4, 4, 4),
            (4, 8, 4),
            (4, 12, 4),
            (4, 5, 3),
            (4, 7, 4),
            (6, 6, 6),
            (1, 6, 1),
            (8, 3, 3),
        ] {
            let n = balanced_workers(parallelism, partitions);
            assert_eq!(n, consumers, "{parallelism} on {partitions}");
            // Never more partitions on one consumer than `parallelism` would give.
            let most = partitions
                .max(1)
                .div_ceil(parallelism.clamp(1, partitions.max(1)));
            assert_eq!(
                partitions.max(1).div_ceil(n),
                most,
                "{parallelism} on {partitions}"
            );
        }
    }

    #[test]
    fn a_split_key_says_how_to_recover() {
        let err = SplitKey {
            key: b"o/u".to_vec(),
            first: 1,
            second: 6,
        }
        .into_error("state");
        let msg = err.to_string();
        assert!(msg.contains("partitions 1 and 6"), "{msg}");
        assert!(msg.contains("delete"), "{msg}");
        assert_eq!(err.error_code(), "key_in_two_partitions");
        assert_eq!(err.recovery(), Recovery::StopProcess);
    }

    #[test]
    fn printable_key_is_lossy_and_bounded() {
        assert_eq!(printable_key(b"org/\xffuser"), "org/\u{fffd}user");
        assert_eq!(printable_key(&[b'x'; 500]).len(), 200);
    }
}
