//! Internal events of the guard's holds and the operator's decisions on them.

use super::holds::{Decision, Hold, HoldKind};
use crate::metrics::{Metrics, PollResult};
use crate::telemetry::InternalEvent;

/// A poll would turn more members inactive at once than the limits allow: held.
#[derive(Debug)]
pub(crate) struct InactivityGuardTripped<'a> {
    pub(crate) org: &'a str,
    pub(crate) turning_inactive: usize,
    pub(crate) known: usize,
}

impl InternalEvent for InactivityGuardTripped<'_> {
    fn emit(self, m: &Metrics) {
        tracing::error!(
            org = self.org,
            turning_inactive = self.turning_inactive,
            known = self.known,
            reason = "mass_inactivity",
            release = format!(
                "streak-connector guard release --org {} --expect {}",
                self.org, self.turning_inactive
            ),
            "Inactivity guard holds the organization; nothing written"
        );
        m.polls_total
            .with_label_values(&[self.org, PollResult::Held.as_str()])
            .inc();
        m.inactivity_guard_tripped
            .with_label_values(&[self.org])
            .set(1);
    }
}

/// A poll over a hold the operator rejected: nothing written, not alerting.
#[derive(Debug)]
pub(crate) struct HoldRejectedStill<'a> {
    pub(crate) org: &'a str,
    pub(crate) kind: HoldKind,
}

impl InternalEvent for HoldRejectedStill<'_> {
    fn emit(self, m: &Metrics) {
        tracing::info!(
            org = self.org,
            kind = self.kind.as_str(),
            "The rejected hold stands (the listing has not changed); nothing written"
        );
        m.polls_total
            .with_label_values(&[self.org, PollResult::Held.as_str()])
            .inc();
        tripped_gauge(m, self.kind)
            .with_label_values(&[self.org])
            .set(0);
    }
}

fn tripped_gauge(m: &Metrics, kind: HoldKind) -> &prometheus::IntGaugeVec {
    match kind {
        HoldKind::Departures => &m.departure_guard_tripped,
        HoldKind::Inactivity => &m.inactivity_guard_tripped,
    }
}

/// A poll that is not held voided the organization's hold (and its decision).
#[derive(Debug)]
pub(crate) struct HoldDiscarded<'a> {
    pub(crate) hold: &'a Hold,
}

impl InternalEvent for HoldDiscarded<'_> {
    fn emit(self, m: &Metrics) {
        let h = self.hold;
        tracing::warn!(
            org = h.org.as_str(),
            kind = h.kind.as_str(),
            poll_seq = h.poll_seq,
            count = h.count,
            decision = h.decision.map_or("none", Decision::as_str),
            "A poll that is not held discarded the hold and any decision on it"
        );
        tripped_gauge(m, h.kind).with_label_values(&[&h.org]).set(0);
    }
}

/// An operator released or rejected a hold (the audit line of the decision).
#[derive(Debug)]
pub(crate) struct GuardDecided<'a> {
    pub(crate) hold: &'a Hold,
    pub(crate) decision: Decision,
}

impl InternalEvent for GuardDecided<'_> {
    fn emit(self, m: &Metrics) {
        let h = self.hold;
        tracing::warn!(
            audit = true,
            org = h.org.as_str(),
            kind = h.kind.as_str(),
            decision = self.decision.as_str(),
            poll_seq = h.poll_seq,
            count = h.count,
            digest = h.digest.as_str(),
            "Guard hold {} by an operator",
            match self.decision {
                Decision::Release => "released",
                Decision::Reject => "rejected",
            }
        );
        m.guard_decisions_total
            .with_label_values(&[&h.org, h.kind.as_str(), self.decision.as_str()])
            .inc();
    }
}
