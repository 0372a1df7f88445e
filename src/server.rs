//! The HTTP side door: `/metrics`, `/healthz`, `/readyz` and the admin endpoint that
//! releases a held organization.
//!
//! It reads the state the poll cycle shares ([`crate::connector::Shared`]: health,
//! guard releases, the organizations polled). It must not poll, publish or hold a
//! lock across an await.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::connector::Shared;
use crate::metrics::Metrics;
use crate::recovery::{Classified, Recovery};
use crate::telemetry::InternalEvent;

/// Everything the HTTP handlers read.
#[derive(Debug, Clone)]
pub struct ServerState {
    pub metrics: Arc<Metrics>,
    /// Health, guard releases and the organizations polled (releases for others
    /// are refused).
    pub shared: Shared,
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

impl Classified for ServerError {
    fn recovery(&self) -> Recovery {
        Recovery::StopProcess
    }

    fn error_code(&self) -> &'static str {
        match self {
            ServerError::Bind { .. } => "bind",
        }
    }
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
    match s.shared.health.readiness() {
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
        .shared
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
    s.shared.releases.grant(&q.org, q.expected_departures);
    ReleaseGranted {
        org: &q.org,
        expected_departures: q.expected_departures,
    }
    .emit(&s.metrics);
    (
        StatusCode::ACCEPTED,
        format!(
            "release recorded: the next poll of {} goes through if it has exactly {} departures\n",
            q.org, q.expected_departures
        ),
    )
        .into_response()
}

/// An operator released a held organization for its next poll.
#[derive(Debug)]
struct ReleaseGranted<'a> {
    org: &'a str,
    expected_departures: usize,
}

impl InternalEvent for ReleaseGranted<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(
            org = self.org,
            expected_departures = self.expected_departures,
            "Departure guard release granted by an operator"
        );
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
