//! [`OrgState`]: everything the connector knows about one organization (its members
//! and its checkpoint), held compactly in memory.
//!
//! It owns the in-memory representation and its bookkeeping (admin and inactive
//! counts), and must not decide anything: what changed is [`super::diff`]'s job, and
//! the state only moves on through [`OrgState::apply`] (or
//! [`OrgState::apply_changes`]) of a committed outcome or the
//! restore's [`OrgState::insert`]/[`OrgState::remove`]/[`OrgState::set_checkpoint`].
//!
//! Representation: a `Vec` of [`PackedMember`] (one heap allocation per member, key
//! included) and a [`KeyIndex`] of positions hashed by key, so the key is stored
//! once. Removal swaps the last member into the hole. A diff marks the members it
//! saw by position, which is stable while the state is not mutated.

use super::model::{Checkpoint, MemberState, StateRecord};
use super::outcome::PollOutcome;
use super::packed::PackedMember;
use super::table::KeyIndex;

/// Everything the connector knows about one organization.
#[derive(Clone)]
pub struct OrgState {
    org_key: String,
    members: Vec<PackedMember>,
    /// Positions in `members`, by key.
    index: KeyIndex,
    /// `None` before the first committed poll: the next poll is a SNAPSHOT.
    checkpoint: Option<Checkpoint>,
    /// Members whose `is_org_admin` is `Some(true)`.
    admins: usize,
    /// Members judged inactive at their last evaluation.
    inactive: usize,
    /// The incarnation the first checkpoint will carry: drawn once per
    /// in-memory state, so a retried first poll derives the same event ids.
    fresh_incarnation: uuid::Uuid,
}

impl OrgState {
    /// An organization the connector knows nothing about yet.
    pub fn new(org_key: impl Into<String>) -> Self {
        OrgState {
            org_key: org_key.into(),
            members: Vec::new(),
            index: KeyIndex::default(),
            checkpoint: None,
            admins: 0,
            inactive: 0,
            fresh_incarnation: uuid::Uuid::new_v4(),
        }
    }

    pub fn org_key(&self) -> &str {
        &self.org_key
    }

    /// Known members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Known members whose `is_org_admin` is `Some(true)` (for the admins gauge).
    pub fn admin_count(&self) -> usize {
        self.admins
    }

    /// Known members judged inactive (for the inactive-members gauge).
    pub fn inactive_count(&self) -> usize {
        self.inactive
    }

    /// The incarnation the organization's first checkpoint gets (see
    /// [`Checkpoint::incarnation`]); unused once a checkpoint exists.
    pub fn fresh_incarnation(&self) -> uuid::Uuid {
        self.fresh_incarnation
    }

