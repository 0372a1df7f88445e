//! The roster of an organization (every member, the audit) and its inactive review
//! (the offboarding list), from the connector's state or from a live listing.
//!
//! Inactivity is the connector's rule, [`crate::membership::is_inactive`], never a
//! copy of it. From the state, it is also bound by the connector's own judgement:
//! the state's `last_seen_ms` is the value at the member's last state write (a
//! last-seen that only moved forward is not written), so for a member the connector
//! judged active at its last poll the stored value can be long out of date, and the
//! rule alone would flag people who used Streak this morning. A member is inactive
//! in a state roster when the connector judged it so at its last poll *and* the
//! rule holds for the stored activity at `now` with the given threshold. That is
//! exact for the connector's threshold or a longer one; a shorter threshold than
//! the connector ran with needs a live roster.

use crate::membership::{is_inactive, Listing, Member, MemberState, OrgState};

/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Printed with every inactive review.
pub(crate) const REMOVAL_NOTE: &str =
    "Removal is done in the Streak UI: the Streak API cannot delete users.";

/// Where a roster's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RosterSource {
    /// The connector's state (the state topic).
    State,
    /// A listing fetched from Streak now.
    Live,
}

/// One member in a roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RosterRow {
    pub user_key: String,
    pub email: Option<String>,
    /// The display name, else first and last name joined.
    pub display_name: Option<String>,
    /// `None`: Streak did not say.
    pub is_org_admin: Option<bool>,
    pub inactive: bool,
    /// From the state: the value at the member's last state write.
    pub last_seen_ms: Option<i64>,
    /// Streak's account creation time (the activity fallback of the rule).
    pub creation_ms: Option<i64>,
    /// When the connector first saw the member (`None` in a live roster).
    pub first_seen_ms: Option<i64>,
    /// When the connector last emitted an event for the member (`None` live).
    pub last_changed_ms: Option<i64>,
}

impl RosterRow {
    /// The activity time the inactivity rule uses: last seen, else creation.
    pub(crate) fn activity_ms(&self) -> Option<i64> {
        self.last_seen_ms.or(self.creation_ms)
    }
}

/// An organization's members at `as_of_ms`, sorted by email (members without one
/// last), then user key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Roster {
    pub org_key: String,
    pub source: RosterSource,
    /// The `now` the roster was judged at.
    pub as_of_ms: i64,
    pub inactive_after_ms: i64,
    /// The organization's last successful poll (the checkpoint); `None` live or
    /// before the first poll.
    pub last_poll_ms: Option<i64>,
    pub rows: Vec<RosterRow>,
}

