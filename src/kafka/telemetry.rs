//! Internal events of the Kafka layer: one struct per occurrence, whose `emit` logs
//! through `tracing` and updates the matching metric. Call sites are one line.
//!
//! This module must not decide anything: it only reports.

use std::time::Duration;

use crate::metrics::Metrics;

/// A topic did not exist and the connector created it.
#[derive(Debug)]
pub(crate) struct TopicCreated<'a> {
    pub(crate) topic: &'a str,
    pub(crate) role: &'static str,
    pub(crate) partitions: i32,
    pub(crate) replication_factor: i32,
}

impl TopicCreated<'_> {
    pub(crate) fn emit(self) {
        tracing::info!(
            topic = self.topic,
            role = self.role,
            partitions = self.partitions,
            replication_factor = self.replication_factor,
            "Created topic"
        );
    }
}

/// The topics were neither created nor checked ([`TopicPolicy::Trust`]).
///
/// [`TopicPolicy::Trust`]: super::TopicPolicy::Trust
#[derive(Debug)]
pub(crate) struct TopicCheckSkipped<'a> {
    pub(crate) events_topic: &'a str,
    pub(crate) state_topic: &'a str,
}

impl TopicCheckSkipped<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(
            events_topic = self.events_topic,
            state_topic = self.state_topic,
            "Topic creation and the state topic's compaction check are skipped (topic policy `trust`): a state topic that is not compacted will lose state"
        );
    }
}

/// The state topic was read to its end.
#[derive(Debug)]
pub(crate) struct StateRestored<'a> {
    pub(crate) metrics: &'a Metrics,
    pub(crate) topic: &'a str,
    pub(crate) partitions: usize,
    pub(crate) records: u64,
    pub(crate) live: usize,
    pub(crate) duration: Duration,
}

impl StateRestored<'_> {
    pub(crate) fn emit(self) {
        let secs = self.duration.as_secs_f64();
        tracing::info!(
            topic = self.topic,
            partitions = self.partitions,
            records = self.records,
            live_entries = self.live,
            duration_ms = self.duration.as_millis() as u64,
            records_per_second = if secs > 0.0 {
                (self.records as f64 / secs) as u64
            } else {
                0
            },
            "Restored state"
        );
        self.metrics.state_restore_duration_seconds.set(secs);
        self.metrics
            .state_restore_records
            .set(i64::try_from(self.records).unwrap_or(i64::MAX));
    }
}

/// `init_transactions` succeeded: any zombie with the same transactional id is
/// fenced and its open transaction aborted.
#[derive(Debug)]
pub(crate) struct TransactionsInitialized<'a> {
    pub(crate) transactional_id: &'a str,
    pub(crate) duration: Duration,
}

impl TransactionsInitialized<'_> {
    pub(crate) fn emit(self) {
        tracing::info!(
            transactional_id = self.transactional_id,
            duration_ms = self.duration.as_millis() as u64,
            "Initialized transactions"
        );
    }
}

/// One batch committed.
#[derive(Debug)]
pub(crate) struct TransactionCommitted<'a> {
    pub(crate) metrics: &'a Metrics,
    pub(crate) records: usize,
    pub(crate) duration: Duration,
}

impl TransactionCommitted<'_> {
    pub(crate) fn emit(self) {
        tracing::debug!(
            records = self.records,
            duration_ms = self.duration.as_millis() as u64,
            "Committed transaction"
        );
        self.metrics
            .transactions_total
            .with_label_values(&["committed"])
            .inc();
    }
}

/// A batch was not committed; the transaction was aborted (or will be, before the
/// next batch) and nothing of it is visible to read-committed consumers.
#[derive(Debug)]
pub(crate) struct TransactionAborted<'a> {
    pub(crate) metrics: &'a Metrics,
    pub(crate) records: usize,
    pub(crate) error_code: &'static str,
    pub(crate) error: &'a dyn std::error::Error,
}

impl TransactionAborted<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(
            records = self.records,
            error_code = self.error_code,
            error = %self.error,
            "Aborted transaction; the cycle will be redone"
        );
        self.metrics
            .transactions_total
            .with_label_values(&["aborted"])
            .inc();
    }
}

/// The producer cannot go on (fenced, or a fatal error): the process must stop.
#[derive(Debug)]
pub(crate) struct TransactionFailed<'a> {
    pub(crate) metrics: &'a Metrics,
    pub(crate) records: usize,
    pub(crate) error_code: &'static str,
    pub(crate) error: &'a dyn std::error::Error,
}

impl TransactionFailed<'_> {
    pub(crate) fn emit(self) {
        tracing::error!(
            records = self.records,
            error_code = self.error_code,
            error = %self.error,
            "Transaction failed; the producer cannot continue"
        );
        self.metrics
            .transactions_total
            .with_label_values(&["fatal"])
            .inc();
    }
}