    /// The checkpoint of the last committed poll; `None` before the first one.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref()
    }

    /// Replace the checkpoint (restore, and [`OrgState::apply`]).
    pub fn set_checkpoint(&mut self, checkpoint: Checkpoint) {
        debug_assert_eq!(
            checkpoint.org_key, self.org_key,
            "checkpoint of another org"
        );
        self.checkpoint = Some(checkpoint);
    }

    pub fn contains(&self, user_key: &str) -> bool {
        self.position(user_key.as_bytes()).is_some()
    }

    /// The member's state, decoded from its packed form (an owned copy).
    pub fn get(&self, user_key: &str) -> Option<MemberState> {
        self.position(user_key.as_bytes())
            .map(|i| self.members[i].unpack())
    }

    /// Every known member, decoded, in no particular order (it changes with
    /// removals). Decoding allocates: for counts use [`OrgState::len`],
    /// [`OrgState::admin_count`] and [`OrgState::inactive_count`].
    pub fn iter(&self) -> impl Iterator<Item = MemberState> + '_ {
        self.members.iter().map(PackedMember::unpack)
    }

    /// Insert or replace the member keyed by `state.member.key`. Returns whether a
    /// member was replaced.
    pub fn insert(&mut self, state: MemberState) -> bool {
        self.insert_packed(PackedMember::pack(&state))
    }

    /// Room for `additional` more members, so that inserting them neither moves
    /// the members nor rebuilds the index.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.members.reserve(additional);
        let members = &self.members;
        self.index.reserve(additional, |p| members[p].key());
    }

    /// [`OrgState::insert`] of a member already packed.
    pub(crate) fn insert_packed(&mut self, packed: PackedMember) -> bool {
        self.count(&packed, 1);
        let hash = self.index.hash(packed.key());
        let members = &self.members;
        if let Some(i) = self.index.find(hash, packed.key(), |p| members[p].key()) {
            let old = std::mem::replace(&mut self.members[i], packed);
            self.count(&old, -1);
            return true;
        }
        self.members.push(packed);
        let members = &self.members;
        self.index
            .insert_new(hash, members.len() - 1, |p| members[p].key());
        false
    }

    /// Remove a member (after LEFT). Returns its last state.
    pub fn remove(&mut self, user_key: &str) -> Option<MemberState> {
        let key = user_key.as_bytes();
        let hash = self.index.hash(key);
        let members = &self.members;
        let pos = self.index.find(hash, key, |p| members[p].key())?;
        self.index.remove(hash, pos);
        let last = self.members.len() - 1;
        let removed = self.members.swap_remove(pos);
        if pos != last {
            // The former last member now sits at `pos`.
            let moved = self.index.hash(self.members[pos].key());
            self.index.moved(moved, last, pos);
        }
        self.count(&removed, -1);
        Some(removed.unpack())
    }

    /// Move on to the state a committed poll produced: its member records (upsert
    /// or tombstone) and its checkpoint, exactly what a restore from the state
    /// topic would rebuild. Call it only after the poll's transaction committed; a
    /// held outcome has no writes and changes nothing.
    pub fn apply(&mut self, outcome: &PollOutcome) {
        for record in &outcome.state_writes {
            match record {
                StateRecord::Member {
                    user_key, state, ..
                } => match state {
                    Some(s) => {
                        self.insert(s.clone());
                    }
                    None => {
                        self.remove(user_key);
                    }
                },
                StateRecord::Checkpoint(c) => self.set_checkpoint(c.clone()),
            }
        }
    }

    /// Heap bytes held by this state as requested from the allocator (excluding the
    /// allocator's own per-allocation overhead): the packed members, the member
    /// vector's capacity and the index.
    pub fn heap_bytes(&self) -> usize {
        let packed: usize = self.members.iter().map(PackedMember::heap_bytes).sum();
        packed
            + self.members.capacity() * std::mem::size_of::<PackedMember>()
            + self.index.heap_bytes()
            + self.org_key.capacity()
    }

    /// The members, by position.
    pub(crate) fn members(&self) -> &[PackedMember] {
        &self.members
    }

    pub(crate) fn position(&self, key: &[u8]) -> Option<usize> {
        let members = &self.members;
        self.index
            .find(self.index.hash(key), key, |p| members[p].key())
    }

    /// Positions of up to [`super::table::BATCH`] keys at once, with their cache misses
    /// overlapped (see [`KeyIndex::find_many`]).
    pub(crate) fn positions(&self, keys: &[&[u8]], out: &mut [Option<usize>]) {
        let members = &self.members;
        self.index
            .find_many(keys, out, |p| members[p].key(), |p| members[p].touch());
    }

    fn count(&mut self, m: &PackedMember, delta: isize) {
        let v = m.view();
        if v.is_org_admin() == Some(true) {
            self.admins = self.admins.wrapping_add_signed(delta);
        }
        if v.inactive() {
            self.inactive = self.inactive.wrapping_add_signed(delta);
        }
    }
}

impl std::fmt::Debug for OrgState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgState")
            .field("org_key", &self.org_key)
            .field("members", &self.members.len())
            .field("admins", &self.admins)
            .field("inactive", &self.inactive)
            .field("checkpoint", &self.checkpoint)
            .finish()
    }
}

/// Same organization, same checkpoint, same members (whatever their order).
impl PartialEq for OrgState {
    fn eq(&self, other: &Self) -> bool {
        self.org_key == other.org_key
            && self.checkpoint == other.checkpoint
            && self.members.len() == other.members.len()
            && self.members.iter().all(|m| {
                other
                    .position(m.key())
                    .is_some_and(|i| other.members[i] == *m)
            })
    }
}

impl Eq for OrgState {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::model::Member;

