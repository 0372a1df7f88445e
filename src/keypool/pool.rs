//! The state of one organization's key pool, and every decision about it.
//!
//! Rules (issue 12.1):
//!
//! - at most one key is [`KeyState::Active`]: the one that polls. Whenever the pool
//!   has a healthy key (active or standby), exactly one key is active;
//! - a rejected key (401/403 from a poll or from its `/users/me` check) is never
//!   active, and is never tried again on its own: it leaves `rejected` only after the
//!   pool's key set changes (a key added or removed, as a rotated key file does), and
//!   then only through one fresh check;
//! - when the active key is rejected, the next healthy standby takes over at once, in
//!   pool order (the order keys were added), starting after the rejected key;
//! - when no healthy key is left the outcome says so ([`AllKeysRejected`]);
//! - standby keys are checked now and then: each has a due time, `standby_check_every`
//!   after its last check.
//!
//! Pure: no I/O, no clock read (times are epoch milliseconds passed in), no logging.

use std::collections::BTreeMap;
use std::fmt;

use crate::recovery::{Classified, Recovery};

/// How often a standby key is checked with `GET /users/me` by default: 15 minutes.
pub(crate) const DEFAULT_STANDBY_CHECK_EVERY_MS: i64 = 15 * 60 * 1000;

/// The tunables of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Time between two checks of a standby key (and between a transient check
    /// failure and the next try).
    pub standby_check_every_ms: i64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            standby_check_every_ms: DEFAULT_STANDBY_CHECK_EVERY_MS,
        }
    }
}

/// The state of one key in its pool: the `state` label of
/// `streak_connector_api_keys{org,state}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    /// The key that polls the organization.
    Active,
    /// A healthy key waiting to take over.
    Standby,
    /// Streak refused the key (401/403): revoked, or its owner left.
    Rejected,
}

impl KeyState {
    /// Every state, for zero-valued series.
    pub const ALL: [KeyState; 3] = [KeyState::Active, KeyState::Standby, KeyState::Rejected];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Standby => "standby",
            KeyState::Rejected => "rejected",
        }
    }

    /// Whether the key may poll: active or standby.
    pub fn is_healthy(self) -> bool {
        self != KeyState::Rejected
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many keys of a pool are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KeyCounts {
    pub active: usize,
    pub standby: usize,
    pub rejected: usize,
}

impl KeyCounts {
    /// The count for `state`.
    pub(crate) fn get(&self, state: KeyState) -> usize {
        match state {
            KeyState::Active => self.active,
            KeyState::Standby => self.standby,
            KeyState::Rejected => self.rejected,
        }
    }

    /// `(state, count)` for every state, zeros included, in [`KeyState::ALL`] order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (KeyState, usize)> + '_ {
        KeyState::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

/// Every key of an organization's pool was rejected (or the pool has no key left):
/// the organization cannot be polled until an operator adds a working key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct AllKeysRejected {
    pub org_key: String,
    /// How many keys the pool holds, all rejected.
    pub rejected: usize,
}

impl AllKeysRejected {
    fn describe(&self) -> String {
        match self.rejected {
            0 => format!(
                "organization `{}` has no API key left: add a key of one of its admins to the key file",
                self.org_key
            ),
            1 => format!(
                "the only API key of organization `{}` was rejected by Streak (revoked, or its owner left): add a working key to the key file",
                self.org_key
            ),
            n => format!(
                "all {n} API keys of organization `{}` were rejected by Streak (revoked, or their owners left): add a working key to the key file",
                self.org_key
            ),
        }
    }
}

impl Classified for AllKeysRejected {
    fn recovery(&self) -> Recovery {
        Recovery::StopOrganization
    }

    fn error_code(&self) -> &'static str {
        "all_keys_rejected"
    }
}

/// What [`KeyPool::reject`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RejectOutcome {
    /// No such key in the pool (it was removed meanwhile): nothing changed.
    Unknown,
    /// The key was rejected before: nothing changed, nothing to retry.
    AlreadyRejected,
    /// A standby key was rejected; the polling key stays.
    StandbyRejected,
    /// The polling key `from` was rejected and `to` polls from now on: retry the
    /// poll with `to` at once (a failover, to be logged and counted).
    FailedOver { from: String, to: String },
    /// The key was the last healthy one.
    AllRejected(AllKeysRejected),
}

/// What [`KeyPool::remove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoveOutcome {
    /// No such key in the pool.
    Unknown,
    /// A standby or rejected key left; the polling key stays.
    Removed,
    /// The polling key `from` left and `to` polls from now on.
    HandedOver { from: String, to: String },
    /// The polling key left and every key left is rejected.
    AllRejected(AllKeysRejected),
    /// The pool has no key any more: stop polling the organization.
    Empty,
}

