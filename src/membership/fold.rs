//! The fold from restored state records into each organization's [`OrgState`]:
//! what the start-up does with the live entries of the compacted state topic.
//!
//! Pure: the records arrive already decoded and deduplicated (last value per key);
//! the order between keys does not matter, since each key holds one member's state
//! or one organization's checkpoint.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::packed::PackedMember;
use super::{Checkpoint, OrgState, StateRecord};

/// A live state record as the restore keeps it: a member already packed (the
/// decoder packs it straight from the record's bytes), or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RestoredRecord {
    Member {
        org_key: String,
        member: PackedMember,
    },
    /// A member record without a state (a tombstone's decoded key): adds nothing.
    Tombstone {
        org_key: String,
        user_key: String,
    },
    Checkpoint(Checkpoint),
}

impl RestoredRecord {
    /// The organization, and the member (`None` for the checkpoint).
    pub(crate) fn subject(&self) -> (&str, Option<&str>) {
        match self {
            RestoredRecord::Member { org_key, member } => (org_key, Some(member.key_str())),
            RestoredRecord::Tombstone { org_key, user_key } => (org_key, Some(user_key)),
            RestoredRecord::Checkpoint(c) => (&c.org_key, None),
        }
    }
}

impl From<StateRecord> for RestoredRecord {
    fn from(record: StateRecord) -> Self {
        match record {
            StateRecord::Member {
                org_key,
                state: Some(state),
                ..
            } => RestoredRecord::Member {
                org_key,
                member: PackedMember::pack(&state),
            },
            StateRecord::Member {
                org_key,
                user_key,
                state: None,
            } => RestoredRecord::Tombstone { org_key, user_key },
            StateRecord::Checkpoint(c) => RestoredRecord::Checkpoint(c),
        }
    }
}

/// Every organization's state, by organization key, from the live state records.
/// A member record without a state (a tombstone's decoded key) adds nothing.
pub fn fold_state(records: impl IntoIterator<Item = StateRecord>) -> HashMap<String, OrgState> {
    fold_restored(
        records.into_iter().map(RestoredRecord::from),
        &HashMap::new(),
    )
}

/// How many member records each organization has among `records`: the sizes
/// [`fold_restored`] reserves before it inserts.
pub(crate) fn member_counts<'a>(
    records: impl IntoIterator<Item = &'a RestoredRecord>,
) -> HashMap<String, usize> {
    let mut counts: HashMap<&str, usize, foldhash::fast::RandomState> = HashMap::default();
    for record in records {
        if let RestoredRecord::Member { org_key, .. } = record {
            *counts.entry(org_key.as_str()).or_default() += 1;
        }
    }
    counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect()
}

/// [`fold_state`] of records the restore decoded packed: each member moves into
/// its organization as it is. `sizes` ([`member_counts`]) sizes each organization
/// once, when it is first met; a missing one grows as it goes.
pub(crate) fn fold_restored(
    records: impl IntoIterator<Item = RestoredRecord>,
    sizes: &HashMap<String, usize>,
) -> HashMap<String, OrgState> {
    // foldhash for the look-up made once a record (SipHash was a tenth of the fold);
    // the few organizations then move into the map the caller keeps.
    let mut orgs: HashMap<String, OrgState, foldhash::fast::RandomState> = HashMap::default();
    for record in records {
        match record {
            RestoredRecord::Member { org_key, member } => {
                org_of(&mut orgs, org_key, sizes).insert_packed(member);
            }
            RestoredRecord::Tombstone { .. } => {}
            RestoredRecord::Checkpoint(c) => {
                let org_key = c.org_key.clone();
                org_of(&mut orgs, org_key, sizes).set_checkpoint(c);
            }
        }
    }
    orgs.into_iter().collect()
}

/// The organization `org_key` names, added empty when new. The record's key moves
/// into the look-up and is cloned only for a new organization: the restore of one
/// large organization folds every member record into one entry, and a clone per
/// record was an allocation per member.
fn org_of<'a>(
    orgs: &'a mut HashMap<String, OrgState, foldhash::fast::RandomState>,
    org_key: String,
    sizes: &HashMap<String, usize>,
) -> &'a mut OrgState {
    match orgs.entry(org_key) {
        Entry::Occupied(org) => org.into_mut(),
        Entry::Vacant(new) => {
            let key = new.key().clone();
            let size = sizes.get(&key).copied().unwrap_or(0);
            let org = new.insert(OrgState::new(key));
            org.reserve(size);
            org
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::Checkpoint;

    #[test]
    fn checkpoints_and_members_land_in_their_organization() {
        let checkpoint = |org: &str, seq| {
            StateRecord::Checkpoint(Checkpoint {
                org_key: org.into(),
                poll_seq: seq,
                last_poll_ms: 0,
                member_count: 0,
                incarnation: None,
            })
        };
        let orgs = fold_state([checkpoint("a", 3), checkpoint("b", 7)]);
        assert_eq!(orgs.len(), 2);
        assert_eq!(orgs["a"].checkpoint().map(|c| c.poll_seq), Some(3));
        assert_eq!(orgs["b"].checkpoint().map(|c| c.poll_seq), Some(7));
        assert!(orgs["a"].is_empty());
    }

    #[test]
    fn sized_and_unsized_folds_agree() {
        use crate::membership::{Member, MemberState};
        let member = |org: &str, user: String| {
            RestoredRecord::from(StateRecord::Member {
                org_key: org.into(),
                user_key: user.clone(),
                state: Some(MemberState {
                    member: Member {
                        key: user,
                        ..Member::default()
                    },
                    inactive: false,
                    first_seen_ms: 1,
                    last_changed_ms: 2,
                }),
            })
        };
        let records: Vec<_> = (0..300)
            .map(|i| member(if i % 3 == 0 { "a" } else { "b" }, format!("u{i}")))
            .collect();
        let sizes = member_counts(&records);
        assert_eq!((sizes["a"], sizes["b"]), (100, 200));
        let sized = fold_restored(records.clone(), &sizes);
        // Under-sized: the index still grows as it goes.
        let small: HashMap<String, usize> = [("b".to_owned(), 3)].into();
        for orgs in [sized, fold_restored(records, &small)] {
            assert_eq!((orgs["a"].len(), orgs["b"].len()), (100, 200));
            assert!((0..300).all(|i| {
                let org = if i % 3 == 0 { "a" } else { "b" };
                orgs[org].contains(&format!("u{i}"))
            }));
        }
    }
}