    fn state(key: &str, admin: Option<bool>, inactive: bool) -> MemberState {
        MemberState {
            member: Member {
                key: key.into(),
                email: Some(format!("{key}@example.com")),
                is_org_admin: admin,
                ..Member::default()
            },
            inactive,
            first_seen_ms: 10,
            last_changed_ms: 20,
        }
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut org = OrgState::new("org");
        assert!(org.is_empty());
        assert!(!org.insert(state("a", Some(true), false)));
        assert!(!org.insert(state("b", None, true)));
        assert!(!org.insert(state("c", Some(false), true)));
        assert_eq!(org.len(), 3);
        assert_eq!((org.admin_count(), org.inactive_count()), (1, 2));
        assert_eq!(org.get("b"), Some(state("b", None, true)));
        assert_eq!(org.get("zz"), None);

        assert!(org.insert(state("a", Some(false), true)));
        assert_eq!(org.len(), 3);
        assert_eq!((org.admin_count(), org.inactive_count()), (0, 3));

        // Remove the first: the last one is swapped into its slot and must stay
        // reachable.
        assert_eq!(org.remove("a"), Some(state("a", Some(false), true)));
        assert_eq!(org.remove("a"), None);
        assert_eq!(org.get("c"), Some(state("c", Some(false), true)));
        assert_eq!(org.get("b"), Some(state("b", None, true)));
        assert_eq!(org.len(), 2);
        assert_eq!(org.inactive_count(), 2);
        assert!(org.remove("c").is_some());
        assert!(org.remove("b").is_some());
        assert!(org.is_empty());
        assert_eq!((org.admin_count(), org.inactive_count()), (0, 0));
    }

    #[test]
    fn many_members_stay_reachable_through_removals() {
        let mut org = OrgState::new("org");
        for i in 0..2000 {
            org.insert(state(&format!("user-{i}"), Some(i % 7 == 0), i % 3 == 0));
        }
        for i in (0..2000).step_by(3) {
            assert!(org.remove(&format!("user-{i}")).is_some());
        }
        for i in 0..2000 {
            assert_eq!(org.contains(&format!("user-{i}")), i % 3 != 0, "user-{i}");
        }
        let admins = (0..2000).filter(|i| i % 3 != 0 && i % 7 == 0).count();
        assert_eq!(org.admin_count(), admins);
        assert_eq!(org.inactive_count(), 0);
        assert_eq!(org.iter().count(), org.len());
    }

    proptest::proptest! {
        #[test]
        fn operations_match_a_map(
            ops in proptest::collection::vec((proptest::bool::weighted(0.6), 0u8..60, 0u8..6), 0..400)
        ) {
            let mut org = OrgState::new("org");
            let mut model = std::collections::BTreeMap::new();
            for (insert, k, variant) in ops {
                let key = format!("member-{k}");
                if insert {
                    let s = state(&key, [None, Some(true), Some(false)][variant as usize % 3], variant >= 3);
                    proptest::prop_assert_eq!(org.insert(s.clone()), model.insert(key.clone(), s).is_some());
                } else {
                    proptest::prop_assert_eq!(org.remove(&key), model.remove(&key));
                }
                proptest::prop_assert_eq!(org.len(), model.len());
                proptest::prop_assert_eq!(org.get(&key), model.get(&key).cloned());
            }
            let all: std::collections::BTreeMap<_, _> =
                org.iter().map(|s| (s.member.key.clone(), s)).collect();
            proptest::prop_assert_eq!(&all, &model);
            let admins = model.values().filter(|s| s.member.is_org_admin == Some(true)).count();
            proptest::prop_assert_eq!(org.admin_count(), admins);
            proptest::prop_assert_eq!(org.inactive_count(), model.values().filter(|s| s.inactive).count());
            // Rebuilt in another order (as a restore would): equal.
            let mut rebuilt = OrgState::new("org");
            for s in model.values().rev() {
                rebuilt.insert(s.clone());
            }
            proptest::prop_assert_eq!(&rebuilt, &org);
        }
    }

    #[test]
    fn equality_ignores_insertion_order() {
        let mut a = OrgState::new("org");
        let mut b = OrgState::new("org");
        for k in ["x", "y", "z"] {
            a.insert(state(k, None, false));
        }
        for k in ["z", "x", "y"] {
            b.insert(state(k, None, false));
        }
        assert_eq!(a, b);
        b.insert(state("y", Some(true), false));
        assert_ne!(a, b);
        b.insert(state("y", None, false));
        b.set_checkpoint(Checkpoint {
            org_key: "org".into(),
            poll_seq: 1,
            last_poll_ms: 0,
            member_count: 3,
            incarnation: None,
        });
        assert_ne!(a, b);
    }
}
