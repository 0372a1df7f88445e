//! `GET /status`: the connector's status as JSON ([`crate::connector::status`]),
//! read from the state the poll cycle shares. Only reads; no lock is held across an
//! await.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::ServerState;

pub(super) async fn status(State(s): State<ServerState>) -> Response {
    let now_ms = (crate::connector::system_clock())();
    let readiness = s.shared.health.readiness();
    Json(s.shared.status.snapshot(now_ms, readiness)).into_response()
}
