//! The guard's holds and the operator's decisions on them, shared by the poll
//! cycle (which records a hold and asks whether it is released) and the admin API
//! (which shows the holds and records a release or a rejection).
//!
//! A decision is bound to the hold it answers: the organization, the poll number
//! the hold would have committed, and the digest of the exact set of members it
//! concerns (departing, or turning inactive). A poll that is not held, or held over
//! another set, discards the hold and its decision; a release for an organization
//! that is not held is refused.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::membership::{Listing, Member, OrgState};

/// What a hold holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// A mass departure (the departure guard).
    Departures,
    /// Many members turning inactive at once (a clock jump, most likely).
    Inactivity,
}

impl HoldKind {
    pub const ALL: [HoldKind; 2] = [HoldKind::Departures, HoldKind::Inactivity];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Departures => "departures",
            HoldKind::Inactivity => "inactivity",
        }
    }
}

/// An operator's answer to a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Let the held poll through, once.
    Release,
    /// Keep the members as they are and stop holding until the listing changes.
    Reject,
}

impl Decision {
    pub const ALL: [Decision; 2] = [Decision::Release, Decision::Reject];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Release => "release",
            Decision::Reject => "reject",
        }
    }
}

/// A read-only view of one hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hold {
    pub org: String,
    pub kind: HoldKind,
    /// The poll number the held poll would have committed.
    pub poll_seq: u64,
    /// Members concerned (departing, or turning inactive).
    pub count: usize,
    /// Members known before the poll.
    pub known: usize,
    /// Why (`too_many_departures`, `empty_listing`, `mass_inactivity`).
    pub reason: String,
    /// The emails (or user keys, for members without one) concerned, sorted.
    pub members: Vec<String>,
    /// SHA-256 of the sorted user keys concerned, hex.
    pub digest: String,
    /// The operator's decision, if any.
    pub decision: Option<Decision>,
}

/// Why the admin API refused a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionRefused {
    #[error("organization {0:?} is not held")]
    NotHeld(String),
    #[error(
        "the hold of {org} concerns {actual} members, not {expected}: read `guard status` again"
    )]
    CountMismatch {
        org: String,
        expected: usize,
        actual: usize,
    },
}

/// The holds of every organization, at most one each.
#[derive(Debug, Default)]
pub struct Holds {
    by_org: Mutex<BTreeMap<String, Hold>>,
}

/// The set of members a hold concerns: user keys (for the digest) and what an
/// operator reads (email, else the key).
#[derive(Debug, Clone, Default)]
pub struct Concerned {
    keys: Vec<String>,
    shown: Vec<String>,
}

impl Concerned {
    /// The known members absent from the listing.
    pub fn departing(state: &OrgState, listing: &Listing) -> Concerned {
        let listed: HashSet<&str> = listing.members.iter().map(|m| m.key.as_str()).collect();
        Concerned::of(
            state
                .iter()
                .filter(|m| !listed.contains(m.member.key.as_str()))
                .map(|m| (m.member.key, m.member.email)),
        )
    }

    /// The members a poll turns inactive (as listed: their WENT_INACTIVE events'
    /// `after`).
    pub fn turning_inactive<'m>(members: impl Iterator<Item = &'m Member>) -> Concerned {
        Concerned::of(members.map(|m| (m.key.clone(), m.email.clone())))
    }

    fn of(members: impl Iterator<Item = (String, Option<String>)>) -> Concerned {
        let mut pairs: Vec<(String, Option<String>)> = members.collect();
        pairs.sort();
        let mut shown: Vec<String> = pairs
            .iter()
            .map(|(k, e)| e.clone().unwrap_or_else(|| k.clone()))
            .collect();
        shown.sort();
        Concerned {
            keys: pairs.into_iter().map(|(k, _)| k).collect(),
            shown,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// SHA-256 over the sorted user keys, each ended by a newline.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for k in &self.keys {
            h.update(k.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}

/// The inactivity guard's limits: a poll is held when at least `min_members`
/// would turn inactive and they are more than `max_fraction` of the known members.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InactivityLimits {
    pub min_members: usize,
    pub max_fraction: f64,
}

impl Default for InactivityLimits {
    fn default() -> Self {
        InactivityLimits {
            min_members: 10,
            max_fraction: 0.2,
        }
    }
}

impl InactivityLimits {
    /// Whether `turning_inactive` of `known` members at once is over the limits.
    pub fn trips(&self, turning_inactive: usize, known: usize) -> bool {
        turning_inactive >= self.min_members
            && turning_inactive as f64 > self.max_fraction * known as f64
    }
}

/// What the poll cycle does with a poll the guard would hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Held (a new hold, or the same one still waiting for a decision).
    Held { new: bool },
    /// The operator released exactly this hold: let the poll through.
    Released,
    /// The operator rejected exactly this hold: nothing written, not reported
    /// as held, until the listing changes.
    Rejected,
}

impl Holds {
    /// A poll of `org` that the guard would hold over `concerned`: records the
    /// hold (replacing one over another poll or another set, and its decision) and
    /// says what to do.
    pub fn held(
        &self,
        org: &str,
        kind: HoldKind,
        poll_seq: u64,
        known: usize,
        reason: &str,
        concerned: &Concerned,
    ) -> HoldOutcome {
        let digest = concerned.digest();
        let Ok(mut holds) = self.by_org.lock() else {
            return HoldOutcome::Held { new: false };
        };
        if let Some(h) = holds.get(org) {
            if h.kind == kind && h.poll_seq == poll_seq && h.digest == digest {
                return match h.decision {
                    None => HoldOutcome::Held { new: false },
                    Some(Decision::Release) => HoldOutcome::Released,
                    Some(Decision::Reject) => HoldOutcome::Rejected,
                };
            }
        }
        holds.insert(
            org.to_string(),
            Hold {
                org: org.to_string(),
                kind,
                poll_seq,
                count: concerned.len(),
                known,
                reason: reason.to_string(),
                members: concerned.shown.clone(),
                digest,
                decision: None,
            },
        );
        HoldOutcome::Held { new: true }
    }

    /// A poll of `org` that is not held: any hold of `org` (and its decision) is
    /// void. Returns the discarded hold.
    pub fn not_held(&self, org: &str) -> Option<Hold> {
        self.by_org.lock().ok().and_then(|mut h| h.remove(org))
    }

    /// A released poll of `org` committed: the release is used up.
    pub fn used(&self, org: &str) -> Option<Hold> {
        self.not_held(org)
    }

    /// Records `decision` on the current hold of `org`, which must concern
    /// exactly `expected` members.
    pub fn decide(
        &self,
        org: &str,
        expected: usize,
        decision: Decision,
    ) -> Result<Hold, DecisionRefused> {
        let mut holds = self
            .by_org
            .lock()
            .map_err(|_| DecisionRefused::NotHeld(org.to_string()))?;
        let Some(h) = holds.get_mut(org) else {
            return Err(DecisionRefused::NotHeld(org.to_string()));
        };
        if h.count != expected {
            return Err(DecisionRefused::CountMismatch {
                org: org.to_string(),
                expected,
                actual: h.count,
            });
        }
        h.decision = Some(decision);
        Ok(h.clone())
    }

    /// Every hold, by organization.
    pub fn view(&self) -> Vec<Hold> {
        self.by_org
            .lock()
            .map(|h| h.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[path = "holds_tests.rs"]
mod tests;
