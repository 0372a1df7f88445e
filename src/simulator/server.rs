//! The HTTP side: an axum router serving Streak's three membership endpoints under
//! `/api/v1`, the running server's handle, and graceful shutdown.
//!
//! Owns sockets and tasks only; every decision about a request is
//! [`World::handle`](super::world::World::handle)'s.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::clock::{Clock, TokioClock};
use super::model::{Change, Endpoint, SimMember};
use super::reply::{Plan, Reply};
use super::scenario::Scenario;
use super::stats::SimStats;
use super::world::{Credentials, SimApiKey, World};
use super::SimError;

/// How long [`RunningSimulator::shutdown`] lets requests in flight finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A simulator ready to serve a scenario.
#[derive(Debug)]
pub struct Simulator {
    scenario: Scenario,
    clock: Option<Arc<dyn Clock>>,
}

impl Simulator {
    /// A simulator for `scenario`, on tokio's clock (so `tokio::time::pause()` drives
    /// its timeline and delays).
    pub fn new(scenario: Scenario) -> Self {
        Simulator {
            scenario,
            clock: None,
        }
    }

    /// Uses `clock` for the timeline and the timestamps served (delays still sleep on
    /// tokio's clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Starts serving `scenario` on `addr` (port 0 picks a free port).
    pub async fn start(scenario: Scenario, addr: SocketAddr) -> Result<RunningSimulator, SimError> {
        Simulator::new(scenario).serve(addr).await
    }

    /// Binds `addr` and serves in a background task until shut down or dropped.
    pub async fn serve(self, addr: SocketAddr) -> Result<RunningSimulator, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let clock: Arc<dyn Clock> = match self.clock {
            Some(c) => c,
            None => Arc::new(TokioClock::new(self.scenario.settings.start_time_ms)),
        };
        let summary = self.scenario.organizations();
        let world = Arc::new(Mutex::new(World::new(self.scenario, clock.as_ref())));
        let state = AppState {
            world: world.clone(),
            clock: clock.clone(),
        };
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let app = router(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        SimulatorStarted {
            addr: bound,
            organizations: summary.len(),
            members: summary.iter().map(|o| o.initial_members).sum(),
        }
        .emit();
        Ok(RunningSimulator {
            addr: bound,
            world,
            clock,
            cancel,
            task: Some(task),
        })
    }
}

/// A simulator serving in the background. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSimulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base URL to give a client: `http://ADDR/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// A snapshot of the request and fault counters.
    pub fn stats(&self) -> SimStats {
        self.lock().stats()
    }

    /// Requests received on `endpoint` so far.
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.lock().stats().requests(endpoint)
    }

    /// Changes organization `org` now, as a timeline entry would.
    pub fn apply(&self, org: &str, change: Change) -> Result<(), SimError> {
        self.lock().apply_now(org, change, self.clock.as_ref())
    }

    /// Revokes an API key of any organization: every request with it gets 401 from
    /// now on, and the organization's other keys keep working.
    pub fn revoke_key(&self, api_key: &str) -> Result<(), SimError> {
        self.apply_to_key(
            api_key,
            Change::RevokeKey {
                api_key: api_key.to_owned(),
            },
        )
    }

    /// Makes a revoked API key work again.
    pub fn restore_key(&self, api_key: &str) -> Result<(), SimError> {
        self.apply_to_key(
            api_key,
            Change::RestoreKey {
                api_key: api_key.to_owned(),
            },
        )
    }

    /// The owner of the API key leaves the listing; the key keeps working until
    /// revoked (see [`Change::OwnerLeaves`]).
    pub fn owner_leaves(&self, api_key: &str) -> Result<(), SimError> {
        self.apply_to_key(
            api_key,
            Change::OwnerLeaves {
                api_key: api_key.to_owned(),
            },
        )
    }

    /// The owner of the API key stops being an admin.
    pub fn demote_owner(&self, api_key: &str) -> Result<(), SimError> {
        self.apply_to_key(
            api_key,
            Change::DemoteOwner {
                api_key: api_key.to_owned(),
            },
        )
    }

    /// Every API key of `org` with its owner and state, sorted by key.
    pub fn api_keys(&self, org: &str) -> Result<Vec<SimApiKey>, SimError> {
        self.lock().api_keys(org, self.clock.as_ref())
    }

    fn apply_to_key(&self, api_key: &str, change: Change) -> Result<(), SimError> {
        let mut world = self.lock();
        let Some(org) = world.key_org(api_key).map(str::to_owned) else {
            return Err(SimError::NoSuchApiKey);
        };
        world.apply_now(&org, change, self.clock.as_ref())
    }

    /// The members `org` lists now, in listing order.
    pub fn members(&self, org: &str) -> Result<Vec<SimMember>, SimError> {
        self.lock().members(org, self.clock.as_ref())
    }

    /// The simulator's clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Stops accepting connections, lets requests in flight finish (for up to 5 s),
    /// then stops.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        self.cancel.cancel();
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(SimError::Serve(e)),
            Ok(Err(join)) => Err(SimError::Serve(std::io::Error::other(join))),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[derive(Debug, Clone)]
