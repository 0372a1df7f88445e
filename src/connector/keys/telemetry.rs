//! Internal events of the key pools and the key rotation: each logs through
//! `tracing` and updates its metrics (`api_keys`, `api_key_owner_at_risk`,
//! `api_key_failovers_total`). Keys are named by fingerprint only.

use crate::keypool::{KeyCounts, KeyFileError, KeyState};
use crate::membership::owner::OwnerRisks;
use crate::metrics::Metrics;
use crate::telemetry::InternalEvent;

/// An organization's pool was formed: its series start at zero.
#[derive(Debug)]
pub(crate) struct KeyPoolFormed<'a> {
    pub org: &'a str,
}

impl InternalEvent for KeyPoolFormed<'_> {
    fn emit(self, m: &Metrics) {
        m.api_key_failovers_total
            .with_label_values(&[self.org])
            .inc_by(0);
        for s in KeyState::ALL {
            m.api_keys.with_label_values(&[self.org, s.as_str()]).set(0);
        }
    }
}

/// The counts of a pool's keys by state changed (or were re-read after a poll).
#[derive(Debug)]
pub(crate) struct KeyCountsChanged<'a> {
    pub org: &'a str,
    pub counts: KeyCounts,
}

impl InternalEvent for KeyCountsChanged<'_> {
    fn emit(self, m: &Metrics) {
        for (s, n) in self.counts.iter() {
            m.api_keys
                .with_label_values(&[self.org, s.as_str()])
                .set(n as i64);
        }
    }
}

/// A key joined its organization's pool (start-up, or a re-read key file), or a
/// standby key took over because no key was polling.
#[derive(Debug)]
pub(crate) struct KeyJoined<'a> {
    pub org: &'a str,
    pub key: &'a str,
    /// Whether it polls from now on.
    pub polling: bool,
}

impl InternalEvent for KeyJoined<'_> {
    fn emit(self, _: &Metrics) {
        let state = if self.polling { "active" } else { "standby" };
        tracing::info!(
            org = self.org,
            key = self.key,
            state,
            "API key in the organization's pool"
        );
    }
}

/// A key left its pool (removed from the key file).
#[derive(Debug)]
pub(crate) struct KeyLeft<'a> {
    pub org: &'a str,
    pub key: &'a str,
    /// The key that polls instead, when the one that left was polling.
    pub handed_to: Option<&'a str>,
}

impl InternalEvent for KeyLeft<'_> {
    fn emit(self, m: &Metrics) {
        tracing::info!(
            org = self.org,
            key = self.key,
            polling_now = self.handed_to,
            "API key left the organization's pool"
        );
        remove_owner_series(m, self.org, self.key);
        // The key is gone: its rejection (if it was rejected) no longer alerts.
        let _ = m.api_key_rejected.remove_label_values(&[self.key]);
    }
}

/// A key rejected before its organization was known left the key file.
#[derive(Debug)]
pub(crate) struct RejectedKeyLeft<'a> {
    pub key: &'a str,
}

impl InternalEvent for RejectedKeyLeft<'_> {
    fn emit(self, m: &Metrics) {
        tracing::info!(key = self.key, "Rejected API key left the key file");
        let _ = m.api_key_rejected.remove_label_values(&[self.key]);
    }
}

/// Streak rejected a key (401, 403). It is not tried again until the key file
/// changes.
#[derive(Debug)]
pub(crate) struct KeyRejected<'a> {
    pub org: &'a str,
    pub key: &'a str,
    pub error_code: &'static str,
    pub error: &'a (dyn std::error::Error + 'a),
    /// Whether it was the polling key.
    pub was_polling: bool,
}

impl InternalEvent for KeyRejected<'_> {
    fn emit(self, m: &Metrics) {
        tracing::error!(
            org = self.org,
            key = self.key,
            error_code = self.error_code,
            error = %self.error,
            was_polling = self.was_polling,
            "API key rejected by Streak; it is not retried (replace it in the key file)"
        );
        // A rejected key is already broken: its owner's risk is moot, and the
        // alert on the organization's only healthy key must not see it.
        remove_owner_series(m, self.org, self.key);
    }
}

/// The polling key was rejected and the next healthy key took over within the
/// same poll.
#[derive(Debug)]
pub(crate) struct KeyFailedOver<'a> {
    pub org: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub error_code: &'static str,
}

impl InternalEvent for KeyFailedOver<'_> {
    fn emit(self, m: &Metrics) {
        tracing::warn!(
            org = self.org,
            from_key = self.from,
            to_key = self.to,
            error_code = self.error_code,
            "API key failover: the next key of the pool polls from now on"
        );
        m.api_key_failovers_total
            .with_label_values(&[self.org])
            .inc();
    }
}

