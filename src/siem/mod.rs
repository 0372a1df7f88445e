//! SIEM formats of change events: each [`ChangeEvent`] as one OCSF 1.8.0 record
//! ([`ocsf::record`]) or one Elastic Common Schema document ([`ecs::record`]).
//!
//! Pure mapping, like [`crate::membership`]: no I/O, no clock, no failure, so that
//! the connector's OCSF topic (written in the poll's transaction,
//! [`crate::connector::OcsfOutput`]), `tail --format` and `demo --format`
//! ([`crate::app::format`]) call these functions with the event they already hold. `docs/siem.md` is the reference for the tables,
//! the severity defaults and the choices made, and the golden files in
//! `tests/golden/ocsf/` and `tests/golden/ecs/` pin the output (the OCSF ones are
//! validated against the 1.8.0 schema of their class by `scripts/ocsf-validate.py`).
//!
//! Streak has no audit log: the connector sees changes by comparing listings, never
//! who made them. Neither format invents an actor; both say so in the record
//! ([`NO_ACTOR`]).

pub(crate) mod ecs;
pub(crate) mod ocsf;
mod severity;
mod time;

#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub(crate) use severity::{Severities, Severity};

use crate::membership::{ChangeEvent, EventType, MemberState, SourceInfo};

/// The product name in `metadata.product.name` (OCSF) and `observer.product` (ECS).
pub(crate) const PRODUCT_NAME: &str = "streak-connector";

/// What both formats say about the actor, which they never fill in.
pub(crate) const NO_ACTOR: &str =
    "Streak has no audit log: the connector detects changes by polling \
the organization's member listing, so who made this change is unknown and no actor is reported";

/// The privilege an ADMIN_CHANGED grants or revokes.
pub(crate) const ADMIN_PRIVILEGE: &str = "Streak organization admin";

/// What the mappings need besides the event. The OCSF topic and `tail`/`demo` build
/// one per process (or per decoded record, for the version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiemOptions {
    /// The streak-connector version that produced the event
    /// (`metadata.product.version`, `observer.version`): this build's version for the
    /// connector itself, the record's `source.version` when `tail` re-formats an event
    /// written earlier ([`SiemOptions::for_source`]).
    pub product_version: String,
    /// Severity of each kind of change.
    pub severities: Severities,
    /// Display names of organizations (`group.name`), by organization key. Events
    /// carry only the key, so an organization missing here is named by its key.
    pub org_names: BTreeMap<String, String>,
}

impl Default for SiemOptions {
    fn default() -> Self {
        SiemOptions {
            product_version: env!("CARGO_PKG_VERSION").to_string(),
            severities: Severities::default(),
            org_names: BTreeMap::new(),
        }
    }
}

impl SiemOptions {
    /// Defaults, with the product version of the connector that wrote the event.
    pub fn for_source(source: &SourceInfo) -> SiemOptions {
        SiemOptions {
            product_version: source.version.clone(),
            ..SiemOptions::default()
        }
    }

    pub(crate) fn org_name<'a>(&'a self, org_key: &'a str) -> &'a str {
        self.org_names.get(org_key).map_or(org_key, String::as_str)
    }
}

/// An event as the SIEM formats see it: the event type, refined where the direction
/// matters (ADMIN_CHANGED is a grant, a revocation or a first report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Change {
    Snapshot,
    Joined,
    Left,
    /// Admin now, after `false` or unknown.
    AdminGranted,
    /// Not admin now, after admin.
    AdminRevoked,
    /// Not admin now, after unknown: Streak reported the flag for the first time.
    AdminReported,
    ProfileChanged,
    WentInactive,
    Reactivated,
}

impl Change {
    /// The change an event records.
    pub(crate) fn of(event: &ChangeEvent) -> Change {
        match event.event_type {
            EventType::Snapshot => Change::Snapshot,
            EventType::Joined => Change::Joined,
            EventType::Left => Change::Left,
            EventType::AdminChanged => {
                let before = admin_flag(event.before.as_ref());
                match admin_flag(event.after.as_ref()) {
                    Some(true) => Change::AdminGranted,
                    _ if before == Some(true) => Change::AdminRevoked,
                    _ => Change::AdminReported,
                }
            }
            EventType::ProfileChanged => Change::ProfileChanged,
            EventType::WentInactive => Change::WentInactive,
            EventType::Reactivated => Change::Reactivated,
        }
    }

