//! Internal events of the poll cycle and the start-up: one struct per occurrence,
//! whose [`InternalEvent::emit`] logs through `tracing` and updates the metrics, so
//! a call site is one line. (Not the product's change events: those are
//! [`crate::membership::ChangeEvent`].)

use std::time::Duration;

use crate::membership::EventType;
use crate::metrics::{Metrics, PollResult};
use crate::telemetry::InternalEvent;

/// A poll committed its transaction.
#[derive(Debug)]
pub(crate) struct PollSucceeded<'a> {
    pub org: &'a str,
    pub poll_seq: u64,
    pub duration: Duration,
    /// Events published, by type.
    pub events: &'a [(EventType, u64)],
    pub members: usize,
    pub admins: usize,
    pub inactive: usize,
    /// Connector clock at the poll, epoch ms.
    pub now_ms: i64,
}

impl InternalEvent for PollSucceeded<'_> {
    fn emit(self, m: &Metrics) {
        let total: u64 = self.events.iter().map(|(_, n)| n).sum();
        tracing::info!(
            org = self.org,
            poll_seq = self.poll_seq,
            events = total,
            members = self.members,
            duration_ms = self.duration.as_millis() as u64,
            "Poll committed"
        );
        m.poll_duration_seconds
            .with_label_values(&[self.org])
            .observe(self.duration.as_secs_f64());
        for (t, n) in self.events {
            m.events_total
                .with_label_values(&[self.org, t.as_str()])
                .inc_by(*n);
        }
        m.members
            .with_label_values(&[self.org])
            .set(self.members as i64);
        m.admins
            .with_label_values(&[self.org])
            .set(self.admins as i64);
        m.inactive_members
            .with_label_values(&[self.org])
            .set(self.inactive as i64);
        m.last_success_timestamp_seconds
            .with_label_values(&[self.org])
            .set(self.now_ms as f64 / 1000.0);
        m.departure_guard_tripped
            .with_label_values(&[self.org])
            .set(0);
        // Last: whoever sees the success counted (a dashboard, an alert, a test
        // waiting for the first poll) finds this poll's gauges already written.
        m.polls_total
            .with_label_values(&[self.org, PollResult::Success.as_str()])
            .inc();
    }
}

/// A poll failed; nothing was written (or its transaction was aborted).
#[derive(Debug)]
pub(crate) struct PollFailed<'a> {
    pub org: &'a str,
    /// Fixed code for the metric label and alert routing.
    pub error_code: &'static str,
    pub error: &'a (dyn std::error::Error + 'a),
    pub duration: Duration,
    /// Whether an operator must act (revoked key, retired API): logged at ERROR.
    pub operator_action: bool,
}

impl InternalEvent for PollFailed<'_> {
    fn emit(self, m: &Metrics) {
        if self.operator_action {
            tracing::error!(org = self.org, error_code = self.error_code, error = %self.error, "Poll failed; operator action needed");
        } else {
            tracing::warn!(org = self.org, error_code = self.error_code, error = %self.error, "Poll failed");
        }
        m.polls_total
            .with_label_values(&[self.org, PollResult::Failure.as_str()])
            .inc();
        m.poll_duration_seconds
            .with_label_values(&[self.org])
            .observe(self.duration.as_secs_f64());
    }
}

/// The departure guard held an organization's poll: nothing written.
#[derive(Debug)]
pub(crate) struct DepartureGuardTripped<'a> {
    pub org: &'a str,
    pub departures: usize,
    pub known: usize,
    pub reason: &'a str,
}

impl InternalEvent for DepartureGuardTripped<'_> {
    fn emit(self, m: &Metrics) {
        tracing::error!(
            org = self.org,
            departures = self.departures,
            known = self.known,
            reason = self.reason,
            release = format!(
                "streak-connector guard release --org {} --expect {}",
                self.org, self.departures
            ),
            "Departure guard holds the organization; nothing written"
        );
        m.polls_total
            .with_label_values(&[self.org, PollResult::Held.as_str()])
            .inc();
        m.departure_guard_tripped
            .with_label_values(&[self.org])
            .set(1);
    }
}

/// An operator's release let a held poll through, and it committed.
#[derive(Debug)]
pub(crate) struct DepartureGuardReleaseUsed<'a> {
    pub org: &'a str,
    /// `departures` or `inactivity`.
    pub kind: &'a str,
}

impl InternalEvent for DepartureGuardReleaseUsed<'_> {
    fn emit(self, m: &Metrics) {
        if self.kind == "inactivity" {
            tracing::warn!(
                org = self.org,
                kind = self.kind,
                "Inactivity guard release used"
            );
            m.inactivity_guard_tripped
                .with_label_values(&[self.org])
                .set(0);
        } else {
            tracing::warn!(
                org = self.org,
                kind = self.kind,
                "Departure guard release used"
            );
        }
    }
}

/// An API key's organization is known: its series are exported and its restored
/// state taken over.
#[derive(Debug)]
pub(crate) struct OrganizationResolved<'a> {
    pub org: &'a str,
    /// Keys in the organization's pool.
    pub keys: usize,
    pub known_members: usize,
    pub poll_seq: u64,
}

impl InternalEvent for OrganizationResolved<'_> {
    fn emit(self, m: &Metrics) {
        m.register_org(self.org);
        m.members
            .with_label_values(&[self.org])
            .set(self.known_members as i64);
        tracing::info!(
            org = self.org,
            api_keys = self.keys,
            known_members = self.known_members,
            poll_seq = self.poll_seq,
            "Organization resolved"
        );
    }
}

/// Start-up folded the restored state records into organizations. (The restore
/// gauges belong to the read itself: [`crate::kafka`]'s `StateRestored`.)
#[derive(Debug)]
pub(crate) struct OrganizationsRestored {
    pub records: u64,
    /// Writer schemas fetched from the registry before the read.
    pub writer_schemas: usize,
    pub organizations: usize,
    pub members: usize,
    /// Schemas, read and fold together.
    pub duration: Duration,
}

impl InternalEvent for OrganizationsRestored {
    fn emit(self, _: &Metrics) {
        tracing::info!(
            records = self.records,
            writer_schemas = self.writer_schemas,
            organizations = self.organizations,
            members = self.members,
            duration_ms = self.duration.as_millis() as u64,
            "Organizations restored"
        );
    }
}

/// A member was left out of a poll: one of its records is larger than the producer
/// sends. Its state does not move on, so the change comes back at the next poll
/// (and is left out again while it is too large): an operator must look.
#[derive(Debug)]
pub(crate) struct MemberLeftOut<'a> {
    pub org: &'a str,
    pub member: &'a super::record_size::LeftOut,
    pub limit: super::record_size::RecordLimit,
}

impl InternalEvent for MemberLeftOut<'_> {
    fn emit(self, m: &Metrics) {
        tracing::error!(
            org = self.org,
            user_key = ?self.member.user_key,
            bytes = self.member.bytes,
            limit_bytes = self.limit.max_bytes,
            topic = %self.member.topic,
            "Member left out of the poll: a record of theirs is larger than the producer's message.max.bytes; their state stays as last committed and the change is retried at the next poll"
        );
        m.members_left_out_total
            .with_label_values(&[self.org])
            .inc();
    }
}
