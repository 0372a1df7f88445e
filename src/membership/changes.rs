//! [`PollChanges`]: one poll's outcome held compactly, each changed member once, in
//! its packed form, until the poll commits.
//!
//! A [`PollOutcome`] holds every changed member three times over (in the listing,
//! in its events' `after`, in its state record); at an organization's first poll
//! that is the whole organization, three times. This form holds the new state of
//! each changed member once, packed as the state will keep it, and the position of
//! its known state; the events and the state record of a member are made from it
//! on demand ([`PollChanges::member_records`]), a few members at a time, and
//! dropped once encoded. After the commit, [`super::OrgState::apply_changes`] moves
//! the packed members into the state without copying them.
//!
//! The positions refer to the state the poll was diffed against: that state must
//! not change before the changes are applied or dropped (the poll cycle's rule
//! anyway: the state moves only after the commit).

use super::event_id::event_id;
use super::guard::GuardVerdict;
use super::model::{ChangeEvent, Checkpoint, EventType, MemberState, StateRecord};
use super::outcome::PollOutcome;
use super::packed::PackedMember;
use super::state::OrgState;

/// One poll's outcome, compact: made by [`super::Plan::changes`].
#[derive(Debug)]
pub(crate) struct PollChanges {
    pub(super) org_key: String,
    pub(super) poll_seq: u64,
    pub(super) incarnation: Option<uuid::Uuid>,
    pub(super) now_ms: i64,
    pub(super) snapshot: bool,
    /// In output order (member key ascending).
    pub(super) members: Vec<MemberChange>,
    /// `None` when the guard holds the poll.
    pub(super) checkpoint: Option<Checkpoint>,
    pub(super) verdict: GuardVerdict,
    /// Members of the state the poll was diffed against (a check on the positions).
    pub(super) known: usize,
}

/// One changed member.
#[derive(Debug)]
pub(crate) struct MemberChange {
    /// Its event types, one bit per [`EventType`]; none for a stray member record
    /// tombstoned at an organization's first poll.
    pub(super) kinds: u8,
    /// Its position in the state, if it was known.
    pub(super) known: Option<usize>,
    /// Its new state; `None` when it left (its state record is a tombstone).
    pub(super) after: Option<PackedMember>,
}

impl MemberChange {
    fn types(&self) -> impl Iterator<Item = EventType> + '_ {
        EventType::ALL
            .into_iter()
            .filter(|&t| self.kinds & bit(t) != 0)
    }
}