struct AppState {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/users/me", get(users_me))
        .route("/api/v1/users/me/organization", get(organization))
        .route("/api/v1/organizations/{org_key}/users", get(org_users))
        .fallback(not_found)
        .with_state(state)
}

async fn users_me(State(s): State<AppState>, headers: HeaderMap) -> Response {
    serve_one(&s, Endpoint::UsersMe, None, &headers).await
}

async fn organization(State(s): State<AppState>, headers: HeaderMap) -> Response {
    serve_one(&s, Endpoint::Organization, None, &headers).await
}

async fn org_users(
    State(s): State<AppState>,
    Path(org_key): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve_one(&s, Endpoint::OrganizationUsers, Some(&org_key), &headers).await
}

async fn not_found() -> Response {
    into_response(Reply::not_found())
}

async fn serve_one(
    s: &AppState,
    endpoint: Endpoint,
    org: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let key = basic_auth_user(headers);
    let credentials = match key.as_deref() {
        Some(k) => Credentials::Key(k),
        None => Credentials::Missing,
    };
    let Plan { delay, reply } = {
        let mut world = s.world.lock().unwrap_or_else(|p| p.into_inner());
        world.handle(endpoint, org, credentials, s.clock.as_ref())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    into_response(reply)
}

/// The user name of an HTTP Basic `Authorization` header: the API key.
fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(token.trim()).ok()?).ok()?;
    let (user, _password) = decoded.split_once(':')?;
    (!user.is_empty()).then(|| user.to_owned())
}

fn into_response(reply: Reply) -> Response {
    let mut builder = Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, reply.content_type);
    if let Some(r) = &reply.retry_after {
        builder = builder.header(header::RETRY_AFTER, r);
    }
    if reply.www_authenticate {
        builder = builder.header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Streak API\""),
        );
    }
    let body = match reply.abort_after {
        None => Body::from(reply.body),
        Some(keep) => {
            builder = builder.header(header::CONTENT_LENGTH, reply.body.len());
            let part = reply.body.slice(..keep);
            // Send the part, pause so hyper flushes it with the headers, then fail
            // the body: hyper drops the connection short of the declared length.
            let chunks = futures::stream::unfold(Some(Some(part)), |state| async move {
                match state? {
                    Some(part) => Some((Ok(part), Some(None))),
                    None => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let err = std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "simulated connection drop",
                        );
                        Some((Err::<bytes::Bytes, _>(err), None))
                    }
                }
            });
            Body::from_stream(chunks)
        }
    };
    builder.body(body).unwrap_or_else(|_| {
        (StatusCode::INTERNAL_SERVER_ERROR, "simulator: bad response").into_response()
    })
}

/// Internal event: the simulator is listening.
struct SimulatorStarted {
    addr: SocketAddr,
    organizations: usize,
    members: usize,
}

impl SimulatorStarted {
    fn emit(self) {
        tracing::info!(
            addr = %self.addr,
            organizations = self.organizations,
            members = self.members,
            "Simulator listening"
        );
    }
}