/// What [`KeyPool::check_ok`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckOutcome {
    /// No such key in the pool: the result is stale.
    Unknown,
    /// The key is (still, or again) a healthy standby.
    Standby,
    /// The key polls from now on: the pool had no healthy key.
    Active,
    /// The key was rejected and no key-set change asked for a new check: the stale
    /// result is ignored.
    StillRejected,
}

/// What [`KeyPool::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The key is already in the pool: nothing changed.
    AlreadyPresent,
    /// The key stands by.
    Standby,
    /// The key polls from now on (the pool had no healthy key).
    Active,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Position in pool order: the order keys were added.
    seq: u64,
    state: KeyState,
    /// When the next `/users/me` check is due (standby keys, and rejected keys with
    /// `recheck`); `None` for the active key.
    next_check_ms: Option<i64>,
    /// A rejected key allowed one new check, after the key set changed.
    recheck: bool,
}

/// One organization's pool of keys, by fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPool {
    org_key: String,
    settings: PoolSettings,
    entries: BTreeMap<String, Entry>,
    next_seq: u64,
}

impl KeyPool {
    /// An empty pool for `org_key`.
    pub(crate) fn new(org_key: impl Into<String>, settings: PoolSettings) -> Self {
        KeyPool {
            org_key: org_key.into(),
            settings,
            entries: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Number of keys, whatever their state.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool has no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the key is in the pool.
    pub(crate) fn contains(&self, fingerprint: &str) -> bool {
        self.entries.contains_key(fingerprint)
    }

    #[cfg(test)]
    /// The state of a key.
    pub(crate) fn state(&self, fingerprint: &str) -> Option<KeyState> {
        self.entries.get(fingerprint).map(|e| e.state)
    }

    /// The key that polls, if any key is healthy.
    pub(crate) fn active(&self) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, e)| e.state == KeyState::Active)
            .map(|(fp, _)| fp.as_str())
    }

    /// The key to poll with, or the error that says every key was rejected.
    pub(crate) fn poll_key(&self) -> Result<&str, AllKeysRejected> {
        self.active().ok_or_else(|| self.all_rejected())
    }

    /// Every key with its state, in pool order.
    pub(crate) fn keys(&self) -> Vec<(&str, KeyState)> {
        self.ordered()
            .into_iter()
            .map(|(fp, e)| (fp, e.state))
            .collect()
    }

    /// The counts behind `streak_connector_api_keys{org,state}`.
    pub(crate) fn counts(&self) -> KeyCounts {
        let mut c = KeyCounts::default();
        for e in self.entries.values() {
            match e.state {
                KeyState::Active => c.active += 1,
                KeyState::Standby => c.standby += 1,
                KeyState::Rejected => c.rejected += 1,
            }
        }
        c
    }

    /// Adds a key the caller has verified (its `/users/me` named this organization).
    /// It polls if no other key is healthy, else it stands by until its next check.
    /// A rejected key of the pool gets one new check, due now: the key set changed.
    pub(crate) fn add(&mut self, fingerprint: impl Into<String>, now_ms: i64) -> AddOutcome {
        let fingerprint = fingerprint.into();
        if self.entries.contains_key(&fingerprint) {
            return AddOutcome::AlreadyPresent;
        }
        self.key_set_changed(now_ms);
        let active = self.active().is_none();
        let entry = Entry {
            seq: self.next_seq,
            state: if active {
                KeyState::Active
            } else {
                KeyState::Standby
            },
            next_check_ms: (!active).then(|| now_ms + self.settings.standby_check_every_ms),
            recheck: false,
        };
        self.next_seq += 1;
        self.entries.insert(fingerprint, entry);
        if active {
            AddOutcome::Active
        } else {
            AddOutcome::Standby
        }
    }

    /// Removes a key (it left the key file). If it was polling, the next healthy key
    /// takes over. A rejected key left in the pool gets one new check, due now.
    pub(crate) fn remove(&mut self, fingerprint: &str, now_ms: i64) -> RemoveOutcome {
        let Some(entry) = self.entries.remove(fingerprint) else {
            return RemoveOutcome::Unknown;
        };
        if self.entries.is_empty() {
            return RemoveOutcome::Empty;
        }
        self.key_set_changed(now_ms);
        if entry.state != KeyState::Active {
            return RemoveOutcome::Removed;
        }
        match self.promote_after(entry.seq) {
            Some(to) => RemoveOutcome::HandedOver {
                from: fingerprint.to_owned(),
                to,
            },
            None => RemoveOutcome::AllRejected(self.all_rejected()),
        }
    }

    /// Streak refused the key (401 or 403, from a poll or from its check). If it was
    /// polling, the next healthy standby takes over at once.
    pub(crate) fn reject(&mut self, fingerprint: &str) -> RejectOutcome {
        let Some(entry) = self.entries.get_mut(fingerprint) else {
            return RejectOutcome::Unknown;
        };
        let was = entry.state;
        entry.state = KeyState::Rejected;
        entry.next_check_ms = None;
        if was == KeyState::Rejected && !entry.recheck {
            return RejectOutcome::AlreadyRejected;
        }
        entry.recheck = false;
        let seq = entry.seq;
        match was {
            KeyState::Standby | KeyState::Rejected => RejectOutcome::StandbyRejected,
            KeyState::Active => match self.promote_after(seq) {
                Some(to) => RejectOutcome::FailedOver {
                    from: fingerprint.to_owned(),
                    to,
                },
                None => RejectOutcome::AllRejected(self.all_rejected()),
            },
        }
    }

    /// The key's `/users/me` check succeeded (and named this organization).
    pub(crate) fn check_ok(&mut self, fingerprint: &str, now_ms: i64) -> CheckOutcome {
        let no_active = self.active().is_none();
        let every = self.settings.standby_check_every_ms;
        let Some(entry) = self.entries.get_mut(fingerprint) else {
            return CheckOutcome::Unknown;
        };
        match entry.state {
            KeyState::Active => CheckOutcome::Active,
            KeyState::Rejected if !entry.recheck => CheckOutcome::StillRejected,
            KeyState::Standby | KeyState::Rejected => {
                entry.recheck = false;
                if no_active {
                    entry.state = KeyState::Active;
                    entry.next_check_ms = None;
                    CheckOutcome::Active
                } else {
                    entry.state = KeyState::Standby;
                    entry.next_check_ms = Some(now_ms + every);
                    CheckOutcome::Standby
                }
            }
        }
    }

    /// The key's check failed for a reason that says nothing about the key (a 5xx,
    /// a timeout): it is tried again one check interval later.
    pub(crate) fn check_inconclusive(&mut self, fingerprint: &str, now_ms: i64) {
        let every = self.settings.standby_check_every_ms;
        if let Some(e) = self.entries.get_mut(fingerprint) {
            if e.next_check_ms.is_some() {
                e.next_check_ms = Some(now_ms + every);
            }
        }
    }

    /// The keys whose `/users/me` check is due at `now_ms`, in pool order: standby
    /// keys, and rejected keys allowed one new check after a key-set change.
    pub(crate) fn due_checks(&self, now_ms: i64) -> Vec<&str> {
        self.ordered()
            .into_iter()
            .filter(|(_, e)| e.next_check_ms.is_some_and(|t| t <= now_ms))
            .map(|(fp, _)| fp)
            .collect()
    }

    #[cfg(test)]
    /// When the next check falls due, if any key has one scheduled.
    pub(crate) fn next_check_ms(&self) -> Option<i64> {
        self.entries.values().filter_map(|e| e.next_check_ms).min()
    }

    /// The "every key rejected" error for this pool as it is now.
    pub(crate) fn all_rejected(&self) -> AllKeysRejected {
        AllKeysRejected {
            org_key: self.org_key.clone(),
            rejected: self.counts().rejected,
        }
    }

    fn ordered(&self) -> Vec<(&str, &Entry)> {
        let mut v: Vec<(&str, &Entry)> =
            self.entries.iter().map(|(k, e)| (k.as_str(), e)).collect();
        v.sort_by_key(|(_, e)| e.seq);
        v
    }

    /// Makes the first standby after `seq` in pool order (wrapping) the active key.
    fn promote_after(&mut self, seq: u64) -> Option<String> {
        let order = self.ordered();
        let split = order.partition_point(|(_, e)| e.seq <= seq);
        let (before, after) = order.split_at(split);
        let next = after
            .iter()
            .chain(before)
            .find(|(_, e)| e.state == KeyState::Standby)
            .map(|(fp, _)| (*fp).to_owned())?;
        if let Some(e) = self.entries.get_mut(&next) {
            e.state = KeyState::Active;
            e.next_check_ms = None;
        }
        Some(next)
    }

    /// A key was added or removed: every rejected key may be checked once more, now.
    fn key_set_changed(&mut self, now_ms: i64) {
        for e in self.entries.values_mut() {
            if e.state == KeyState::Rejected {
                e.recheck = true;
                e.next_check_ms = Some(now_ms);
            }
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