impl PollChanges {
    /// Changed members (one state record each).
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The checkpoint the poll writes last; `None` when the guard holds it.
    pub(crate) fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref()
    }

    /// The number of events of each type, in [`EventType`] order (types with none
    /// left out).
    pub(crate) fn event_counts(&self) -> Vec<(EventType, u64)> {
        let mut counts = [0u64; EventType::ALL.len()];
        for m in &self.members {
            for t in m.types() {
                counts[t as usize] += 1;
            }
        }
        EventType::ALL
            .into_iter()
            .zip(counts)
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Events of the poll.
    pub(crate) fn event_count(&self) -> usize {
        let per_member = self.members.iter().map(|m| m.kinds.count_ones() as usize);
        per_member.sum()
    }

    fn check(&self, state: &OrgState) {
        debug_assert_eq!(state.len(), self.known, "changes of another state");
        debug_assert_eq!(state.org_key(), self.org_key, "changes of another org");
    }

    /// The `i`th changed member's key.
    pub(crate) fn user_key<'a>(&'a self, i: usize, state: &'a OrgState) -> &'a str {
        self.check(state);
        let m = &self.members[i];
        match (&m.after, m.known) {
            (Some(after), _) => after.key_str(),
            (None, Some(known)) => state.members()[known].key_str(),
            (None, None) => "",
        }
    }

    /// Bytes of the `i`th changed member's packed states (before, after; 0 for
    /// none): an upper bound of the bytes of every string either holds.
    pub(crate) fn packed_bytes(&self, i: usize, state: &OrgState) -> (usize, usize) {
        self.check(state);
        let m = &self.members[i];
        let before = m.known.map_or(0, |k| state.members()[k].heap_bytes());
        let after = m.after.as_ref().map_or(0, PackedMember::heap_bytes);
        (before, after)
    }

    /// The `i`th changed member's new state (`None`: it left), decoded.
    pub(crate) fn after(&self, i: usize) -> Option<MemberState> {
        self.members[i].after.as_ref().map(PackedMember::unpack)
    }

    /// Keep only the changed members for whose index `keep` says so (the others'
    /// events and state records are not written, and their state does not move).
    /// The checkpoint stays as it is.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut i = 0;
        self.members.retain(|_| {
            i += 1;
            keep(i - 1)
        });
    }

    /// The events (appended to `events`, in the documented order) and the state
    /// record of the `i`th changed member.
    pub(crate) fn member_records(
        &self,
        i: usize,
        state: &OrgState,
        events: &mut Vec<ChangeEvent>,
    ) -> StateRecord {
        self.check(state);
        let m = &self.members[i];
        let after = m.after.as_ref().map(PackedMember::unpack);
        // SNAPSHOT and JOINED have no `before`; LEFT's is the member as known.
        let mut before = match (m.known, &after) {
            (Some(k), None) => Some(state.members()[k].unpack()),
            (Some(k), Some(_)) if !self.snapshot => Some(state.members()[k].unpack()),
            _ => None,
        };
        let user_key = match (&after, &before) {
            (Some(s), _) | (None, Some(s)) => s.member.key.clone(),
            (None, None) => self.user_key(i, state).to_owned(),
        };
        let email = after.as_ref().or(before.as_ref());
        let email = email.and_then(|s| s.member.email.clone());
        let mut types = m.types();
        let mut next = types.next();
        while let Some(t) = next {
            next = types.next();
            // The last event of the member takes `before` instead of a copy; every
            // event of the member in this poll shares the same `before` and `after`.
            let before = if next.is_some() {
                before.clone()
            } else {
                before.take()
            };
            events.push(ChangeEvent {
                event_id: event_id(&self.org_key, &user_key, t, self.poll_seq, self.incarnation),
                event_type: t,
                org_key: self.org_key.clone(),
                user_key: user_key.clone(),
                email: email.clone(),
                detected_at_ms: self.now_ms,
                poll_seq: self.poll_seq,
                before,
                after: after.clone(),
            });
        }
        StateRecord::Member {
            org_key: self.org_key.clone(),
            user_key,
            state: after,
        }
    }

    /// Every event and state record at once (checkpoint last): the outcome as
    /// [`super::diff()`] returns it.
    pub(crate) fn into_outcome(self, state: &OrgState) -> PollOutcome {
        let mut events = Vec::with_capacity(self.event_count());
        let mut state_writes = Vec::with_capacity(self.members.len() + 1);
        for i in 0..self.members.len() {
            state_writes.push(self.member_records(i, state, &mut events));
        }
        state_writes.extend(self.checkpoint.map(StateRecord::Checkpoint));
        PollOutcome {
            events,
            state_writes,
            verdict: self.verdict,
        }
    }
}
/// The bit of `t` in a change's set of event kinds.
pub(super) const fn bit(t: EventType) -> u8 {
    1 << t as u8
}

impl OrgState {
    /// [`OrgState::apply`] of a committed poll's [`PollChanges`] (made against this
    /// very state, which has not moved since): the packed members move in as they
    /// are, the members gone are removed, the checkpoint is replaced. The same state
    /// as `apply` of the materialized outcome.
    pub(crate) fn apply_changes(&mut self, changes: PollChanges) {
        debug_assert_eq!(self.len(), changes.known, "changes of another state");
        // Removals move members around: take the departed keys before anything moves.
        let gone: Vec<String> = (changes.members.iter())
            .filter(|m| m.after.is_none())
            .filter_map(|m| m.known.map(|k| self.members()[k].key_str().to_owned()))
            .collect();
        for m in changes.members {
            if let Some(after) = m.after {
                self.insert_packed(after);
            }
        }
        for key in gone {
            self.remove(&key);
        }
        if let Some(c) = changes.checkpoint {
            self.set_checkpoint(c);
        }
    }
}
