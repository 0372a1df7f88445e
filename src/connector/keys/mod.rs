//! One organization's API keys at work (issue 12): the [`KeyPool`] that says which
//! key polls, the Streak client of each key, and who owns it.
//!
//! - [`OrgKeys::org_users`] fetches the listing with the polling key; when Streak
//!   rejects that key (401, 403) the next healthy key takes over and the fetch is
//!   made again at once, within the same poll. Nothing was published with the
//!   rejected key (its fetch failed), so nothing is published twice. Only when every
//!   key is rejected does the fetch fail, with [`AllKeysRejected`]. A rejected key
//!   is never tried again on its own (the pool's rule).
//! - [`OrgKeys::check_standbys`] checks the standby keys that are due with the
//!   cheap `GET /users/me` (every 15 minutes by default).
//! - [`OrgKeys::watch_owners`] assesses each healthy key's owner against the
//!   organization as the poll left it (left, inactive, not an admin).
//!
//! Every change is reported through an internal event ([`telemetry`]): logged and
//! counted. No lock is held across an await.

pub(crate) mod rejected;
pub(crate) mod rejected_task;
pub mod ring;
pub(crate) mod rotation;
pub(crate) mod telemetry;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::keypool::{AddOutcome, AllKeysRejected, KeyPool, KeyState, PoolSettings};
use crate::keypool::{CheckOutcome, RejectOutcome, RemoveOutcome};
use crate::membership::owner::{assess_owner, KeyOwner, OwnerRisks};
use crate::membership::{OrgState, Settings};
use crate::metrics::Metrics;
use crate::streak::{ApiError, FetchedListing, StreakApi};
use crate::telemetry::InternalEvent as _;
use telemetry::{
    KeyCountsChanged, KeyFailedOver, KeyJoined, KeyLeft, KeyOwnerWatched, KeyRejected,
    StandbyCheckInconclusive,
};

/// Whether an error says Streak refused this key (401, 403): the key's fault, so
/// another key of the pool may do better. (410 Gone is the API's, not the key's.)
pub fn rejects_key(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }
    )
}

/// Why a listing could not be fetched with any key.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The call failed for a reason that is not the key's (after the client's
    /// retries), or the API itself refused (410).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Every key of the pool is rejected.
    #[error(transparent)]
    AllRejected(#[from] AllKeysRejected),
}

/// What is known of one key of the pool.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub fingerprint: String,
    pub state: KeyState,
    /// The owner, from the key's `/users/me`.
    pub owner: KeyOwner,
    /// The risks of the owner as the last poll saw them.
    pub risks: OwnerRisks,
    /// Whether the owner is listed as an admin (as the last poll saw them).
    pub owner_admin: Option<bool>,
    /// The owner's last activity (epoch ms) as the last poll saw it.
    pub owner_last_seen_ms: Option<i64>,
}

#[derive(Debug)]
struct Key {
    api: Arc<dyn StreakApi>,
    owner: KeyOwner,
    risks: OwnerRisks,
    owner_admin: Option<bool>,
    owner_last_seen_ms: Option<i64>,
}

#[derive(Debug)]
struct Inner {
    pool: KeyPool,
    keys: BTreeMap<String, Key>,
}

/// One organization's pool of keys, shared by its poller and the key rotation.
#[derive(Debug)]
pub struct OrgKeys {
    org_key: String,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
}

impl OrgKeys {
    /// A pool for `org_key` holding its first key, verified by the caller (its
    /// `/users/me` named this organization and this owner).
    pub fn new(
        org_key: &str,
        first: Arc<dyn StreakApi>,
        owner: KeyOwner,
        settings: PoolSettings,
        metrics: Arc<Metrics>,
        now_ms: i64,
    ) -> Arc<OrgKeys> {
        let keys = Arc::new(OrgKeys {
            org_key: org_key.to_owned(),
            metrics,
            inner: Mutex::new(Inner {
                pool: KeyPool::new(org_key, settings),
                keys: BTreeMap::new(),
            }),
        });
        keys.add(first, owner, now_ms);
        keys
    }

    /// The organization.
    pub fn org_key(&self) -> &str {
        &self.org_key
    }

