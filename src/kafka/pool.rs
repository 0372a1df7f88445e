//! Several transactional producers, so that organizations commit in parallel.
//!
//! One producer commits one transaction at a time: with many small organizations the
//! commits queue behind each other while the CPU idles (1,000 organizations of 50
//! members: 40 polls a second through one producer). The pool holds up to
//! [`MAX_PRODUCERS`] publishers, each with its own transactional id, and a commit
//! takes a free one. Two transactions of one organization never overlap (its poller
//! commits one cycle after the other), so each organization's records stay in order
//! whichever producer carries them, and every transaction is still all or nothing.
//!
//! Fencing. The ids are `<base>` (the single producer's id before the pool, so an
//! older instance is fenced too) and `<base>.1` to `<base>.7`, whatever the pool's
//! size: at start-up the pool runs `init_transactions` on **every** one of the
//! [`MAX_PRODUCERS`] ids, using the ones it keeps and fencing the others with a
//! producer that is dropped once initialized. A zombie of this connector (any pool
//! size) held only ids of that list, so after [`ProducerPool::init`] none of them
//! can commit, and each open transaction it left is aborted before the restore
//! reads the state topic.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::chunked::RecordChunks;
use super::config::KafkaConfig;
use super::publisher::{CommitStats, PublishError, TransactionalPublisher};
use super::{OutRecord, TransactionalSink};
use crate::metrics::Metrics;

/// The transactional ids of one connector: the pool uses the first ones and fences
/// them all at start-up. Fixed: a smaller value would leave a zombie's ids unfenced.
pub const MAX_PRODUCERS: usize = 8;

/// The transactional ids of the pool whose first id is `base` (the connector's
/// `<name>.membership`): `base`, then `base.1` to `base.7`.
pub fn transactional_ids(base: &str) -> Vec<String> {
    (0..MAX_PRODUCERS)
        .map(|i| match i {
            0 => base.to_owned(),
            i => format!("{base}.{i}"),
        })
        .collect()
}

/// The transactional producers of one instance. Commits take a free producer; the
/// most recently freed one first, so that one organization keeps using one
/// producer (and one transactional id) while nothing else commits.
pub struct ProducerPool {
    publishers: Vec<TransactionalPublisher>,
    /// Built for fencing only: the ids of the list beyond the pool's size.
    fencers: Mutex<Vec<TransactionalPublisher>>,
    /// Indices of the idle publishers, the next one last.
    free: Mutex<Vec<usize>>,
    permits: Semaphore,
}

impl std::fmt::Debug for ProducerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerPool")
            .field("publishers", &self.publishers)
            .finish_non_exhaustive()
    }
}

impl ProducerPool {
    /// Builds `config.producers` publishers (1 to [`MAX_PRODUCERS`]) and one for
    /// each remaining id to fence (no network I/O yet). Call [`init`](Self::init)
    /// next.
    pub fn new(config: &KafkaConfig, metrics: Arc<Metrics>) -> Result<Self, PublishError> {
        let size = config.producers.clamp(1, MAX_PRODUCERS);
        let mut publishers = Vec::with_capacity(size);
        let mut fencers = Vec::new();
        for (i, id) in transactional_ids(&config.transactional_id)
            .into_iter()
            .enumerate()
        {
            let mut one = KafkaConfig {
                transactional_id: id,
                ..config.clone()
            };
            if i < size {
                metrics.kafka.zero_producer(&one.transactional_id);
                publishers.push(TransactionalPublisher::new(&one, metrics.clone())?);
            } else {
                // Gone within a start-up: no statistics, no series of its own.
                (one.properties).insert("statistics.interval.ms".into(), "0".into());
                fencers.push(TransactionalPublisher::new(&one, metrics.clone())?);
            }
        }
        Ok(ProducerPool {
            free: Mutex::new((0..size).rev().collect()),
            permits: Semaphore::new(size),
            publishers,
            fencers: Mutex::new(fencers),
        })
    }

    /// Producers that commit (the pool's size).
    pub fn size(&self) -> usize {
        self.publishers.len()
    }

    /// The transactional ids of the producers that commit.
    pub fn transactional_ids(&self) -> Vec<&str> {
        self.publishers
            .iter()
            .map(TransactionalPublisher::transactional_id)
            .collect()
    }

