//! Delivery reports counted, not awaited one by one.
//!
//! A transaction writes hundreds of thousands of records; a future per record (what
//! rust-rdkafka's `FutureProducer` gives: a channel, a copy of the delivered message
//! and a wake-up each) cost a large share of a first poll's CPU. Here the producer's
//! context counts instead: every record carries the [`Deliveries`] of its
//! transaction, and each report takes its bytes off that count, keeps the first
//! failure, and wakes the writer only when what it waits for has happened (the bytes
//! awaiting delivery fell to its bound, none are left, or one failed).
//!
//! A report of an earlier, aborted transaction counts against that transaction's
//! [`Deliveries`], not the current one: each transaction has its own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};

use super::stats::StatsContext;

/// The transactional producer: librdkafka's delivery reports served on its own
/// polling thread, counted by [`PublisherContext`].
pub(crate) type TxnProducer = ThreadedProducer<PublisherContext>;

/// The transactional producer's context: statistics and log lines as
/// [`StatsContext`] handles them, delivery reports into each record's
/// [`Deliveries`].
#[derive(Debug, Clone)]
pub(crate) struct PublisherContext {
    stats: StatsContext,
}

impl PublisherContext {
    pub(crate) fn new(stats: StatsContext) -> Self {
        PublisherContext { stats }
    }
}

impl ClientContext for PublisherContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, line: &str) {
        self.stats.log(level, fac, line);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.stats.stats_raw(statistics);
    }
}

impl ProducerContext for PublisherContext {
    type DeliveryOpaque = Arc<Deliveries>;

    fn delivery(&self, result: &DeliveryResult<'_>, deliveries: Arc<Deliveries>) {
        match result {
            Ok(msg) => deliveries.delivered(record_bytes(msg.key(), msg.payload()), None),
            Err((e, msg)) => {
                deliveries.delivered(record_bytes(msg.key(), msg.payload()), Some(e));
            }
        }
    }
}

/// The bytes a record counts for while it awaits its report: key and value, as the
/// writer counted them when it queued the record.
pub(crate) fn record_bytes(key: Option<&[u8]>, value: Option<&[u8]>) -> usize {
    key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len)
}

/// The delivery reports of one transaction still awaited, and its first failure.
#[derive(Debug)]
pub(crate) struct Deliveries {
    /// Records queued and not yet reported.
    records: AtomicUsize,
    /// Their key and value bytes.
    bytes: AtomicUsize,
    /// The writer is woken when `bytes` falls to this.
    wake_at: usize,
    failed: AtomicBool,
    failure: Mutex<Option<KafkaError>>,
    wake: tokio::sync::Notify,
}

impl Deliveries {
    /// Counts for a transaction whose writer waits whenever more than `wake_at`
    /// bytes await their reports.
    pub(crate) fn new(wake_at: usize) -> Self {
        Deliveries {
            records: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            wake_at,
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// A record of `bytes` is about to be queued (counted first: its report may come
    /// before the queueing call returns).
    pub(crate) fn queued(&self, bytes: usize) {
        self.records.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// The producer refused the record counted by [`queued`](Self::queued): no report
    /// will come for it.
    pub(crate) fn refused(&self, bytes: usize) {
        self.delivered(bytes, None);
    }

    /// A report of a record of `bytes`, with its error if it failed.
    fn delivered(&self, bytes: usize, error: Option<&KafkaError>) {
        let mut wake = false;
        if let Some(e) = error {
            let mut first = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if first.is_none() {
                *first = Some(e.clone());
            }
            self.failed.store(true, Ordering::Release);
            wake = true;
        }
        let before = self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        wake |= before > self.wake_at && before - bytes <= self.wake_at;
        wake |= self.records.fetch_sub(1, Ordering::AcqRel) == 1;
        if wake {
            self.wake.notify_one();
        }
    }

    /// Records and bytes still awaiting their reports.
    pub(crate) fn awaited(&self) -> (usize, usize) {
        (
            self.records.load(Ordering::Acquire),
            self.bytes.load(Ordering::Acquire),
        )
    }

    /// Whether more bytes await their reports than the writer's bound (`wake_at`).
    pub(crate) fn over_bound(&self) -> bool {
        self.bytes.load(Ordering::Acquire) > self.wake_at
    }

    /// The first failed delivery, if any.
    pub(crate) fn failure(&self) -> Option<KafkaError> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait until the bytes awaited fall to `wake_at`, none are left, or one
    /// failed, or at most `limit`; the caller checks which (a wake-up may also be
    /// left over from an earlier one).
    pub(crate) async fn changed(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.wake.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    #[test]
    fn counts_fall_with_each_report_and_keep_the_first_failure() {
        let d = Deliveries::new(10);
        d.queued(8);
        d.queued(8);
        d.queued(4);
        assert_eq!(d.awaited(), (3, 20));
        d.delivered(8, None);
        assert_eq!(d.awaited(), (2, 12));
        assert!(d.failure().is_none());
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        d.delivered(8, Some(&timed_out));
        d.delivered(4, Some(&KafkaError::Canceled));
        assert_eq!(d.awaited(), (0, 0));
        assert_eq!(d.failure(), Some(timed_out));
    }

    #[test]
    fn a_refused_record_is_no_longer_awaited() {
        let d = Deliveries::new(0);
        d.queued(5);
        d.refused(5);
        assert_eq!(d.awaited(), (0, 0));
        assert!(d.failure().is_none());
    }

    #[tokio::test]
    async fn the_writer_is_woken_when_the_bytes_fall_to_its_bound() {
        let d = Arc::new(Deliveries::new(10));
        for _ in 0..3 {
            d.queued(6);
        }
        let reporter = {
            let d = Arc::clone(&d);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                d.delivered(6, None); // 12 left: above the bound, no wake-up
                d.delivered(6, None); // 6 left: woken
            })
        };
        // Far longer than the reports take: returning early means it was woken.
        let started = std::time::Instant::now();
        while d.over_bound() {
            d.changed(Duration::from_secs(30)).await;
        }
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(d.awaited(), (1, 6));
        reporter.join().expect("reporter");
    }

    #[tokio::test]
    async fn the_writer_is_woken_by_the_last_report() {
        let d = Arc::new(Deliveries::new(usize::MAX));
        d.queued(1);
        let reporter = {
            let d = Arc::clone(&d);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                d.delivered(1, None);
            })
        };
        let started = std::time::Instant::now();
        while d.awaited().0 > 0 {
            d.changed(Duration::from_secs(30)).await;
        }
        assert!(started.elapsed() < Duration::from_secs(20));
        reporter.join().expect("reporter");
    }
}
