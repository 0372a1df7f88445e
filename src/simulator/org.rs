//! One organization of the simulator's live state: its members in listing order and
//! the cached serialized listing. No I/O.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::Value;

use super::model::{SimMember, WireUser};
use super::SimError;

#[derive(Debug)]
pub(crate) struct OrgRuntime {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) creation_ms: Option<i64>,
    /// Members in listing order (join order), by join sequence number.
    pub(crate) members: BTreeMap<u64, SimMember>,
    /// Member key -> join sequence number.
    pub(crate) index: HashMap<String, u64>,
    pub(crate) next_seq: u64,
    /// The serialized listing, until the next change.
    pub(crate) cache: Option<Bytes>,
}

impl OrgRuntime {
    pub(crate) fn insert(&mut self, m: SimMember) -> Result<(), SimError> {
        if self.index.contains_key(&m.key) {
            return Err(SimError::DuplicateMember {
                org: self.key.clone(),
                key: m.key,
            });
        }
        self.index.insert(m.key.clone(), self.next_seq);
        self.members.insert(self.next_seq, m);
        self.next_seq += 1;
        self.cache = None;
        Ok(())
    }

    /// Removes a member from the listing, returning it.
    pub(crate) fn remove(&mut self, key: &str) -> Result<SimMember, SimError> {
        let removed = self
            .index
            .remove(key)
            .and_then(|seq| self.members.remove(&seq));
        match removed {
            Some(m) => {
                self.cache = None;
                Ok(m)
            }
            None => Err(SimError::UnknownMember {
                org: self.key.clone(),
                key: key.to_owned(),
            }),
        }
    }

    pub(crate) fn member_mut(&mut self, key: &str) -> Result<&mut SimMember, SimError> {
        let found = self
            .index
            .get(key)
            .and_then(|seq| self.members.get_mut(seq));
        match found {
            Some(m) => {
                self.cache = None;
                Ok(m)
            }
            None => Err(SimError::UnknownMember {
                org: self.key.clone(),
                key: key.to_owned(),
            }),
        }
    }

    pub(crate) fn member(&self, key: &str) -> Option<&SimMember> {
        self.index.get(key).and_then(|seq| self.members.get(seq))
    }

    pub(crate) fn listing_bytes(&mut self) -> Bytes {
        if let Some(b) = &self.cache {
            return b.clone();
        }
        let wire: Vec<WireUser<'_>> = self
            .members
            .values()
            .map(|m| WireUser::new(m, &self.key))
            .collect();
        let bytes = Bytes::from(serde_json::to_vec(&wire).unwrap_or_default());
        self.cache = Some(bytes.clone());
        bytes
    }

    pub(crate) fn entries(&self) -> Vec<Value> {
        self.members
            .values()
            .map(|m| m.to_wire(&self.key))
            .collect()
    }
}
