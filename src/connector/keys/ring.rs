//! Every API key of the process, placed in its organization's pool.
//!
//! A key is placed by its `GET /users/me` (and `GET /users/me/organization` when
//! the first does not name the organization): keys that see one organization form
//! its pool. A key Streak rejects at that point is set aside and not tried again
//! until it leaves and rejoins the key file; a key whose check fails for another
//! reason (Streak down) is tried again with every [`KeyRing::retry_pending`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::rejected::RejectedKey;
use super::telemetry::{KeyPoolFormed, KeyUnresolved};
use super::{rejects_key, OrgKeys};
use crate::connector::context::Clock;
use crate::keypool::PoolSettings;
use crate::membership::owner::KeyOwner;
use crate::metrics::Metrics;
use crate::recovery::Classified as _;
use crate::streak::{ApiError, StreakApi};
use crate::telemetry::InternalEvent as _;

/// Where [`KeyRing::admit`] put a key.
#[derive(Debug, Clone)]
pub enum Admitted {
    /// The key joined the pool of an organization already polled.
    Joined { org: String },
    /// The key is the first of its organization: poll it with this new pool.
    NewOrganization(Arc<OrgKeys>),
    /// The key is in the ring already.
    AlreadyKnown,
    /// Streak rejected the key (401/403): set aside, not retried.
    Rejected(RejectedKey),
    /// The key's organization could not be learned yet: tried again later.
    Pending { error: String },
}

/// The pools of every organization, and the keys not placed yet.
pub struct KeyRing {
    settings: PoolSettings,
    metrics: Arc<Metrics>,
    clock: Clock,
    orgs: Mutex<BTreeMap<String, Arc<OrgKeys>>>,
    /// Keys whose organization is not known yet (a transient failure).
    pending: Mutex<BTreeMap<String, Arc<dyn StreakApi>>>,
    /// Keys Streak rejected before they were placed.
    rejected: Mutex<HashMap<String, RejectedKey>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    pub fn new(settings: PoolSettings, metrics: Arc<Metrics>, clock: Clock) -> Self {
        KeyRing {
            settings,
            metrics,
            clock,
            orgs: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(BTreeMap::new()),
            rejected: Mutex::new(HashMap::new()),
        }
    }

    /// The pools, by organization.
    pub fn orgs(&self) -> Vec<Arc<OrgKeys>> {
        self.orgs
            .lock()
            .map(|o| o.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The pool of `org`, if it has one.
    pub fn org(&self, org: &str) -> Option<Arc<OrgKeys>> {
        self.orgs.lock().ok().and_then(|o| o.get(org).cloned())
    }

    /// Learns the key's organization and owner and places it in that pool.
    pub async fn admit(&self, api: Arc<dyn StreakApi>) -> Admitted {
        let fp = api.key_fingerprint().to_owned();
        if self.placed(&fp) {
            return Admitted::AlreadyKnown;
        }
        match resolve(api.as_ref()).await {
            Ok((org, owner)) => {
                self.forget_unplaced(&fp);
                self.place(api, &org, owner)
            }
            Err(e) => {
                let rejected = rejects_key(&e);
                KeyUnresolved {
                    key: &fp,
                    error_code: e.error_code(),
                    error: &e,
                    retried: !rejected,
                }
                .emit(&self.metrics);
                if rejected {
                    self.forget_unplaced(&fp);
                    let key = RejectedKey {
                        fingerprint: fp.clone(),
                        error_code: e.error_code(),
                        reason: e.to_string(),
                    };
                    if let Ok(mut r) = self.rejected.lock() {
                        r.insert(fp, key.clone());
                    }
                    Admitted::Rejected(key)
                } else {
                    if let Ok(mut p) = self.pending.lock() {
                        p.insert(fp, api);
                    }
                    Admitted::Pending {
                        error: e.to_string(),
                    }
                }
            }
        }
    }

    /// Tries the pending keys again; returns the new organizations to poll.
    pub async fn retry_pending(&self) -> Vec<Arc<OrgKeys>> {
        let pending: Vec<Arc<dyn StreakApi>> = self
            .pending
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        let mut new_orgs = Vec::new();
        for api in pending {
            if let Admitted::NewOrganization(keys) = self.admit(api).await {
                new_orgs.push(keys);
            }
        }
        new_orgs
    }

    /// Takes a key out of the ring (it left the key file). An organization whose
    /// pool is empty now keeps its (empty) pool: its poller reports that it has no
    /// key until one is added again.
    pub fn remove(&self, fingerprint: &str) {
        self.forget_unplaced(fingerprint);
        let now = (self.clock)();
        for keys in self.orgs() {
            if keys.contains(fingerprint) {
                keys.remove(fingerprint, now);
            }
        }
    }

    /// Whether the key was rejected before it could be placed (and is still in the
    /// key file).
    pub fn is_rejected(&self, fingerprint: &str) -> bool {
        self.rejected
            .lock()
            .is_ok_and(|r| r.contains_key(fingerprint))
    }

    /// The fingerprints of every key placed in an organization's pool.
    pub fn placed_fingerprints(&self) -> Vec<String> {
        self.orgs()
            .iter()
            .flat_map(|k| k.keys().into_iter().map(|i| i.fingerprint))
            .collect()
    }

    fn placed(&self, fp: &str) -> bool {
        self.orgs().iter().any(|k| k.contains(fp))
    }

    fn forget_unplaced(&self, fp: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(fp);
        }
        if let Ok(mut r) = self.rejected.lock() {
            r.remove(fp);
        }
    }

    fn place(&self, api: Arc<dyn StreakApi>, org: &str, owner: KeyOwner) -> Admitted {
        let now = (self.clock)();
        let Ok(mut orgs) = self.orgs.lock() else {
            return Admitted::Pending {
                error: "internal error: key ring lock poisoned".into(),
            };
        };
        if let Some(keys) = orgs.get(org).cloned() {
            drop(orgs);
            keys.add(api, owner, now);
            return Admitted::Joined {
                org: org.to_owned(),
            };
        }
        KeyPoolFormed { org }.emit(&self.metrics);
        let keys = OrgKeys::new(org, api, owner, self.settings, self.metrics.clone(), now);
        orgs.insert(org.to_owned(), keys.clone());
        Admitted::NewOrganization(keys)
    }
}

/// The organization a key sees, and its owner.
pub async fn resolve(api: &dyn StreakApi) -> Result<(String, KeyOwner), ApiError> {
    let me = api.me().await?;
    let owner = KeyOwner {
        user_key: me.key.clone(),
        email: me.email.clone(),
    };
    let org = match me.org_key.filter(|k| !k.is_empty()) {
        Some(k) => k,
        None => api.organization().await?.key,
    };
    Ok((org, owner))
}
