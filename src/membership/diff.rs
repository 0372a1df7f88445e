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
//!
//! The diff comes in two halves, so that the poll cycle's memory is not three
//! copies of the organization: [`plan`] walks the listing and decides who changes
//! (positions only, nothing copied) and [`Plan::verdict`] asks the departure guard;
//! [`Plan::changes`] then packs each changed member once into [`PollChanges`], from
//! which the events and state records are made a few members at a time. [`diff`]
//! is both halves and the whole materialized outcome: the reference the tests hold.

use super::changes::{bit, MemberChange, PollChanges};
use super::guard::{evaluate, GuardRelease, GuardVerdict};
use super::model::{Checkpoint, EventType, Listing, Member};
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

/// One member that needs events or a write, before ordering: positions in the
/// listing and in the state, nothing copied.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// A listed member with events. `known` is its position in the state, if any.
    Listed {
        listed: usize,
        known: Option<usize>,
        kinds: u8,
        admin: Option<bool>,
        inactive: bool,
    },
    /// A known member not listed (a departure).
    Gone { known: usize },
}

impl Change {
    fn key<'a>(&self, state: &'a OrgState, listing: &'a Listing) -> &'a [u8] {
        match *self {
            Change::Listed { listed, .. } => listing.members[listed].key.as_bytes(),
            Change::Gone { known } => state.members()[known].key(),
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
    diff_changes(state, listing, now_ms, settings, release).into_outcome(state)
}

/// [`diff`], compact: each changed member once, its events and state record made
/// on demand (see [`PollChanges`]).
pub(crate) fn diff_changes(
    state: &OrgState,
    listing: &Listing,
    now_ms: i64,
    settings: &Settings,
    release: Option<&GuardRelease>,
) -> PollChanges {
    let plan = plan(state, listing, now_ms, settings);
    let verdict = plan.verdict(state, settings, release);
    plan.changes(state, listing, verdict)
}

/// A set of member positions.
#[derive(Debug)]
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

/// The first half of a diff: which listed members change and how many known ones
/// are gone, by position in the listing and in the state. Valid only with the very
/// `state` and `listing` it was planned from.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Listed members with events (departures are added by [`Plan::changes`]).
    changes: Vec<Change>,
    /// Positions of the known members that are listed.
    seen: Bitset,
    /// Members known before the poll.
    known: usize,
    /// LEFT events the poll would emit (0 when the listing is incomplete).
    departures: usize,
    listed_empty: bool,
    snapshot: bool,
    now_ms: i64,
}

/// Walk the listing: look each member up in the state and decide its events.
pub(crate) fn plan(state: &OrgState, listing: &Listing, now_ms: i64, settings: &Settings) -> Plan {
    let snapshot = state.checkpoint().is_none();
    let packed = state.members();
    let mut changes = Vec::new();
    let mut seen = Bitset::new(packed.len());
    let mut matched = 0;
    let mut keys: [&[u8]; BATCH] = [&[]; BATCH];
    let mut found = [None; BATCH];
    // Lookups a batch at a time: the state is far larger than the CPU caches, and
    // a batch's lookups overlap their cache misses (see `KeyIndex::find_many`).
    for (c, chunk) in listing.members.chunks(BATCH).enumerate() {
        for (k, member) in keys.iter_mut().zip(chunk) {
            *k = member.key.as_bytes();
        }
        state.positions(&keys[..chunk.len()], &mut found);
        for (j, (member, &found)) in chunk.iter().zip(&found).enumerate() {
            let listed = c * BATCH + j;
            let inactive = is_inactive(member, now_ms, settings.inactive_after_ms);
            let Some(i) = found else {
                let kinds = bit(if snapshot {
                    EventType::Snapshot
                } else {
                    EventType::Joined
                });
                changes.push(Change::Listed {
                    listed,
                    known: None,
                    kinds,
                    admin: member.is_org_admin,
                    inactive,
                });
                continue;
            };
            if !seen.insert(i) {
                continue; // a duplicate key: the first occurrence wins
            }
            matched += 1;
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
                changes.push(Change::Listed {
                    listed,
                    known: Some(i),
                    kinds,
                    admin,
                    inactive,
                });
            }
        }
    }
    let known = state.len();
    Plan {
        changes,
        seen,
        known,
        departures: if listing.complete { known - matched } else { 0 },
        listed_empty: listing.members.is_empty(),
        snapshot,
        now_ms,
    }
}

