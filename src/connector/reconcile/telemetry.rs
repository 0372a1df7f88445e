//! Internal events of the continuous reconciliation: one struct per occurrence,
//! logging and moving its metric in [`InternalEvent::emit`].

use crate::audit::{DirectoryError, FindingKind};
use crate::metrics::Metrics;
use crate::telemetry::InternalEvent;

/// The findings topic was replayed at start-up.
#[derive(Debug)]
pub(super) struct FindingsRestored<'a> {
    pub(super) topic: &'a str,
    pub(super) records: usize,
    pub(super) organizations: usize,
}

impl InternalEvent for FindingsRestored<'_> {
    fn emit(self, _: &Metrics) {
        tracing::info!(
            topic = self.topic,
            findings = self.records,
            organizations = self.organizations,
            "Published findings restored"
        );
    }
}

/// The directory topic was read to the end it had at start-up.
#[derive(Debug)]
pub(super) struct DirectoryLoaded<'a> {
    pub(super) topic: &'a str,
    pub(super) records: u64,
    pub(super) entries: usize,
}

impl InternalEvent for DirectoryLoaded<'_> {
    fn emit(self, m: &Metrics) {
        tracing::info!(
            topic = self.topic,
            records = self.records,
            entries = self.entries,
            "Directory topic read to its end; findings are judged from now on"
        );
        m.reconcile_directory_entries.set(self.entries as i64);
    }
}

/// A directory record that cannot be used: the entry keeps what it had.
#[derive(Debug)]
pub(super) struct DirectoryRecordRefused<'a> {
    pub(super) topic: &'a str,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) error: &'a DirectoryError,
}

impl InternalEvent for DirectoryRecordRefused<'_> {
    fn emit(self, m: &Metrics) {
        tracing::warn!(
            topic = self.topic,
            partition = self.partition,
            offset = self.offset,
            error = %self.error,
            "Directory record refused; the entry keeps its previous value"
        );
        m.reconcile_directory_refused_total.inc();
    }
}

/// Following the directory topic hit an error (librdkafka retries).
#[derive(Debug)]
pub(super) struct DirectoryFollowLagging<'a> {
    pub(super) topic: &'a str,
    pub(super) error: &'a str,
}

impl InternalEvent for DirectoryFollowLagging<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(
            topic = self.topic,
            error = self.error,
            "Directory topic consumer error; retrying (directory updates may be late)"
        );
    }
}

/// The organization's current findings, by kind (every kind, zeros included).
#[derive(Debug)]
pub(super) struct FindingsCounted<'a> {
    pub(super) org: &'a str,
    pub(super) counts: [(FindingKind, usize); 3],
}

impl InternalEvent for FindingsCounted<'_> {
    fn emit(self, m: &Metrics) {
        for (kind, n) in self.counts {
            m.reconcile_findings
                .with_label_values(&[self.org, kind.as_str()])
                .set(n as i64);
        }
    }
}
