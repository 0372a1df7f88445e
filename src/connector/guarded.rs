//! The guards between the diff and the commit: the departure guard (its verdict
//! is [`crate::membership`]'s) and the inactivity guard, both answered by an
//! operator's decision bound to the hold ([`super::holds`]).
//!
//! The listing ends here: what the poll goes on with is its compact changes, each
//! changed member packed once, and the listing is dropped on the way out.

use super::context::PollContext;
use super::hold_events::{HoldDiscarded, HoldRejectedStill, InactivityGuardTripped};
use super::holds::{Concerned, HoldKind, HoldOutcome};
use super::telemetry::DepartureGuardTripped;
use crate::membership::{self, GuardRelease, GuardVerdict, Listing, OrgState, PollChanges};
use crate::telemetry::InternalEvent as _;

/// The changes to commit, or `None` when the poll is held (reported here).
pub(super) fn guarded(
    ctx: &PollContext,
    org: &str,
    state: &OrgState,
    listing: Listing,
    now_ms: i64,
) -> Option<PollChanges> {
    let poll_seq = state.checkpoint().map_or(0, |c| c.poll_seq) + 1;
    let plan = membership::plan(state, &listing, now_ms, &ctx.settings);
    let verdict = plan.verdict(state, &ctx.settings, None);
    if let GuardVerdict::Held {
        departures,
        known,
        reason,
        ..
    } = &verdict
    {
        let concerned = Concerned::departing(state, &listing);
        let kind = HoldKind::Departures;
        return match ctx
            .holds
            .held(org, kind, poll_seq, *known, reason.as_str(), &concerned)
        {
            HoldOutcome::Released => {
                let release = GuardRelease {
                    org_key: org.to_string(),
                    expected_departures: *departures,
                };
                let released = plan.verdict(state, &ctx.settings, Some(&release));
                // The same listing and state: the guard lets exactly this through.
                matches!(released, GuardVerdict::Released { .. })
                    .then(|| plan.changes(state, &listing, released))
            }
            HoldOutcome::Rejected => {
                HoldRejectedStill { org, kind }.emit(&ctx.metrics);
                None
            }
            HoldOutcome::Held { .. } => {
                DepartureGuardTripped {
                    org,
                    departures: *departures,
                    known: *known,
                    reason: reason.as_str(),
                }
                .emit(&ctx.metrics);
                None
            }
        };
    }
    let known = state.len();
    let inactive = Concerned::turning_inactive(plan.turning_inactive(&listing));
    if ctx.inactivity.trips(inactive.len(), known) {
        let kind = HoldKind::Inactivity;
        return match ctx
            .holds
            .held(org, kind, poll_seq, known, "mass_inactivity", &inactive)
        {
            HoldOutcome::Released => Some(plan.changes(state, &listing, verdict)),
            HoldOutcome::Rejected => {
                HoldRejectedStill { org, kind }.emit(&ctx.metrics);
                None
            }
            HoldOutcome::Held { .. } => {
                InactivityGuardTripped {
                    org,
                    turning_inactive: inactive.len(),
                    known,
                }
                .emit(&ctx.metrics);
                None
            }
        };
    }
    if let Some(hold) = ctx.holds.not_held(org) {
        HoldDiscarded { hold: &hold }.emit(&ctx.metrics);
    }
    Some(plan.changes(state, &listing, verdict))
}