    /// Adds a verified key: it polls if no key is healthy, else it stands by.
    pub fn add(&self, api: Arc<dyn StreakApi>, owner: KeyOwner, now_ms: i64) -> AddOutcome {
        let fingerprint = api.key_fingerprint().to_owned();
        let outcome = self.with(|inner| {
            let outcome = inner.pool.add(fingerprint.clone(), now_ms);
            if outcome != AddOutcome::AlreadyPresent {
                inner.keys.insert(
                    fingerprint.clone(),
                    Key {
                        api,
                        owner,
                        risks: OwnerRisks::default(),
                        owner_admin: None,
                        owner_last_seen_ms: None,
                    },
                );
            }
            outcome
        });
        if let Some(outcome) = outcome {
            if outcome != AddOutcome::AlreadyPresent {
                KeyJoined {
                    org: &self.org_key,
                    key: &fingerprint,
                    polling: outcome == AddOutcome::Active,
                }
                .emit(&self.metrics);
                self.report_counts();
            }
            return outcome;
        }
        AddOutcome::AlreadyPresent
    }

    /// Removes a key (it left the key file); the next healthy key takes over if it
    /// was polling. Returns whether the pool is empty now.
    pub fn remove(&self, fingerprint: &str, now_ms: i64) -> bool {
        let outcome = self.with(|inner| {
            inner.keys.remove(fingerprint);
            (
                inner.pool.remove(fingerprint, now_ms),
                inner.pool.is_empty(),
            )
        });
        let Some((outcome, empty)) = outcome else {
            return false;
        };
        if outcome != RemoveOutcome::Unknown {
            let handed_to = match &outcome {
                RemoveOutcome::HandedOver { to, .. } => Some(to.as_str()),
                _ => None,
            };
            KeyLeft {
                org: &self.org_key,
                key: fingerprint,
                handed_to,
            }
            .emit(&self.metrics);
            self.report_counts();
        }
        empty
    }

