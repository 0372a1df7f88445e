//! Change detection: one pure function from (organization state, fresh listing,
//! now, settings, operator release) to a [`PollOutcome`]: the change events, the
//! state records to write and the departure guard's verdict.
//!
//! This module owns the rules of `docs/events-semantics.md` and must not do I/O,
//! read a clock, log or touch metrics: the runtime does that with the outcome. It
//! never mutates the state either; [`OrgState::apply`] does, after the commit.
//!
//! Output order is fixed so that a rerun of the same poll is byte-identical:
//! members by key ascending (byte order of the UTF-8 key), and within one member
//! the [`EventType`] declaration order. State writes follow the same member order,
//! one per member with events, and the checkpoint comes last.

use super::event_id::event_id;
use super::guard::{evaluate, GuardRelease};
use super::model::{ChangeEvent, Checkpoint, EventType, Listing, Member, MemberState, StateRecord};
use super::outcome::PollOutcome;
use super::packed::PackedMember;
use super::settings::Settings;
use super::state::OrgState;
use super::table::BATCH;

/// Whether a member is inactive at `now_ms`: its last activity (`last_seen_ms`, else
/// `creation_ms`) is more than `inactive_after_ms` old. A member with neither
/// timestamp is never inactive.
pub fn is_inactive(member: &Member, now_ms: i64, inactive_after_ms: i64) -> bool {
    member
        .last_seen_ms
        .or(member.creation_ms)
        .is_some_and(|t| now_ms.saturating_sub(t) > inactive_after_ms)
}

const fn bit(t: EventType) -> u8 {
    1 << t as u8
}

/// One member that needs events or a write, before ordering.
enum Change<'a> {
    /// A listed member with events. `known` is its state, if any.
    Listed {
        member: &'a Member,
        known: Option<&'a PackedMember>,
        kinds: u8,
        admin: Option<bool>,
        inactive: bool,
    },
    /// A known member not listed (a departure).
    Gone { known: &'a PackedMember },
}

impl Change<'_> {
    fn key(&self) -> &[u8] {
        match self {
            Change::Listed { member, .. } => member.key.as_bytes(),
            Change::Gone { known } => known.key(),
        }
    }
}

/// Compare `listing` with `state` at `now_ms`. See the module docs and
/// `docs/events-semantics.md` for the rules; `release` is the operator's release of
/// a held poll, if one is pending for this organization.
pub fn diff(
    state: &OrgState,
    listing: &Listing,
    now_ms: i64,
    settings: &Settings,
    release: Option<&GuardRelease>,
) -> PollOutcome {
    let snapshot = state.checkpoint().is_none();
    let known = state.len();
    let Scan {
        mut changes,
        seen,
        matched,
    } = scan(state, listing, now_ms, settings, snapshot);

    let departures = if listing.complete { known - matched } else { 0 };
    let verdict = evaluate(
        state.org_key(),
        known,
        listing.members.is_empty(),
        departures,
        settings,
        release,
    );
    if verdict.is_held() {
        return PollOutcome {
            events: Vec::new(),
            state_writes: Vec::new(),
            verdict,
        };
    }
    if departures > 0 {
        changes.extend(
            state
                .members()
                .iter()
                .enumerate()
                .filter(|&(i, _)| !seen.contains(i))
                .map(|(_, known)| Change::Gone { known }),
        );
    }
    // Stable: among duplicate new keys the first listed stays first...
    changes.sort_by(|a, b| a.key().cmp(b.key()));
    // ...and is the one kept.
    changes.dedup_by(|later, earlier| later.key() == earlier.key());

    let (events, state_writes) = assemble(state, changes, now_ms, snapshot);
    PollOutcome {
        events,
        state_writes,
        verdict,
    }
}

/// A set of member positions.
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(len: usize) -> Self {
        Bitset(vec![0; len.div_ceil(64)])
    }

    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    /// Add `i`; false if it was there already.
    fn insert(&mut self, i: usize) -> bool {
        let (word, mask) = (i / 64, 1u64 << (i % 64));
        let new = self.0[word] & mask == 0;
        self.0[word] |= mask;
        new
    }
}

/// What the walk over the listing found.
struct Scan<'a> {
    /// Listed members with events (departures are added later).
    changes: Vec<Change<'a>>,
    /// Positions of the known members that are listed.
    seen: Bitset,
    /// How many known members are listed.
    matched: usize,
}