impl Plan {
    /// The departure guard's verdict on this poll, with the operator's `release`
    /// if one is pending.
    pub(crate) fn verdict(
        &self,
        state: &OrgState,
        settings: &Settings,
        release: Option<&GuardRelease>,
    ) -> GuardVerdict {
        evaluate(
            state.org_key(),
            self.known,
            self.listed_empty,
            self.departures,
            settings,
            release,
        )
    }

    /// The listed members this poll turns inactive (WENT_INACTIVE).
    pub(crate) fn turning_inactive<'l>(
        &self,
        listing: &'l Listing,
    ) -> impl Iterator<Item = &'l Member> + use<'_, 'l> {
        self.changes.iter().filter_map(|c| match *c {
            Change::Listed { listed, kinds, .. } if kinds & bit(EventType::WentInactive) != 0 => {
                Some(&listing.members[listed])
            }
            _ => None,
        })
    }

    /// The second half: each changed member packed once, in output order, and the
    /// checkpoint; nothing when `verdict` holds the poll. The listing is not needed
    /// afterwards.
    pub(crate) fn changes(
        self,
        state: &OrgState,
        listing: &Listing,
        verdict: GuardVerdict,
    ) -> PollChanges {
        let poll_seq = state.checkpoint().map_or(1, |c| c.poll_seq + 1);
        // The first checkpoint starts an incarnation; later ones carry it (or its
        // absence, for a checkpoint written before incarnations existed).
        let incarnation = state
            .checkpoint()
            .map_or(Some(state.fresh_incarnation()), |c| c.incarnation);
        let mut changes = PollChanges {
            org_key: state.org_key().to_owned(),
            poll_seq,
            incarnation,
            now_ms: self.now_ms,
            snapshot: self.snapshot,
            members: Vec::new(),
            checkpoint: None,
            verdict,
            known: self.known,
        };
        if changes.verdict.is_held() {
            return changes;
        }
        let Plan {
            changes: mut planned,
            seen,
            departures,
            snapshot,
            now_ms,
            ..
        } = self;
        if departures > 0 {
            planned.extend(
                (0..state.len())
                    .filter(|&i| !seen.contains(i))
                    .map(|known| Change::Gone { known }),
            );
        }
        // Stable: among duplicate new keys the first listed stays first...
        planned.sort_by(|a, b| a.key(state, listing).cmp(b.key(state, listing)));
        // ...and is the one kept.
        planned.dedup_by(|later, earlier| later.key(state, listing) == earlier.key(state, listing));

        let mut member_count = state.len();
        changes.members = Vec::with_capacity(planned.len());
        for change in planned {
            changes.members.push(match change {
                Change::Listed {
                    listed,
                    known,
                    kinds,
                    admin,
                    inactive,
                } => {
                    let first_seen_ms = match known {
                        Some(i) => state.members()[i].view().first_seen_ms,
                        None => {
                            member_count += 1;
                            now_ms
                        }
                    };
                    let member = &listing.members[listed];
                    let after =
                        PackedMember::pack_parts(member, admin, inactive, first_seen_ms, now_ms);
                    MemberChange {
                        kinds,
                        known,
                        after: Some(after),
                    }
                }
                Change::Gone { known } => {
                    member_count -= 1;
                    // Before the first committed poll there is no baseline to leave
                    // from: a stray member record is only tombstoned.
                    let kinds = if snapshot { 0 } else { bit(EventType::Left) };
                    MemberChange {
                        kinds,
                        known: Some(known),
                        after: None,
                    }
                }
            });
        }
        changes.checkpoint = Some(Checkpoint {
            org_key: changes.org_key.clone(),
            poll_seq,
            last_poll_ms: now_ms,
            member_count: member_count as u64,
            incarnation,
        });
        changes
    }
}