/// A member's display name, else first and last name joined.
pub(crate) fn display_name(m: &Member) -> Option<String> {
    if let Some(d) = m.display_name.as_ref().filter(|d| !d.trim().is_empty()) {
        return Some(d.clone());
    }
    let parts: Vec<&str> = [&m.first_name, &m.last_name]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn row(
    m: &Member,
    inactive: bool,
    first_seen: Option<i64>,
    last_changed: Option<i64>,
) -> RosterRow {
    RosterRow {
        user_key: m.key.clone(),
        email: m.email.clone(),
        display_name: display_name(m),
        is_org_admin: m.is_org_admin,
        inactive,
        last_seen_ms: m.last_seen_ms,
        creation_ms: m.creation_ms,
        first_seen_ms: first_seen,
        last_changed_ms: last_changed,
    }
}

fn sorted(mut rows: Vec<RosterRow>) -> Vec<RosterRow> {
    rows.sort_by(|a, b| {
        let email = |r: &RosterRow| r.email.as_ref().map(|e| e.trim().to_lowercase());
        (email(a).is_none(), email(a), &a.user_key).cmp(&(
            email(b).is_none(),
            email(b),
            &b.user_key,
        ))
    });
    rows
}

/// Whether a stored member is inactive at `now_ms` (see the module docs).
pub(crate) fn state_inactive(state: &MemberState, now_ms: i64, inactive_after_ms: i64) -> bool {
    state.inactive && is_inactive(&state.member, now_ms, inactive_after_ms)
}

/// The roster of an organization from the connector's state.
pub(crate) fn roster_from_state(state: &OrgState, now_ms: i64, inactive_after_ms: i64) -> Roster {
    let rows = state
        .iter()
        .map(|s| {
            let inactive = state_inactive(&s, now_ms, inactive_after_ms);
            row(
                &s.member,
                inactive,
                Some(s.first_seen_ms),
                Some(s.last_changed_ms),
            )
        })
        .collect();
    Roster {
        org_key: state.org_key().to_owned(),
        source: RosterSource::State,
        as_of_ms: now_ms,
        inactive_after_ms,
        last_poll_ms: state.checkpoint().map(|c| c.last_poll_ms),
        rows: sorted(rows),
    }
}

/// The roster of an organization from a listing fetched now.
pub(crate) fn roster_from_listing(
    org_key: &str,
    listing: &Listing,
    now_ms: i64,
    inactive_after_ms: i64,
) -> Roster {
    let rows = listing
        .members
        .iter()
        .map(|m| row(m, is_inactive(m, now_ms, inactive_after_ms), None, None))
        .collect();
    Roster {
        org_key: org_key.to_owned(),
        source: RosterSource::Live,
        as_of_ms: now_ms,
        inactive_after_ms,
        last_poll_ms: None,
        rows: sorted(rows),
    }
}

/// One member of the inactive review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InactiveRow {
    pub user_key: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub is_org_admin: Option<bool>,
    /// The activity the rule judged: last seen, else creation.
    pub activity_ms: i64,
    /// Whether `activity_ms` is the creation time (the member was never seen).
    pub never_seen: bool,
    /// Whole days from `activity_ms` to the review's `as_of_ms`.
    pub days_idle: i64,
}

/// The inactive members of an organization, longest idle first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InactiveReview {
    pub org_key: String,
    pub as_of_ms: i64,
    pub inactive_after_ms: i64,
    pub last_poll_ms: Option<i64>,
    pub rows: Vec<InactiveRow>,
}