/// A standby key's `/users/me` check failed for a reason that says nothing about
/// the key (5xx, timeout): it is checked again at its next interval.
#[derive(Debug)]
pub(crate) struct StandbyCheckInconclusive<'a> {
    pub org: &'a str,
    pub key: &'a str,
    pub error: &'a (dyn std::error::Error + 'a),
}

impl InternalEvent for StandbyCheckInconclusive<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(org = self.org, key = self.key, error = %self.error, "Standby API key check inconclusive; checked again later");
    }
}

/// The owner of a healthy key, assessed after a poll.
#[derive(Debug)]
pub(crate) struct KeyOwnerWatched<'a> {
    pub org: &'a str,
    pub key: &'a str,
    pub risks: OwnerRisks,
    /// Whether the risks differ from the last poll's (logged only then).
    pub changed: bool,
}

impl InternalEvent for KeyOwnerWatched<'_> {
    fn emit(self, m: &Metrics) {
        for (reason, v) in self.risks.series() {
            m.api_key_owner_at_risk
                .with_label_values(&[self.org, self.key, reason.as_str()])
                .set(v);
        }
        if self.changed {
            let reasons: Vec<&str> = self.risks.reasons().iter().map(|r| r.as_str()).collect();
            if reasons.is_empty() {
                tracing::info!(
                    org = self.org,
                    key = self.key,
                    "API key owner no longer at risk"
                );
            } else {
                tracing::warn!(
                    org = self.org,
                    key = self.key,
                    reasons = reasons.join(","),
                    "API key owner at risk: add a colleague's key to the key file before this one breaks"
                );
            }
        }
    }
}

fn remove_owner_series(m: &Metrics, org: &str, key: &str) {
    for reason in crate::membership::owner::OwnerRisk::ALL {
        let _ = m
            .api_key_owner_at_risk
            .remove_label_values(&[org, key, reason.as_str()]);
    }
}

/// A key could not be placed in a pool: its `/users/me` failed.
#[derive(Debug)]
pub(crate) struct KeyUnresolved<'a> {
    pub key: &'a str,
    pub error_code: &'static str,
    pub error: &'a (dyn std::error::Error + 'a),
    /// Whether it is tried again (a transient failure) or not (rejected).
    pub retried: bool,
}

impl InternalEvent for KeyUnresolved<'_> {
    fn emit(self, _: &Metrics) {
        if self.retried {
            tracing::warn!(key = self.key, error_code = self.error_code, error = %self.error, "Cannot learn the API key's organization yet; tried again later");
        } else {
            tracing::error!(key = self.key, error_code = self.error_code, error = %self.error, "API key rejected by Streak; it is not retried (replace it in the key file)");
        }
    }
}

/// The key file was re-read and its keys changed.
#[derive(Debug)]
pub(crate) struct KeyFileChanged<'a> {
    pub path: &'a std::path::Path,
    pub added: usize,
    pub removed: usize,
}

impl InternalEvent for KeyFileChanged<'_> {
    fn emit(self, _: &Metrics) {
        tracing::info!(
            path = %self.path.display(),
            added = self.added,
            removed = self.removed,
            "API key file changed"
        );
    }
}

/// The key file could not be re-read: the keys in use stay in use.
#[derive(Debug)]
pub(crate) struct KeyFileRereadFailed<'a> {
    pub error: &'a KeyFileError,
}

impl InternalEvent for KeyFileRereadFailed<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(error_code = self.error.error_code(), error = %self.error, "Cannot re-read the API key file; the keys in use stay in use");
    }
}

/// SIGHUP cannot be watched: the key file is still re-read on change and every 30 s.
#[derive(Debug)]
pub(crate) struct SighupUnwatched<'a> {
    pub error: &'a std::io::Error,
}

impl InternalEvent for SighupUnwatched<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(error = %self.error, "Cannot watch SIGHUP; the key file is still re-read when it changes");
    }
}

/// A new organization is polled (a key of it was added at run time).
#[derive(Debug)]
pub(crate) struct OrganizationAdded<'a> {
    pub org: &'a str,
}

impl InternalEvent for OrganizationAdded<'_> {
    fn emit(self, _: &Metrics) {
        tracing::info!(
            org = self.org,
            "New organization polled (its key was added)"
        );
    }
}

/// The Streak client of a key added at run time could not be built.
#[derive(Debug)]
pub(crate) struct KeyClientFailed<'a> {
    pub error: &'a (dyn std::error::Error + 'a),
}

impl InternalEvent for KeyClientFailed<'_> {
    fn emit(self, _: &Metrics) {
        tracing::error!(error = %self.error, "Cannot build the Streak client of a new API key");
    }
}
