//! Internal events of the Streak client: one struct per thing that happens, whose
//! [`InternalEvent::emit`] both logs (through `tracing`) and updates the Prometheus metric, so
//! a call site is one line.
//!
//! Events carry only bounded, non-secret values: endpoint labels, status codes,
//! fixed error codes, organization keys from configuration, and the key's
//! fingerprint. They must never take the API key or a URL with credentials.

use std::time::Duration;

use crate::metrics::Metrics;
use crate::recovery::Classified as _;
use crate::telemetry::InternalEvent;

use super::error::ApiError;
use super::wire::{FieldDrift, ListingStats, Oversized};

/// One HTTP attempt ended (a status arrived and the body was read, or it failed).
#[derive(Debug)]
pub(crate) struct ApiRequestCompleted {
    pub(crate) endpoint: &'static str,
    /// `2xx`, `3xx`, `4xx`, `5xx`, `timeout` or `transport`.
    pub(crate) status_class: &'static str,
    pub(crate) status: Option<u16>,
    pub(crate) attempt: u32,
    pub(crate) duration: Duration,
}

impl InternalEvent for ApiRequestCompleted {
    fn emit(self, metrics: &Metrics) {
        tracing::debug!(
            endpoint = self.endpoint,
            status_class = self.status_class,
            status = self.status,
            attempt = self.attempt,
            duration_ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            "Streak API request completed"
        );
        metrics
            .api_requests_total
            .with_label_values(&[self.endpoint, self.status_class])
            .inc();
        metrics
            .api_request_duration_seconds
            .with_label_values(&[self.endpoint])
            .observe(self.duration.as_secs_f64());
    }
}

/// A transient failure; the client waits and tries again.
#[derive(Debug)]
pub(crate) struct ApiRequestRetrying {
    pub(crate) endpoint: &'static str,
    /// `rate_limited`, `server_error`, `timeout` or `transport`.
    pub(crate) reason: &'static str,
    /// The attempt that failed (1 for the first).
    pub(crate) attempt: u32,
    pub(crate) delay: Duration,
    /// Whether the delay came from the server's `Retry-After`.
    pub(crate) retry_after: bool,
}

impl InternalEvent for ApiRequestRetrying {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(
            endpoint = self.endpoint,
            reason = self.reason,
            attempt = self.attempt,
            delay_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
            retry_after = self.retry_after,
            "Retrying Streak API request"
        );
        metrics
            .api_retries_total
            .with_label_values(&[self.endpoint, self.reason])
            .inc();
    }
}

/// A call failed for good.
#[derive(Debug)]
pub(crate) struct ApiCallFailed<'a> {
    pub(crate) endpoint: &'static str,
    pub(crate) error: &'a ApiError,
}

impl InternalEvent for ApiCallFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        let code = self.error.error_code();
        // Key rejections are logged at ERROR by `ApiKeyRejected`; everything else is
        // retried by the next poll, so WARN.
        tracing::warn!(
            endpoint = self.endpoint,
            error_code = code,
            status = self.error.status(),
            error = %self.error,
            "Streak API call failed"
        );
        metrics
            .api_errors_total
            .with_label_values(&[self.endpoint, code])
            .inc();
    }
}

/// Streak refused the key (401, 403, 410): an operator must act.
#[derive(Debug)]
pub(crate) struct ApiKeyRejected<'a> {
    pub(crate) key_fingerprint: &'a str,
    pub(crate) status: u16,
}

impl InternalEvent for ApiKeyRejected<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(
            key_fingerprint = self.key_fingerprint,
            status = self.status,
            "Streak API key rejected; replace the key"
        );
        metrics
            .api_key_rejected
            .with_label_values(&[self.key_fingerprint])
            .set(1);
    }
}

/// A client was built for a key: its rejection gauge is exported as 0 before the
/// first call (unknown reads as "not rejected").
#[derive(Debug)]
pub(crate) struct ApiKeyConfigured<'a> {
    pub(crate) key_fingerprint: &'a str,
}

impl InternalEvent for ApiKeyConfigured<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .api_key_rejected
            .with_label_values(&[self.key_fingerprint])
            .set(0);
    }
}

/// Streak accepted the key (any 2xx).
#[derive(Debug)]
pub(crate) struct ApiKeyAccepted<'a> {
    pub(crate) key_fingerprint: &'a str,
}

impl InternalEvent for ApiKeyAccepted<'_> {
    fn emit(self, metrics: &Metrics) {
        let gauge = metrics
            .api_key_rejected
            .with_label_values(&[self.key_fingerprint]);
        if gauge.get() != 0 {
            tracing::info!(
                key_fingerprint = self.key_fingerprint,
                "Streak API key accepted again"
            );
        }
        gauge.set(0);
    }
}

/// Fields of a response were dropped for a wrong type or an absurd value.
#[derive(Debug)]
pub(crate) struct ApiFieldsDrifted<'a> {
    pub(crate) endpoint: &'static str,
    pub(crate) drift: &'a FieldDrift,
    /// The oversized values the previous response of the same scope did not have:
    /// each is logged once (the others were logged when they first appeared).
    pub(crate) fresh_oversized: Vec<&'a Oversized>,
}

impl InternalEvent for ApiFieldsDrifted<'_> {
    fn emit(self, metrics: &Metrics) {
        let by_field = self.drift.by_field();
        if !by_field.is_empty() {
            let summary = by_field
                .iter()
                .map(|(field, n)| format!("{field}={n}"))
                .collect::<Vec<_>>()
                .join(",");
            tracing::warn!(
                endpoint = self.endpoint,
                fields = %summary,
                "Streak API fields drifted; dropped"
            );
        }
        for o in &self.fresh_oversized {
            tracing::warn!(
                endpoint = self.endpoint,
                member = ?o.owner,
                field = o.field(),
                bytes = o.bytes,
                action = o.action.as_str(),
                "Streak API field over its size bound; logged once while it stays oversized"
            );
        }
        // Every oversized value counts, at every response (as every drifted value).
        for (field, n) in self.drift.counted_by_field() {
            metrics
                .api_drift_total
                .with_label_values(&[field])
                .inc_by(n);
        }
    }
}

/// A listing was fetched and parsed; reports its invalid and duplicate entries.
#[derive(Debug)]
pub(crate) struct ListingFetched<'a> {
    pub(crate) org: &'a str,
    pub(crate) members: usize,
    pub(crate) stats: ListingStats,
}

impl InternalEvent for ListingFetched<'_> {
    fn emit(self, metrics: &Metrics) {
        let s = self.stats;
        if s.invalid > 0 {
            tracing::warn!(
                org = self.org,
                invalid = s.invalid,
                entries = s.entries,
                "Listing has entries without a usable key; marked incomplete"
            );
        }
        if s.duplicates > 0 {
            tracing::warn!(
                org = self.org,
                duplicates = s.duplicates,
                "Listing has duplicate keys; merged"
            );
        }
        tracing::debug!(
            org = self.org,
            members = self.members,
            entries = s.entries,
            drifted_fields = s.drifted_fields,
            "Listing fetched"
        );
        // `inc_by(0)` still exports the series, so dashboards see a zero.
        metrics
            .api_invalid_entries_total
            .with_label_values(&[self.org])
            .inc_by(s.invalid);
        metrics
            .api_duplicate_entries_total
            .with_label_values(&[self.org])
            .inc_by(s.duplicates);
    }
}