/// The roster's inactive members, longest idle first (then by email, user key).
pub(crate) fn inactive_review(roster: &Roster) -> InactiveReview {
    let mut rows: Vec<InactiveRow> = roster
        .rows
        .iter()
        .filter(|r| r.inactive)
        .filter_map(|r| {
            // The rule never judges a member without activity inactive.
            let activity = r.activity_ms()?;
            Some(InactiveRow {
                user_key: r.user_key.clone(),
                email: r.email.clone(),
                display_name: r.display_name.clone(),
                is_org_admin: r.is_org_admin,
                activity_ms: activity,
                never_seen: r.last_seen_ms.is_none(),
                days_idle: roster.as_of_ms.saturating_sub(activity).div_euclid(DAY_MS),
            })
        })
        .collect();
    // Rows arrive sorted by email: a stable sort keeps that order among equals.
    rows.sort_by_key(|r| r.activity_ms);
    InactiveReview {
        org_key: roster.org_key.clone(),
        as_of_ms: roster.as_of_ms,
        inactive_after_ms: roster.inactive_after_ms,
        last_poll_ms: roster.last_poll_ms,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::Checkpoint;

    const NOW: i64 = 1_800_000_000_000;
    const AFTER: i64 = 30 * DAY_MS;

    fn member(key: &str, email: Option<&str>, seen_days_ago: Option<i64>) -> Member {
        Member {
            key: key.into(),
            email: email.map(Into::into),
            first_name: Some("Ann".into()),
            last_name: Some(key.into()),
            is_org_admin: Some(key.starts_with("admin")),
            last_seen_ms: seen_days_ago.map(|d| NOW - d * DAY_MS),
            creation_ms: Some(NOW - 900 * DAY_MS),
            ..Member::default()
        }
    }

    fn stored(m: Member, inactive: bool) -> MemberState {
        MemberState {
            member: m,
            inactive,
            first_seen_ms: NOW - 400 * DAY_MS,
            last_changed_ms: NOW - 40 * DAY_MS,
        }
    }

    #[test]
    fn live_roster_applies_the_rule_and_sorts_by_email() {
        let listing = Listing {
            members: vec![
                member("u3", Some("Zed@corp.com"), Some(1)),
                member("u1", None, Some(90)),
                member("admin", Some("amy@corp.com"), Some(31)),
                member("u2", Some("bob@corp.com"), None),
            ],
            complete: true,
        };
        let r = roster_from_listing("org", &listing, NOW, AFTER);
        let keys: Vec<&str> = r.rows.iter().map(|r| r.user_key.as_str()).collect();
        assert_eq!(keys, ["admin", "u2", "u3", "u1"]);
        let inactive: Vec<bool> = r.rows.iter().map(|r| r.inactive).collect();
        // bob was never seen: creation (900 days ago) is his activity.
        assert_eq!(inactive, [true, true, false, true]);
        assert_eq!(r.rows[2].display_name.as_deref(), Some("Ann u3"));
        assert_eq!((r.last_poll_ms, r.rows[0].first_seen_ms), (None, None));
    }

    #[test]
    fn state_roster_trusts_the_connector_for_stale_last_seen() {
        let mut state = OrgState::new("org");
        // Stored last seen 60 days ago, but the connector judged her active at its
        // last poll: her real activity moved on without a state write.
        state.insert(stored(member("u1", Some("ann@corp.com"), Some(60)), false));
        state.insert(stored(member("u2", Some("bob@corp.com"), Some(45)), true));
        state.set_checkpoint(Checkpoint {
            org_key: "org".into(),
            poll_seq: 9,
            last_poll_ms: NOW - 60_000,
            member_count: 2,
            incarnation: None,
        });
        let r = roster_from_state(&state, NOW, AFTER);
        assert_eq!(r.last_poll_ms, Some(NOW - 60_000));
        assert!(!r.rows[0].inactive);
        assert!(r.rows[1].inactive);
        assert_eq!(r.rows[1].first_seen_ms, Some(NOW - 400 * DAY_MS));
        assert_eq!(r.rows[1].last_changed_ms, Some(NOW - 40 * DAY_MS));
        // A longer threshold than the connector's is honoured...
        assert!(!roster_from_state(&state, NOW, 50 * DAY_MS).rows[1].inactive);
        // ...and the connector's own judgement is not enough on its own.
        assert!(!state_inactive(
            &stored(member("x", None, Some(2)), true),
            NOW,
            AFTER
        ));
    }

    #[test]
    fn review_is_longest_idle_first_with_whole_days() {
        let listing = Listing {
            members: vec![
                member("u1", Some("c@corp.com"), Some(45)),
                member("admin", Some("b@corp.com"), Some(400)),
                member("u2", Some("a@corp.com"), Some(45)),
                member("u3", Some("d@corp.com"), Some(3)),
                member("u4", Some("e@corp.com"), None),
            ],
            complete: true,
        };
        let mut roster = roster_from_listing("org", &listing, NOW, AFTER);
        roster.as_of_ms += DAY_MS / 2;
        let review = inactive_review(&roster);
        let got: Vec<(&str, i64, bool)> = review
            .rows
            .iter()
            .map(|r| (r.user_key.as_str(), r.days_idle, r.never_seen))
            .collect();
        assert_eq!(
            got,
            [
                ("u4", 900, true),
                ("admin", 400, false),
                ("u2", 45, false),
                ("u1", 45, false)
            ]
        );
        assert_eq!(review.rows[1].is_org_admin, Some(true));
        assert!(REMOVAL_NOTE.contains("Streak UI"));
    }
}
