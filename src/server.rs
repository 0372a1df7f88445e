//! The HTTP side door: `/metrics`, `/healthz`, `/readyz` and the admin endpoint that
//! releases a held organization.
//!
//! It owns the shared [`Health`] (what readiness means) and [`Releases`] (operator
//! releases of the departure guard waiting for the next poll). It must not poll,
//! publish or hold a lock across an await.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::metrics::Metrics;

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

/// Everything the HTTP handlers read.
#[derive(Debug, Clone)]
pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub releases: Arc<Releases>,
    /// Organizations the connector polls (releases for others are refused).
    pub orgs: Arc<Mutex<Vec<String>>>,
    /// Bearer token of the admin endpoints; `None` turns them off.
    pub admin_token: Option<Secret>,
}

/// Errors of the HTTP server: fatal at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} (--metrics-listen): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Binds the listener (fails at start-up, not later).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// The routes.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/admin/departure-guard/release", post(release))
        .with_state(state)
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metrics(State(s): State<ServerState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode_text(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<ServerState>) -> Response {
    match s.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct ReleaseQuery {
    org: String,
    expected_departures: usize,
}

async fn release(
    State(s): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<ReleaseQuery>,
) -> Response {
    let Some(token) = &s.admin_token else {
        return (
            StatusCode::NOT_FOUND,
            "admin endpoints are off: set STREAK_CONNECTOR_ADMIN_TOKEN to enable them\n",
        )
            .into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) {
        return (StatusCode::UNAUTHORIZED, "bad or missing bearer token\n").into_response();
    }
    let known = s
        .orgs
        .lock()
        .map(|o| o.iter().any(|k| k == &q.org))
        .unwrap_or(false);
    if !known {
        return (
            StatusCode::NOT_FOUND,
            format!("organization {:?} is not polled by this connector\n", q.org),
        )
            .into_response();
    }
    s.releases.grant(&q.org, q.expected_departures);
    tracing::warn!(
        org = %q.org,
        expected_departures = q.expected_departures,
        "Departure guard release granted by an operator"
    );
    (
        StatusCode::ACCEPTED,
        format!(
            "release recorded: the next poll of {} goes through if it has exactly {} departures\n",
            q.org, q.expected_departures
        ),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
