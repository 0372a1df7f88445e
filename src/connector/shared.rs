//! State the poll cycle shares with the HTTP side door: [`Health`] (what readiness
//! means, fed by every poll) and [`Releases`] (operator releases of the departure
//! guard, consumed by the next poll), with the list of organizations being polled.
//!
//! The cycle writes here and `crate::server` reads here, so neither depends on the
//! other. Nothing here awaits while holding a lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the poll cycle shares with the HTTP side door, built once by the command.
#[derive(Debug, Clone)]
pub struct Shared {
    pub health: Arc<Health>,
    pub releases: Arc<Releases>,
    /// The organizations being polled (releases for others are refused).
    pub orgs: Arc<Mutex<Vec<String>>>,
    /// What `/status` shows ([`super::status`]).
    pub status: Arc<super::status::StatusBoard>,
}

impl Shared {
    /// Fresh state; `/readyz` fails after `ready_threshold` failed polls in a row.
    pub fn new(ready_threshold: u32) -> Self {
        Shared {
            health: Arc::new(Health::new(ready_threshold)),
            releases: Arc::new(Releases::default()),
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

#[derive(Debug, Clone, Default)]
struct OrgHealth {
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

    /// A poll of `org` succeeded (or was held by the guard: that is the guard
    /// working, reported by its own metric, not a failure of the connector).
    pub fn poll_ok(&self, org: &str) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.insert(org.to_string(), OrgHealth::default());
        }
    }

    /// A poll of `org` failed with a fixed error code.
    pub fn poll_failed(&self, org: &str, error_code: &'static str) {
        if let Ok(mut orgs) = self.orgs.lock() {
            let h = orgs.entry(org.to_string()).or_default();
            h.consecutive_failures += 1;
            h.last_error_code = Some(error_code);
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
            .map(|(org, h)| {
                format!(
                    "{org}: {} failed polls in a row ({})",
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

/// Operator releases of the departure guard, one per organization, consumed by the
/// organization's next poll.
#[derive(Debug, Default)]
pub struct Releases {
    pending: Mutex<HashMap<String, usize>>,
}

impl Releases {
    /// Records a release of `org` for a poll with exactly `expected_departures`.
    pub fn grant(&self, org: &str, expected_departures: usize) {
        if let Ok(mut p) = self.pending.lock() {
            p.insert(org.to_string(), expected_departures);
        }
    }

    /// The pending release of `org`, if any, without consuming it.
    pub fn peek(&self, org: &str) -> Option<usize> {
        self.pending.lock().ok().and_then(|p| p.get(org).copied())
    }

    /// Consumes the release of `org` (after the poll it let through committed).
    pub fn take(&self, org: &str) -> Option<usize> {
        self.pending.lock().ok().and_then(|mut p| p.remove(org))
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
        h.poll_failed("o1", "unauthorized");
        assert!(h.readiness().is_ok(), "one failure is below the threshold");
        h.poll_failed("o1", "unauthorized");
        let why = h.readiness().expect_err("two failures");
        assert!(why.contains("o1") && why.contains("unauthorized"), "{why}");
        h.poll_ok("o1");
        assert!(h.readiness().is_ok());
    }

    #[test]
    fn releases_are_per_org_and_consumed() {
        let r = Releases::default();
        r.grant("a", 12);
        assert_eq!(r.peek("a"), Some(12));
        assert_eq!(r.peek("b"), None);
        assert_eq!(r.take("a"), Some(12));
        assert_eq!(r.take("a"), None);
    }
}