    /// Whether the key is in the pool.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.with(|inner| inner.pool.contains(fingerprint))
            .unwrap_or(false)
    }

    /// Every key, in pool order, with what is known of its owner.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.with(|inner| {
            inner
                .pool
                .keys()
                .into_iter()
                .filter_map(|(fp, state)| {
                    let k = inner.keys.get(fp)?;
                    Some(KeyInfo {
                        fingerprint: fp.to_owned(),
                        state,
                        owner: k.owner.clone(),
                        risks: k.risks,
                        owner_admin: k.owner_admin,
                        owner_last_seen_ms: k.owner_last_seen_ms,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
    }

    /// The polling key's client, or the error that says every key is rejected.
    fn polling(&self) -> Result<(String, Arc<dyn StreakApi>), AllKeysRejected> {
        self.with(|inner| {
            let fp = inner.pool.poll_key()?.to_owned();
            match inner.keys.get(&fp) {
                Some(k) => Ok((fp, k.api.clone())),
                None => Err(inner.pool.all_rejected()),
            }
        })
        .unwrap_or_else(|| {
            Err(AllKeysRejected {
                org_key: self.org_key.clone(),
                rejected: 0,
            })
        })
    }

    /// The organization's name (`GET /users/me/organization` with the polling key),
    /// for records that name it; `None` when Streak does not give it for this
    /// organization or cannot be asked now.
    pub async fn organization_name(&self) -> Option<String> {
        let (_, api) = self.polling().ok()?;
        let o = api.organization().await.ok()?;
        o.name.filter(|_| o.key == self.org_key)
    }

    /// `GET /organizations/{org}/users` with the polling key; on a rejected key the
    /// next healthy key takes over and the fetch is made again at once.
    pub async fn org_users(&self) -> Result<FetchedListing, FetchError> {
        // Each round rejects one key (or finds the polling key changed meanwhile),
        // so the rounds are bounded by the keys of the pool.
        let rounds = self.with(|inner| inner.pool.len()).unwrap_or(0) + 1;
        let mut last = None;
        for _ in 0..rounds {
            let (fp, api) = self.polling()?;
            match api.org_users(&self.org_key).await {
                Ok(listing) => return Ok(listing),
                Err(e) if rejects_key(&e) => {
                    self.rejected(&fp, &e);
                    last = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        match last {
            Some(e) => Err(e.into()),
            None => Err(self.polling().err().map_or_else(
                || FetchError::AllRejected(self.all_rejected()),
                FetchError::AllRejected,
            )),
        }
    }

    fn all_rejected(&self) -> AllKeysRejected {
        self.with(|inner| inner.pool.all_rejected())
            .unwrap_or(AllKeysRejected {
                org_key: self.org_key.clone(),
                rejected: 0,
            })
    }

    /// Streak refused `fingerprint`: the pool moves on, and the world is told.
    fn rejected(&self, fingerprint: &str, error: &ApiError) {
        let Some(outcome) = self.with(|inner| inner.pool.reject(fingerprint)) else {
            return;
        };
        let error_code = crate::recovery::Classified::error_code(error);
        match &outcome {
            RejectOutcome::Unknown | RejectOutcome::AlreadyRejected => return,
            RejectOutcome::FailedOver { from, to } => {
                KeyRejected {
                    org: &self.org_key,
                    key: from,
                    error_code,
                    error,
                    was_polling: true,
                }
                .emit(&self.metrics);
                KeyFailedOver {
                    org: &self.org_key,
                    from,
                    to,
                    error_code,
                }
                .emit(&self.metrics);
            }
            RejectOutcome::StandbyRejected | RejectOutcome::AllRejected(_) => KeyRejected {
                org: &self.org_key,
                key: fingerprint,
                error_code,
                error,
                was_polling: matches!(outcome, RejectOutcome::AllRejected(_)),
            }
            .emit(&self.metrics),
        }
        self.report_counts();
    }

    /// Checks every standby key that is due with `GET /users/me` (and a rejected
    /// key once after the key set changed). A 401/403 rejects the key; a key that
    /// now sees another organization is rejected for this one; any other failure
    /// leaves it as it was until its next check.
    pub async fn check_standbys(&self, now_ms: i64) {
        let due: Vec<(String, Arc<dyn StreakApi>)> = self
            .with(|inner| {
                inner
                    .pool
                    .due_checks(now_ms)
                    .into_iter()
                    .filter_map(|fp| inner.keys.get(fp).map(|k| (fp.to_owned(), k.api.clone())))
                    .collect()
            })
            .unwrap_or_default();
        for (fp, api) in due {
            match api.me().await {
                Ok(me) if me.org_key.as_deref().is_none_or(|o| o == self.org_key) => {
                    let outcome = self.with(|inner| inner.pool.check_ok(&fp, now_ms));
                    if outcome == Some(CheckOutcome::Active) {
                        KeyJoined {
                            org: &self.org_key,
                            key: &fp,
                            polling: true,
                        }
                        .emit(&self.metrics);
                    }
                    self.report_counts();
                }
                Ok(_) => self.rejected(
                    &fp,
                    &ApiError::Forbidden {
                        endpoint: crate::metrics::endpoint::USERS_ME,
                        detail: Some("the key now sees another organization".into()),
                    },
                ),
                Err(e) if rejects_key(&e) => self.rejected(&fp, &e),
                Err(e) => {
                    self.with(|inner| inner.pool.check_inconclusive(&fp, now_ms));
                    StandbyCheckInconclusive {
                        org: &self.org_key,
                        key: &fp,
                        error: &e,
                    }
                    .emit(&self.metrics);
                }
            }
        }
    }

    /// Assesses each healthy key's owner against the organization as the poll left
    /// it, and exports the risks (`api_key_owner_at_risk`) and the key counts.
    pub fn watch_owners(&self, state: &OrgState, now_ms: i64, settings: &Settings) {
        let assessed: Vec<(String, OwnerRisks, bool)> = self
            .with(|inner| {
                let mut out = Vec::new();
                for (fp, st) in inner.pool.keys() {
                    let Some(k) = inner.keys.get_mut(fp) else {
                        continue;
                    };
                    if !st.is_healthy() {
                        continue;
                    }
                    let a = assess_owner(&k.owner, state, now_ms, settings);
                    let changed = a.risks != k.risks;
                    k.risks = a.risks;
                    k.owner_admin = a.listed.as_ref().and_then(|l| l.member.is_org_admin);
                    k.owner_last_seen_ms = a.listed.as_ref().and_then(|l| l.member.last_seen_ms);
                    out.push((fp.to_owned(), a.risks, changed));
                }
                out
            })
            .unwrap_or_default();
        for (fp, risks, changed) in &assessed {
            KeyOwnerWatched {
                org: &self.org_key,
                key: fp,
                risks: *risks,
                changed: *changed,
            }
            .emit(&self.metrics);
        }
        self.report_counts();
    }

    fn report_counts(&self) {
        if let Some(counts) = self.with(|inner| inner.pool.counts()) {
            KeyCountsChanged {
                org: &self.org_key,
                counts,
            }
            .emit(&self.metrics);
        }
    }

    /// Runs `f` under the lock; `None` if a panic elsewhere poisoned it.
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut g| f(&mut g))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
