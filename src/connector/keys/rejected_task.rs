//! The scheduler's task of a key Streak rejected before its organization was known
//! ([`super::rejected::RejectedKey`]): each cycle reports the rejection until the key
//! leaves the key file.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::rejected::RejectedKey;
use super::ring::KeyRing;
use super::telemetry::RejectedKeyLeft;
use crate::connector::shared::Health;
use crate::connector::status::StatusBoard;
use crate::connector::telemetry::PollFailed;
use crate::metrics::Metrics;
use crate::scheduler::{Fatal, PollStatus, Pollable};
use crate::telemetry::InternalEvent as _;

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
