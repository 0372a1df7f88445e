//! State the poll cycle shares with the HTTP side door: [`Health`] (what readiness
//! means, fed by every poll) and [`Holds`] (the guard's holds and the operators'
//! decisions on them), with the list of organizations being polled.
//!
//! The cycle writes here and `crate::server` reads here, so neither depends on the
//! other. Nothing here awaits while holding a lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::holds::Holds;

/// What the poll cycle shares with the HTTP side door, built once by the command.
#[derive(Debug, Clone)]
pub struct Shared {
    pub health: Arc<Health>,
    pub holds: Arc<Holds>,
    /// The organizations being polled.
    pub orgs: Arc<Mutex<Vec<String>>>,
    /// What `/status` shows ([`super::status`]).
    pub status: Arc<super::status::StatusBoard>,
}

impl Shared {
    /// Fresh state; `/readyz` fails after `ready_threshold` failed polls in a row.
    pub fn new(ready_threshold: u32) -> Self {
        Shared {
            health: Arc::new(Health::new(ready_threshold)),
            holds: Arc::new(Holds::default()),
            orgs: Arc::new(Mutex::new(Vec::new())),
            status: Arc::default(),
        }
    }
}

/// What `/readyz` reports: the state is restored and no organization's polls have
/// failed `threshold` times in a row.
#[derive(Debug)]
pub struct Health {
    restored: AtomicBool,
    threshold: u32,
    orgs: Mutex<HashMap<String, OrgHealth>>,
}

/// The health of one poller, keyed by its stable identity (the API key's
/// fingerprint), never by its label, which changes from `key:<fingerprint>` to the
/// organization key once the organization resolves.
#[derive(Debug, Clone, Default)]
struct OrgHealth {
    /// What `/readyz` names: the organization once known, else `key:<fingerprint>`.
    label: String,
    consecutive_failures: u32,
    last_error_code: Option<&'static str>,
}

impl Health {
    pub fn new(threshold: u32) -> Self {
        Health {
            restored: AtomicBool::new(false),
            threshold: threshold.max(1),
            orgs: Mutex::new(HashMap::new()),
        }
    }

    /// The state topic has been read to its end.
    pub fn set_restored(&self) {
        self.restored.store(true, Ordering::SeqCst);
    }

    /// A poll of the poller `id` (stable: the key's fingerprint) succeeded (or was
    /// held by the guard: that is the guard working, reported by its own metric, not
    /// a failure of the connector). `label` is what `/readyz` names.
    pub fn poll_ok(&self, id: &str, label: &str) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.insert(
                id.to_string(),
                OrgHealth {
                    label: label.to_string(),
                    ..OrgHealth::default()
                },
            );
        }
    }

    /// A poll of the poller `id` failed with a fixed error code.
    pub fn poll_failed(&self, id: &str, label: &str, error_code: &'static str) {
        if let Ok(mut orgs) = self.orgs.lock() {
            let h = orgs.entry(id.to_string()).or_default();
            h.label = label.to_string();
            h.consecutive_failures += 1;
            h.last_error_code = Some(error_code);
        }
    }

    /// The key `id` (`key:<fingerprint>`) could not be placed in an organization's
    /// pool yet (Streak unreachable at start-up): not ready until it is placed
    /// ([`Health::forget`]).
    pub fn unplaced(&self, id: &str, error_code: &'static str) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.insert(
                id.to_string(),
                OrgHealth {
                    label: id.to_string(),
                    consecutive_failures: self.threshold,
                    last_error_code: Some(error_code),
                },
            );
        }
    }

    /// `org` is no longer polled (a rejected key that left the key file): it no
    /// longer counts for readiness.
    pub fn forget(&self, org: &str) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.remove(org);
        }
    }

    /// `Ok` when ready, else why not.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.restored.load(Ordering::SeqCst) {
            return Err("state not restored yet".into());
        }
        let orgs = self
            .orgs
            .lock()
            .map_err(|_| "health state poisoned".to_string())?;
        let mut failing: Vec<String> = orgs
            .iter()
            .filter(|(_, h)| h.consecutive_failures >= self.threshold)
            .map(|(id, h)| {
                let name = if h.label.is_empty() || h.label == *id {
                    id.clone()
                } else {
                    format!("{} ({id})", h.label)
                };
                format!(
                    "{name}: {} failed polls in a row ({})",
                    h.consecutive_failures,
                    h.last_error_code.unwrap_or("unknown")
                )
            })
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            failing.sort();
            Err(failing.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_restore_and_healthy_orgs() {
        let h = Health::new(2);
        assert!(h.readiness().is_err());
        h.set_restored();
        assert!(h.readiness().is_ok());
        h.poll_failed("key:f1", "o1", "unauthorized");
        assert!(h.readiness().is_ok(), "one failure is below the threshold");
        h.poll_failed("key:f1", "o1", "unauthorized");
        let why = h.readiness().expect_err("two failures");
        assert!(why.contains("o1") && why.contains("unauthorized"), "{why}");
        h.poll_ok("key:f1", "o1");
        assert!(h.readiness().is_ok());
    }

    /// Issue 13.1: polls that fail before the organization is known and succeed
    /// after are one poller's health, so readiness recovers.
    #[test]
    fn readiness_recovers_when_the_label_changes_to_the_organization() {
        let h = Health::new(1);
        h.set_restored();
        h.poll_failed("key:f1", "key:f1", "server_error");
        let why = h.readiness().expect_err("failing before the org is known");
        assert!(why.contains("key:f1"), "{why}");
        h.poll_ok("key:f1", "org-a");
        assert!(h.readiness().is_ok(), "{:?}", h.readiness());
        h.poll_failed("key:f1", "org-a", "server_error");
        let why = h.readiness().expect_err("failing again");
        assert!(why.contains("org-a (key:f1)"), "{why}");
    }
}
