//! State restore: read every partition of the compacted state topic from its
//! beginning to its end, read committed, in parallel across partitions, and keep the
//! last value of each key (a tombstone deletes the key).
//!
//! Two readers do the reading, each on worker threads that share the partitions
//! ([`balanced_workers`]): the connector's own reader of the fetch protocol
//! ([`super::wire`]) on a plaintext cluster, and librdkafka's consumers
//! ([`super::restore_consumer`]) elsewhere, or when the own reader cannot finish
//! (it then reads the topic again from its start). "The end" is each partition's last
//! stable offset, taken before reading: what was committed when the restore began.
//!
//! Each worker decodes its records with the caller's [`StateDecoder`] as it reads
//! them, straight from the reader's buffer, and keeps the last outcome per key
//! ([`super::survivors`]: a key met in two partitions is refused, tombstone or not,
//! tombstones are never decoded, and the records named by
//! `kafka.skip_state_records` are read as never written). Only a survivor's decoding
//! counts: one that does not decode stops the restore with its coordinates, a
//! superseded one stops nothing. This module must not interpret the records beyond
//! their key.

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use rdkafka::error::KafkaError;

use super::config::{KafkaConfig, RestoreReader};
use super::restore_consumer::{list_partitions, read_partitions};
use super::restored::{RestoreError, Restored, StateDecoder};
use super::survivors::{merge, Survivors};
use super::telemetry::{
    RestoreFellBack, RestoreWorkerPanicked, StateRecordsSkipped, StateRestored,
};
use super::wire::{self, Failure, WireError};
use super::StateSource;
use crate::metrics::Metrics;
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
                Ok(servers) => match self.read_own(servers, Arc::clone(&decoder)).await {
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
    async fn read_own<D: StateDecoder>(
        &self,
        servers: Vec<String>,
        decoder: Arc<D>,
    ) -> Result<Parts<D::Value>, Failure> {
        let config = self.config.clone();
        let plan = match tokio::task::spawn_blocking(move || wire::plan(&config, &servers)).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::restored::printable_key;
    use crate::kafka::survivors::SplitKey;
    use crate::recovery::{Classified as _, Recovery};

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
