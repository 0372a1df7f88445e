//! Internal events of the Kafka layer: one struct per occurrence, whose
//! [`InternalEvent::emit`] logs through `tracing` and updates the matching metric.
//! Call sites are one line.
//!
//! This module must not decide anything: it only reports.

use std::collections::BTreeSet;
use std::time::Duration;

use super::restored::RecordAt;
use crate::metrics::{Metrics, TransactionResult};
use crate::telemetry::InternalEvent;

/// A topic did not exist and the connector created it.
#[derive(Debug)]
pub(crate) struct TopicCreated<'a> {
    pub(crate) topic: &'a str,
    pub(crate) role: &'static str,
    pub(crate) partitions: i32,
    pub(crate) replication_factor: i32,
}

impl InternalEvent for TopicCreated<'_> {
    fn emit(self, _: &Metrics) {
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
    pub(crate) ocsf_topic: Option<&'a str>,
}

impl InternalEvent for TopicCheckSkipped<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(
            events_topic = self.events_topic,
            state_topic = self.state_topic,
            ocsf_topic = self.ocsf_topic,
            "Topic creation and the state topic's compaction check are skipped (topic policy `trust`): a state topic that is not compacted will lose state"
        );
    }
}

/// The state topic was read to its end.
#[derive(Debug)]
pub(crate) struct StateRestored<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partitions: usize,
    pub(crate) records: u64,
    pub(crate) live: usize,
    pub(crate) duration: Duration,
    /// `own` or `librdkafka`.
    pub(crate) reader: &'static str,
}

impl InternalEvent for StateRestored<'_> {
    fn emit(self, metrics: &Metrics) {
        let secs = self.duration.as_secs_f64();
        tracing::info!(
            topic = self.topic,
            partitions = self.partitions,
            records = self.records,
            live_entries = self.live,
            duration_ms = self.duration.as_millis() as u64,
            reader = self.reader,
            records_per_second = if secs > 0.0 {
                (self.records as f64 / secs) as u64
            } else {
                0
            },
            "Restored state"
        );
        metrics.state_restore_duration_seconds.set(secs);
        metrics
            .state_restore_records
            .set(i64::try_from(self.records).unwrap_or(i64::MAX));
    }
}

/// The connector's own reader of the state topic could not finish: librdkafka's
/// consumer reads the topic again from its start.
#[derive(Debug)]
pub(crate) struct RestoreFellBack<'a> {
    pub(crate) topic: &'a str,
    pub(crate) reason: &'a dyn std::error::Error,
}

impl InternalEvent for RestoreFellBack<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(
            topic = self.topic,
            reason = %self.reason,
            "The restore's own reader cannot read this cluster or topic; reading it again through librdkafka (set kafka.restore_reader = \"librdkafka\" to skip the attempt)"
        );
        metrics.state_restore_fallbacks_total.inc();
    }
}

/// `init_transactions` succeeded: any zombie with the same transactional id is
/// fenced and its open transaction aborted.
#[derive(Debug)]
pub(crate) struct TransactionsInitialized<'a> {
    pub(crate) transactional_id: &'a str,
    pub(crate) duration: Duration,
}

impl InternalEvent for TransactionsInitialized<'_> {
    fn emit(self, _: &Metrics) {
        tracing::info!(
            transactional_id = self.transactional_id,
            duration_ms = self.duration.as_millis() as u64,
            "Initialized transactions"
        );
    }
}

/// One batch committed.
#[derive(Debug)]
pub(crate) struct TransactionCommitted {
    pub(crate) records: usize,
    pub(crate) duration: Duration,
}

impl InternalEvent for TransactionCommitted {
    fn emit(self, metrics: &Metrics) {
        tracing::debug!(
            records = self.records,
            duration_ms = self.duration.as_millis() as u64,
            "Committed transaction"
        );
        metrics
            .transactions_total
            .with_label_values(&[TransactionResult::Committed.as_str()])
            .inc();
    }
}

/// A batch was not committed; the transaction was aborted (or will be, before the
/// next batch) and nothing of it is visible to read-committed consumers.
#[derive(Debug)]
pub(crate) struct TransactionAborted<'a> {
    pub(crate) records: usize,
    pub(crate) error_code: &'static str,
    pub(crate) error: &'a dyn std::error::Error,
}

impl InternalEvent for TransactionAborted<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(
            records = self.records,
            error_code = self.error_code,
            error = %self.error,
            "Aborted transaction; the cycle will be redone"
        );
        metrics
            .transactions_total
            .with_label_values(&[TransactionResult::Aborted.as_str()])
            .inc();
    }
}

/// The producer cannot go on (fenced, or a fatal error): the process must stop.
#[derive(Debug)]
pub(crate) struct TransactionFailed<'a> {
    pub(crate) records: usize,
    pub(crate) error_code: &'static str,
    pub(crate) error: &'a dyn std::error::Error,
}

impl InternalEvent for TransactionFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(
            records = self.records,
            error_code = self.error_code,
            error = %self.error,
            "Transaction failed; the producer cannot continue"
        );
        metrics
            .transactions_total
            .with_label_values(&[TransactionResult::Fatal.as_str()])
            .inc();
    }
}

/// The restore met the records `kafka.skip_state_records` names (each read as never
/// written: logged and counted), or did not meet some of them (compacted away, or a
/// typo).
#[derive(Debug)]
pub(crate) struct StateRecordsSkipped<'a> {
    pub(crate) topic: &'a str,
    pub(crate) configured: &'a BTreeSet<RecordAt>,
    pub(crate) met: &'a BTreeSet<RecordAt>,
}

impl InternalEvent for StateRecordsSkipped<'_> {
    fn emit(self, metrics: &Metrics) {
        for at in self.met {
            tracing::warn!(
                topic = self.topic,
                record = %at,
                "State record skipped (kafka.skip_state_records): read as never written"
            );
            metrics.state_records_skipped_total.inc();
        }
        for at in self.configured.difference(self.met) {
            tracing::warn!(
                topic = self.topic,
                record = %at,
                "State record to skip not found (compacted away, or a wrong partition or offset); remove it from kafka.skip_state_records"
            );
        }
    }
}

/// A restore worker panicked; the restore fails.
#[derive(Debug)]
pub(crate) struct RestoreWorkerPanicked<'a> {
    pub(crate) error: &'a dyn std::error::Error,
}

impl InternalEvent for RestoreWorkerPanicked<'_> {
    fn emit(self, _: &Metrics) {
        tracing::error!(error = %self.error, "Restore worker panicked");
    }
}

/// `commit_transaction` or `abort_transaction` answered a retriable error before
/// its deadline: librdkafka goes on with it in the background and the call is
/// resumed.
#[derive(Debug)]
pub(crate) struct TransactionEndResumed<'a> {
    /// `commit` or `abort`.
    pub(crate) what: &'static str,
    pub(crate) error: &'a dyn std::error::Error,
}

impl InternalEvent for TransactionEndResumed<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(
            what = self.what,
            error = %self.error,
            "Transaction {} not confirmed yet; resuming it",
            self.what
        );
    }
}