    /// The configured severity of this change of this event.
    pub(crate) fn severity(self, event: &ChangeEvent, severities: &Severities) -> Severity {
        match self {
            Change::Snapshot => severities.snapshot,
            Change::Joined if admin_flag(event.after.as_ref()) == Some(true) => {
                severities.joined_as_admin
            }
            Change::Joined => severities.joined,
            Change::Left if admin_flag(event.before.as_ref()) == Some(true) => {
                severities.left_as_admin
            }
            Change::Left => severities.left,
            Change::AdminGranted => severities.admin_granted,
            Change::AdminRevoked => severities.admin_revoked,
            Change::AdminReported => severities.admin_reported,
            Change::ProfileChanged => severities.profile_changed,
            Change::WentInactive => severities.went_inactive,
            Change::Reactivated => severities.reactivated,
        }
    }

    /// What happened, for the records' `message`, with `who` the member.
    fn sentence(self, who: &str, org: &str) -> String {
        match self {
            Change::Snapshot => format!("{who} is a member of Streak organization {org} (baseline)"),
            Change::Joined => format!("{who} joined Streak organization {org}"),
            Change::Left => format!("{who} left Streak organization {org}"),
            Change::AdminGranted => format!("{who} became an admin of Streak organization {org}"),
            Change::AdminRevoked => {
                format!("{who} is no longer an admin of Streak organization {org}")
            }
            Change::AdminReported => {
                format!("Streak reports {who} as not an admin of organization {org}")
            }
            Change::ProfileChanged => {
                format!("{who}'s profile changed in Streak organization {org}")
            }
            Change::WentInactive => format!(
                "{who} went inactive in Streak organization {org} (no activity within the connector's threshold)"
            ),
            Change::Reactivated => format!("{who} is active again in Streak organization {org}"),
        }
    }
}

fn admin_flag(state: Option<&MemberState>) -> Option<bool> {
    state.and_then(|s| s.member.is_org_admin)
}

/// The member the event is about, as last seen: `after`, or `before` for LEFT.
pub(crate) fn subject(event: &ChangeEvent) -> Option<&MemberState> {
    event.after.as_ref().or(event.before.as_ref())
}

/// The record's `message`: what happened, then (for a change, not for the baseline
/// of a SNAPSHOT) that the actor is unknown.
pub(crate) fn message(event: &ChangeEvent, change: Change, options: &SiemOptions) -> String {
    let who = subject(event)
        .map(|s| &s.member)
        .and_then(|m| m.display_name.as_deref().or(m.email.as_deref()))
        .unwrap_or(&event.user_key);
    let org = options.org_name(&event.org_key);
    let what = change.sentence(who, org);
    if change == Change::Snapshot {
        format!("{what}.")
    } else {
        format!("{what}. The actor is unknown: Streak has no audit log.")
    }
}

/// The profile fields (schema names) that differ between `before` and `after`: the
/// fields a PROFILE_CHANGED is about.
pub(crate) fn changed_fields(event: &ChangeEvent) -> Vec<&'static str> {
    let (Some(b), Some(a)) = (&event.before, &event.after) else {
        return Vec::new();
    };
    let (b, a) = (&b.member, &a.member);
    [
        ("email", b.email != a.email),
        ("display_name", b.display_name != a.display_name),
        ("first_name", b.first_name != a.first_name),
        ("last_name", b.last_name != a.last_name),
        ("image", b.image != a.image),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

/// "First Last" when Streak gave either part, else the display name.
pub(crate) fn full_name(state: &MemberState) -> Option<String> {
    let m = &state.member;
    let parts: Vec<&str> = [m.first_name.as_deref(), m.last_name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        m.display_name.clone()
    } else {
        Some(parts.join(" "))
    }
}

/// The name Streak shows: the display name, else "First Last".
pub(crate) fn shown_name(state: &MemberState) -> Option<String> {
    state
        .member
        .display_name
        .clone()
        .or_else(|| full_name(state))
}
