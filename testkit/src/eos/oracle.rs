//! The oracle: the events one uninterrupted run must publish, computed from what the
//! simulator lists after each step, by the rules of DESIGN.md's "Change events" table.
//!
//! It is written from the table, not from `membership::diff`, so that a bug shared by
//! the engine and a reference run of the same engine cannot hide. It only handles the
//! steps the tests make (one change per member per step, no `lastSeenTimestamp` that
//! merely moves forward) and panics with "test design" when a step breaks that, or
//! when a member's activity sits within a day of the inactivity threshold (the
//! connector would judge it at its own clock, a few seconds later).

use std::collections::{BTreeMap, BTreeSet};

use streak_connector::membership::{EventType, Member, MemberState};
use streak_connector::simulator::SimMember;

/// How far from the inactivity threshold every member's activity must be.
const MARGIN_MS: i64 = 24 * 3600 * 1000;

/// A member as an event shows it, minus the connector-clock fields (`first_seen_ms`,
/// `last_changed_ms`), which depend on when a poll happened to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub member: Member,
    pub inactive: bool,
}

impl From<&MemberState> for Seen {
    fn from(s: &MemberState) -> Self {
        Seen {
            member: s.member.clone(),
            inactive: s.inactive,
        }
    }
}

/// One event as the oracle predicts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub event_type: EventType,
    pub user_key: String,
    pub before: Option<Seen>,
    pub after: Option<Seen>,
}

/// `(org key, user key)`.
pub type MemberId = (String, String);

/// What one poll is predicted to publish: `(member, event type)`, sorted.
pub type PollPrediction = BTreeSet<(MemberId, EventType)>;

/// The expected event history of every member.
#[derive(Debug, Default)]
pub struct Oracle {
    inactive_after_ms: i64,
    /// Per organization, the state a committed poll leaves behind.
    known: BTreeMap<String, BTreeMap<String, Seen>>,
    expected: BTreeMap<MemberId, Vec<Expected>>,
}

impl Oracle {
    pub fn new(inactive_after_ms: i64) -> Self {
        Oracle {
            inactive_after_ms,
            ..Oracle::default()
        }
    }

    fn seen(&self, m: &SimMember, now_ms: i64) -> Seen {
        let member = Member::from(m);
        let inactive = match member.last_seen_ms.or(member.creation_ms) {
            None => false,
            Some(t) => {
                let age = now_ms - t;
                assert!(
                    (age - self.inactive_after_ms).abs() > MARGIN_MS,
                    "test design: member {} is active {} ms ago, within a day of the threshold",
                    m.key,
                    age
                );
                age > self.inactive_after_ms
            }
        };
        Seen { member, inactive }
    }

    fn push(&mut self, org: &str, e: Expected, out: &mut PollPrediction) {
        let id = (org.to_owned(), e.user_key.clone());
        out.insert((id.clone(), e.event_type));
        self.expected.entry(id).or_default().push(e);
    }

    /// The organization's first poll: one SNAPSHOT per listed member.
    pub fn first_poll(&mut self, org: &str, listing: &[SimMember], now_ms: i64) -> PollPrediction {
        assert!(
            !self.known.contains_key(org),
            "test design: {org} polled twice for the first time"
        );
        let mut out = PollPrediction::new();
        let mut known = BTreeMap::new();
        for m in listing {
            let seen = self.seen(m, now_ms);
            known.insert(m.key.clone(), seen.clone());
            let e = Expected {
                event_type: EventType::Snapshot,
                user_key: m.key.clone(),
                before: None,
                after: Some(seen),
            };
            self.push(org, e, &mut out);
        }
        self.known.insert(org.to_owned(), known);
        out
    }

    /// A later poll that sees `listing` at `now_ms`.
    pub fn poll(&mut self, org: &str, listing: &[SimMember], now_ms: i64) -> PollPrediction {
        let mut known = self.known.remove(org).unwrap_or_default();
        let mut out = PollPrediction::new();
        let mut listed = BTreeSet::new();
        for m in listing {
            listed.insert(m.key.clone());
            let mut now = self.seen(m, now_ms);
            let Some(old) = known.get(&m.key).cloned() else {
                known.insert(m.key.clone(), now.clone());
                let e = Expected {
                    event_type: EventType::Joined,
                    user_key: m.key.clone(),
                    before: None,
                    after: Some(now),
                };
                self.push(org, e, &mut out);
                continue;
            };
            // An admin flag the API left out keeps what was known.
            now.member.is_org_admin = now.member.is_org_admin.or(old.member.is_org_admin);
            let (a, b) = (&old.member, &now.member);
            let mut kinds = Vec::new();
            if a.is_org_admin != b.is_org_admin {
                kinds.push(EventType::AdminChanged);
            }
            if (
                &a.email,
                &a.display_name,
                &a.first_name,
                &a.last_name,
                &a.image,
            ) != (
                &b.email,
                &b.display_name,
                &b.first_name,
                &b.last_name,
                &b.image,
            ) {
                kinds.push(EventType::ProfileChanged);
            }
            match (old.inactive, now.inactive) {
                (false, true) => kinds.push(EventType::WentInactive),
                (true, false) => kinds.push(EventType::Reactivated),
                _ => {}
            }
            match kinds.as_slice() {
                [] => assert_eq!(
                    old, now,
                    "test design: {org}/{} changed without an event (e.g. lastSeen moved forward)",
                    m.key
                ),
                [kind] => {
                    known.insert(m.key.clone(), now.clone());
                    let e = Expected {
                        event_type: *kind,
                        user_key: m.key.clone(),
                        before: Some(old),
                        after: Some(now),
                    };
                    self.push(org, e, &mut out);
                }
                more => panic!("test design: {org}/{} changed {more:?} in one step", m.key),
            }
        }
        let gone: Vec<String> = known
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            let before = known.remove(&key);
            let e = Expected {
                event_type: EventType::Left,
                user_key: key,
                before,
                after: None,
            };
            self.push(org, e, &mut out);
        }
        self.known.insert(org.to_owned(), known);
        out
    }

    /// Every member's expected history, in order.
    pub fn expected(&self) -> &BTreeMap<MemberId, Vec<Expected>> {
        &self.expected
    }

    /// How many events `member` has had so far.
    pub fn count(&self, member: &MemberId) -> usize {
        self.expected.get(member).map_or(0, Vec::len)
    }

    /// Whether the member is listed and inactive in the last committed state.
    pub fn is_inactive(&self, org: &str, user: &str) -> Option<bool> {
        self.known.get(org)?.get(user).map(|s| s.inactive)
    }

    /// Expected events by type, for the report.
    pub fn totals(&self) -> BTreeMap<&'static str, usize> {
        let mut t = BTreeMap::new();
        for e in self.expected.values().flatten() {
            *t.entry(e.event_type.as_str()).or_default() += 1;
        }
        t
    }
}
