//! The HTTP side doors: `/metrics`, `/healthz`, `/readyz` on `--metrics-listen`, and
//! on a listener of its own (`--admin-listen`, served only with an admin token) the
//! admin API: the guard's holds, and their release or rejection.
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
use crate::connector::hold_events::GuardDecided;
use crate::connector::{Decision, DecisionRefused, Shared};
use crate::metrics::Metrics;
use crate::recovery::{Classified, Recovery};
use crate::telemetry::InternalEvent;

mod status;

/// Everything the HTTP handlers read.
#[derive(Debug, Clone)]
pub(crate) struct ServerState {
    pub metrics: Arc<Metrics>,
    /// Health, guard releases and the organizations polled (releases for others
    /// are refused).
    pub shared: Shared,
    /// Bearer token of the admin endpoints; `None` turns them off.
    pub admin_token: Option<Secret>,
}

/// Errors of the HTTP server: fatal at start-up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerError {
    #[error("cannot listen on {addr} ({flag}): {source}")]
    Bind {
        addr: SocketAddr,
        flag: &'static str,
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
pub(crate) async fn bind(
    addr: SocketAddr,
    flag: &'static str,
) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, flag, source })
}

/// The routes of `--metrics-listen`: metrics and health, no admin endpoint.
pub(crate) fn router(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status::status))
        .with_state(state)
}

/// The routes of `--admin-listen`: the guard's holds and the operators' decisions.
pub(crate) fn admin_router(state: ServerState) -> Router {
    Router::new()
        .route("/admin/guard", get(guard_status))
        .route("/admin/guard/release", post(release))
        .route("/admin/guard/reject", post(reject))
        .with_state(state)
}

/// Serves `router` until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
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
struct DecisionQuery {
    org: String,
    /// How many members the operator read in `guard status`; required to release.
    expect: Option<usize>,
}

/// `None` when the bearer token is right, else the answer to send.
fn unauthorized(s: &ServerState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &s.admin_token else {
        return Some(
            (
                StatusCode::NOT_FOUND,
                "admin endpoints are off: set STREAK_CONNECTOR_ADMIN_TOKEN to enable them\n",
            )
                .into_response(),
        );
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) {
        None
    } else {
        Some((StatusCode::UNAUTHORIZED, "bad or missing bearer token\n").into_response())
    }
}

/// `GET /admin/guard`: every hold (organization, kind, poll, count, the members
/// concerned, the digest, the decision) as JSON.
async fn guard_status(State(s): State<ServerState>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    axum::Json(s.shared.holds.view()).into_response()
}

async fn release(
    State(s): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<DecisionQuery>,
) -> Response {
    decide(s, headers, q, Decision::Release)
}

async fn reject(
    State(s): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<DecisionQuery>,
) -> Response {
    decide(s, headers, q, Decision::Reject)
}

fn decide(s: ServerState, headers: HeaderMap, q: DecisionQuery, decision: Decision) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let expected = match (q.expect, decision) {
        (Some(n), _) => n,
        (None, Decision::Reject) => match s.shared.holds.view().iter().find(|h| h.org == q.org) {
            Some(h) => h.count,
            None => usize::MAX,
        },
        (None, Decision::Release) => {
            return (
                StatusCode::BAD_REQUEST,
                "a release needs expect=N: the number of members `guard status` shows\n",
            )
                .into_response()
        }
    };
    match s.shared.holds.decide(&q.org, expected, decision) {
        Ok(hold) => {
            GuardDecided {
                hold: &hold,
                decision,
            }
            .emit(&s.metrics);
            let what = match decision {
                Decision::Release => "released: the next poll goes through if it concerns exactly the same members",
                Decision::Reject => "rejected: the members are kept and the organization is not held again until the listing changes",
            };
            (
                StatusCode::ACCEPTED,
                format!(
                    "hold of {} (poll {}, {} {}) {what}\n",
                    hold.org,
                    hold.poll_seq,
                    hold.count,
                    hold.kind.as_str()
                ),
            )
                .into_response()
        }
        Err(e @ DecisionRefused::NotHeld(_)) => {
            (StatusCode::NOT_FOUND, format!("{e}\n")).into_response()
        }
        Err(e @ DecisionRefused::CountMismatch { .. }) => {
            (StatusCode::CONFLICT, format!("{e}\n")).into_response()
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