/// Walk the listing: look each member up in the state and decide its events.
fn scan<'a>(
    state: &'a OrgState,
    listing: &'a Listing,
    now_ms: i64,
    settings: &Settings,
    snapshot: bool,
) -> Scan<'a> {
    let packed = state.members();
    let mut scan = Scan {
        changes: Vec::new(),
        seen: Bitset::new(packed.len()),
        matched: 0,
    };
    let mut keys: [&[u8]; BATCH] = [&[]; BATCH];
    let mut found = [None; BATCH];
    // Lookups a batch at a time: the state is far larger than the CPU caches, and
    // a batch's lookups overlap their cache misses (see `KeyIndex::find_many`).
    for chunk in listing.members.chunks(BATCH) {
        for (k, member) in keys.iter_mut().zip(chunk) {
            *k = member.key.as_bytes();
        }
        state.positions(&keys[..chunk.len()], &mut found);
        for (member, &found) in chunk.iter().zip(&found) {
            let inactive = is_inactive(member, now_ms, settings.inactive_after_ms);
            let Some(i) = found else {
                let kinds = bit(if snapshot {
                    EventType::Snapshot
                } else {
                    EventType::Joined
                });
                scan.changes.push(Change::Listed {
                    member,
                    known: None,
                    kinds,
                    admin: member.is_org_admin,
                    inactive,
                });
                continue;
            };
            if !scan.seen.insert(i) {
                continue; // a duplicate key: the first occurrence wins
            }
            scan.matched += 1;
            let old = packed[i].view();
            // Unknown (`None`) keeps what was known: a field the API dropped must
            // not read as a revoked admin.
            let admin = member.is_org_admin.or(old.is_org_admin());
            let kinds = if snapshot {
                bit(EventType::Snapshot)
            } else {
                let mut kinds = 0;
                if admin != old.is_org_admin() {
                    kinds |= bit(EventType::AdminChanged);
                }
                if !old.profile_eq(member) {
                    kinds |= bit(EventType::ProfileChanged);
                }
                match (old.inactive(), inactive) {
                    (false, true) => kinds |= bit(EventType::WentInactive),
                    (true, false) => kinds |= bit(EventType::Reactivated),
                    _ => {}
                }
                kinds
            };
            if kinds != 0 {
                scan.changes.push(Change::Listed {
                    member,
                    known: Some(&packed[i]),
                    kinds,
                    admin,
                    inactive,
                });
            }
        }
    }
    scan
}

/// Turn the ordered changes into events and state writes (checkpoint last).
fn assemble(
    state: &OrgState,
    changes: Vec<Change<'_>>,
    now_ms: i64,
    snapshot: bool,
) -> (Vec<ChangeEvent>, Vec<StateRecord>) {
    let org_key = state.org_key();
    let poll_seq = state.checkpoint().map_or(1, |c| c.poll_seq + 1);
    // The first checkpoint starts an incarnation; later ones carry it (or its
    // absence, for a checkpoint written before incarnations existed).
    let incarnation = state
        .checkpoint()
        .map_or(Some(state.fresh_incarnation()), |c| c.incarnation);
    let mut events = Vec::with_capacity(changes.len());
    let mut state_writes = Vec::with_capacity(changes.len() + 1);
    let mut member_count = state.len();
    let mut emit =
        |event_type: EventType, before: Option<MemberState>, after: Option<MemberState>| {
            let m = after.as_ref().or(before.as_ref()).map(|s| &s.member);
            let user_key = m.map(|m| m.key.clone()).unwrap_or_default();
            events.push(ChangeEvent {
                event_id: event_id(org_key, &user_key, event_type, poll_seq, incarnation),
                event_type,
                org_key: org_key.to_owned(),
                email: m.and_then(|m| m.email.clone()),
                user_key,
                detected_at_ms: now_ms,
                poll_seq,
                before,
                after,
            });
        };
    for change in changes {
        match change {
            Change::Listed {
                member,
                known,
                kinds,
                admin,
                inactive,
            } => {
                let old = known.map(PackedMember::view);
                if old.is_none() {
                    member_count += 1;
                }
                let after = MemberState {
                    member: Member {
                        is_org_admin: admin,
                        ..member.clone()
                    },
                    inactive,
                    first_seen_ms: old.map_or(now_ms, |v| v.first_seen_ms),
                    last_changed_ms: now_ms,
                };
                // SNAPSHOT and JOINED have no `before`; every other event of this
                // member in this poll shares the same `before` and `after`.
                let mut before = old.filter(|_| !snapshot).map(|v| v.to_state());
                let mut types = EventType::ALL.into_iter().filter(|&t| kinds & bit(t) != 0);
                let mut next = types.next();
                while let Some(t) = next {
                    next = types.next();
                    // The last event of the member takes `before` instead of a copy.
                    let before = if next.is_some() {
                        before.clone()
                    } else {
                        before.take()
                    };
                    emit(t, before, Some(after.clone()));
                }
                state_writes.push(StateRecord::Member {
                    org_key: org_key.to_owned(),
                    user_key: member.key.clone(),
                    state: Some(after),
                });
            }
            Change::Gone { known } => {
                member_count -= 1;
                let before = known.unpack();
                let user_key = before.member.key.clone();
                // Before the first committed poll there is no baseline to leave
                // from: a stray member record is only tombstoned.
                if !snapshot {
                    emit(EventType::Left, Some(before), None);
                }
                state_writes.push(StateRecord::Member {
                    org_key: org_key.to_owned(),
                    user_key,
                    state: None,
                });
            }
        }
    }
    state_writes.push(StateRecord::Checkpoint(Checkpoint {
        org_key: org_key.to_owned(),
        poll_seq,
        last_poll_ms: now_ms,
        member_count: member_count as u64,
        incarnation,
    }));
    (events, state_writes)
}