    /// `init_transactions` on every id of the list, in parallel: the pool's own,
    /// then the ones it only fences (their producers are dropped off the path once
    /// initialized). The first error is returned (a retriable one lets the caller
    /// try again: initializing an id twice is harmless).
    pub async fn init(&self) -> Result<(), PublishError> {
        let fencers = std::mem::take(&mut *lock(&self.fencers));
        let results = futures::future::join_all(
            self.publishers
                .iter()
                .chain(fencers.iter())
                .map(TransactionalPublisher::init),
        )
        .await;
        let failed: Vec<TransactionalPublisher> = fencers
            .into_iter()
            .zip(&results[self.publishers.len()..])
            .filter_map(|(fencer, result)| match result {
                Ok(()) => {
                    crate::release::drop_in_background(fencer);
                    None
                }
                Err(_) => Some(fencer),
            })
            .collect();
        // A fencer that failed is kept, to be initialized again by the next call.
        *lock(&self.fencers) = failed;
        results.into_iter().collect()
    }

    /// Takes an idle publisher for one transaction.
    async fn take(&self) -> Result<Taken<'_>, PublishError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PublishError::NotInitialized)?;
        let index = lock(&self.free).pop();
        // The permits count the free indices: one is always there.
        let index = index.ok_or(PublishError::NotInitialized)?;
        Ok(Taken {
            pool: self,
            index,
            _permit: permit,
        })
    }
}

/// One publisher of the pool, given back when dropped.
struct Taken<'p> {
    pool: &'p ProducerPool,
    index: usize,
    _permit: tokio::sync::SemaphorePermit<'p>,
}

impl Taken<'_> {
    fn publisher(&self) -> &TransactionalPublisher {
        &self.pool.publishers[self.index]
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        lock(&self.pool.free).push(self.index);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl TransactionalSink for ProducerPool {
    async fn commit_batch(&self, records: Vec<OutRecord>) -> Result<CommitStats, PublishError> {
        let taken = self.take().await?;
        taken.publisher().commit_batch(records).await
    }

    async fn commit_chunks(
        &self,
        chunks: &mut dyn RecordChunks,
    ) -> Result<CommitStats, PublishError> {
        let taken = self.take().await?;
        taken.publisher().commit_chunks(chunks).await
    }

    fn parallelism(&self) -> usize {
        self.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_with_the_single_producers_id() {
        let ids = transactional_ids("streak-connector.membership");
        assert_eq!(ids.len(), MAX_PRODUCERS);
        assert_eq!(ids[0], "streak-connector.membership");
        assert_eq!(ids[1], "streak-connector.membership.1");
        assert_eq!(ids[7], "streak-connector.membership.7");
    }

    #[test]
    fn the_pool_keeps_its_size_and_fences_the_rest() {
        let metrics = Arc::new(Metrics::new());
        for (asked, size) in [(0, 1), (1, 1), (4, 4), (8, 8), (20, 8)] {
            let mut config = KafkaConfig::new("127.0.0.1:1", "c.membership");
            config.producers = asked;
            let pool = ProducerPool::new(&config, metrics.clone()).expect("builds");
            assert_eq!(pool.size(), size, "asked {asked}");
            assert_eq!(lock(&pool.fencers).len(), MAX_PRODUCERS - size);
            assert_eq!(pool.transactional_ids()[0], "c.membership");
            crate::release::drop_in_background(pool);
        }
    }

    #[tokio::test]
    async fn a_commit_takes_the_last_freed_producer() {
        let mut config = KafkaConfig::new("127.0.0.1:1", "c.membership");
        config.producers = 3;
        let pool = ProducerPool::new(&config, Arc::new(Metrics::new())).expect("builds");
        let a = pool.take().await.expect("one");
        assert_eq!(a.index, 0);
        let b = pool.take().await.expect("two");
        assert_eq!(b.index, 1);
        drop(a);
        let c = pool.take().await.expect("three");
        assert_eq!(c.index, 0, "the last freed one");
        drop((b, c));
        assert_eq!(pool.take().await.expect("again").index, 0);
        crate::release::drop_in_background(pool);
    }
}
