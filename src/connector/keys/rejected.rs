//! A key Streak rejected before its organization was known (start-up's
//! `GET /users/me` answered 401 or 403). Its organization is unknown, so it joins
//! no pool; it is never sent to Streak again. Until it leaves the key file, each of
//! its cycles reports the rejection (log, `polls_total{org="key:<fingerprint>"}`,
//! `/readyz` naming the key), so a dead key in the configuration is seen; when it
//! leaves, its task ends and `/readyz` forgets it.

/// Why a key was set aside at start-up: the message Streak's answer gave.
#[derive(Debug, Clone, thiserror::Error)]
#[error("API key {fingerprint} was rejected by Streak before its organization was known (it is not tried again; remove it from the key file or replace it): {reason}")]
pub struct RejectedKey {
    pub fingerprint: String,
    pub error_code: &'static str,
    pub reason: String,
}

impl RejectedKey {
    /// The label it is reported under: `key:<fingerprint>`.
    pub fn label(&self) -> String {
        format!("key:{}", self.fingerprint)
    }
}
