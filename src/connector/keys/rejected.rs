//! A key Streak rejected before its organization was known (start-up's
//! `GET /users/me` answered 401 or 403). Its organization is unknown, so it joins
//! no pool; it is never sent to Streak again. Until it leaves the key file, each of
//! its cycles reports the rejection (log, `polls_total{org="key:<fingerprint>"}`,
//! `/readyz` naming the key), so a dead key in the configuration is seen; when it
//! leaves, its task ends and `/readyz` forgets it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::ring::KeyRing;
use super::telemetry::RejectedKeyLeft;
use crate::connector::shared::Health;
use crate::connector::status::StatusBoard;
use crate::connector::telemetry::PollFailed;
use crate::metrics::Metrics;
use crate::scheduler::{Fatal, PollStatus, Pollable};
use crate::telemetry::InternalEvent as _;

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

/// The scheduler's task of a rejected key.
#[derive(Debug)]
pub(crate) struct RejectedKeyTask {
    key: RejectedKey,
    label: String,
    ring: Arc<KeyRing>,
    health: Arc<Health>,
    /// `/status` shows the key as a failing entry of its own.
    status: Arc<StatusBoard>,
    metrics: Arc<Metrics>,
}

impl RejectedKeyTask {
    pub(crate) fn new(
        key: RejectedKey,
        ring: Arc<KeyRing>,
        health: Arc<Health>,
        status: Arc<StatusBoard>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let label = key.label();
        RejectedKeyTask {
            key,
            label,
            ring,
            health,
            status,
            metrics,
        }
    }
}

#[async_trait]
impl Pollable for RejectedKeyTask {
    fn name(&self) -> &str {
        &self.label
    }

    async fn poll(&mut self, _shutdown: &CancellationToken) -> Result<PollStatus, Fatal> {
        if !self.ring.is_rejected(&self.key.fingerprint) {
            // It left the key file (or came back and was placed): nothing to report.
            self.health.forget(&self.label);
            RejectedKeyLeft {
                key: &self.key.fingerprint,
            }
            .emit(&self.metrics);
            return Ok(PollStatus::Retired);
        }
        PollFailed {
            org: &self.label,
            error_code: self.key.error_code,
            error: &self.key,
            duration: Duration::ZERO,
            operator_action: true,
        }
        .emit(&self.metrics);
        self.health
            .poll_failed(&self.label, &self.label, self.key.error_code);
        self.status.poll_failed(&self.label, self.key.error_code);
        Ok(PollStatus::Failed { retry_soon: false })
    }
}
