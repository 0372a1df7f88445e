//! One organization's poll cycle: fetch, diff, encode, commit, then (and only then)
//! move the in-memory state on.
//!
//! Exactly once rests on that order. The events, the state records and the
//! checkpoint of one poll (and its OCSF and finding records) go out in one Kafka
//! transaction, written chunk by chunk; until it commits, the
//! in-memory state is untouched, so a failed or aborted cycle is redone from the last
//! committed state, and a crash is redone after the restart's restore. Event ids are
//! deterministic, so even a consumer that reads uncommitted data can drop repeats.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::context::{Mode, PollContext};
use super::guarded::guarded;
use super::keys::{FetchError, OrgKeys};
use super::ocsf::OcsfOutput;
use super::prefetch::Prefetch;
use super::reconcile::PollFindings;
use super::record_size::leave_out_oversized;
use super::records::{PollRecords, Targets};
use super::telemetry::{
    DepartureGuardReleaseUsed, MemberLeftOut, OrganizationResolved, PollFailed, PollSucceeded,
};
use crate::kafka::PublishError;
use crate::keypool::AllKeysRejected;
use crate::membership::{EventType, OrgState};
use crate::recovery::{Classified, Recovery};
use crate::scheduler::{Fatal, PollStatus, Pollable};
use crate::streak::ApiError;
use crate::telemetry::InternalEvent as _;

/// Why a cycle did not commit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CycleError {
    /// The Streak API call failed (after the client's own retries).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Every API key of the organization's pool was rejected (or none is left).
    #[error(transparent)]
    Keys(#[from] AllKeysRejected),
    /// An event or state record could not be encoded: a defect; the cycle is retried.
    #[error("cannot encode the poll's records: {0}")]
    Encode(#[from] crate::avro::EncodeError),
    /// The transaction was not committed; nothing of it is visible.
    #[error(transparent)]
    Publish(#[from] crate::kafka::PublishError),
    /// A lock was poisoned by a panic elsewhere: retried at the next interval.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Classified for CycleError {
    fn recovery(&self) -> Recovery {
        match self {
            CycleError::Api(e) => e.recovery(),
            CycleError::Keys(e) => e.recovery(),
            CycleError::Encode(_) => Recovery::RedoCycle,
            CycleError::Publish(e) => e.recovery(),
            CycleError::Internal(_) => Recovery::RetryNow,
        }
    }

    /// A fixed code for metrics, logs and `/readyz`.
    fn error_code(&self) -> &'static str {
        match self {
            CycleError::Api(e) => e.error_code(),
            CycleError::Keys(e) => e.error_code(),
            CycleError::Encode(_) => "encode",
            CycleError::Publish(e) => e.error_code(),
            CycleError::Internal(_) => "internal",
        }
    }
}

impl From<FetchError> for CycleError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Api(e) => CycleError::Api(e),
            FetchError::AllRejected(e) => CycleError::Keys(e),
        }
    }
}

/// The one place where a cycle's [`Recovery`] becomes what the scheduler does next;
/// `None` stops the process.
///
/// - `RedoCycle`: nothing of the cycle is visible; redo it soon, with backoff.
/// - `RetryNow`: whoever made the error has already retried it now (the Streak
///   client within its call); the next cycle comes at the next interval.
/// - `StopOrganization`: polling again changes nothing until an operator acts; the
///   organization keeps its interval (and its failing `/readyz`), the others go on.
/// - `StopProcess`: fenced, or a commit whose outcome is unknown.
fn poll_result(recovery: Recovery) -> Option<PollStatus> {
    match recovery {
        Recovery::RedoCycle => Some(PollStatus::Failed { retry_soon: true }),
        Recovery::RetryNow | Recovery::StopOrganization => {
            Some(PollStatus::Failed { retry_soon: false })
        }
        Recovery::StopProcess => None,
    }
}

/// The poll cycle of one organization, with its pool of API keys.
pub struct OrgPoller {
    keys: Arc<OrgKeys>,
    /// The organization key.
    label: String,
    /// The poller's stable identity (its health is kept under it): the
    /// organization key, known from start-up on (a pool is formed per organization).
    id: String,
    org: Option<(String, OrgState)>,
    ctx: Arc<PollContext>,
    /// The last cycle's error, for `once`'s summary.
    last_error: Option<String>,
    /// The OCSF output with this organization's name, once resolved.
    ocsf: Option<OcsfOutput>,
    /// The first cycle's fetch, when start-up began it during the restore.
    prefetch: Option<Prefetch>,
}

impl std::fmt::Debug for OrgPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgPoller")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl OrgPoller {
    /// The poller of the organization of `keys`, a pool start-up (or the key
    /// rotation) formed.
    pub fn new(keys: Arc<OrgKeys>, ctx: Arc<PollContext>) -> Self {
        let label = keys.org_key().to_owned();
        OrgPoller {
            keys,
            id: label.clone(),
            label,
            org: None,
            ctx,
            last_error: None,
            ocsf: None,
            prefetch: None,
        }
    }

    /// The poller whose first cycle takes the outcome of `prefetch` (started on the
    /// same keys) instead of fetching.
    pub fn with_prefetch(mut self, prefetch: Prefetch) -> Self {
        self.prefetch = Some(prefetch);
        self
    }

    /// The error of the last cycle, if it failed.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The organization key, once resolved.
    pub fn org_key(&self) -> Option<&str> {
        self.org.as_ref().map(|(k, _)| k.as_str())
    }

    /// The organization's committed state, once resolved.
    pub fn state(&self) -> Option<&OrgState> {
        self.org.as_ref().map(|(_, s)| s)
    }

    /// The organization's pool of keys.
    pub fn keys(&self) -> &Arc<OrgKeys> {
        &self.keys
    }

    /// At the first cycle: takes the organization's restored state.
    async fn resolve(&mut self) -> Result<(), CycleError> {
        if self.org.is_some() {
            return Ok(());
        }
        let org_key = self.keys.org_key().to_owned();
        // OCSF records name the organization (`group.name`): ask for its name once
        // (with the polling key; the key stands in for a name Streak does not give).
        let org_name = match &self.ctx.ocsf {
            Some(_) => self.keys.organization_name().await,
            None => None,
        };
        let state = self
            .ctx
            .restored
            .lock()
            .map_err(|_| poisoned("restored state"))?
            .remove(&org_key)
            .unwrap_or_else(|| OrgState::new(org_key.clone()));
        if let Ok(mut orgs) = self.ctx.orgs.lock() {
            orgs.push(org_key.clone());
        }
        let poll_seq = state.checkpoint().map_or(0, |c| c.poll_seq);
        let first = self.keys.keys().first().map(|k| k.fingerprint.clone());
        if let Some(fingerprint) = first {
            (self.ctx.status).org_resolved(&org_key, &fingerprint, state.len(), poll_seq);
        }
        OrganizationResolved {
            org: &org_key,
            keys: self.keys.keys().len(),
            known_members: state.len(),
            poll_seq: state.checkpoint().map_or(0, |c| c.poll_seq),
        }
        .emit(&self.ctx.metrics);
        self.ocsf =
            (self.ctx.ocsf.as_ref()).map(|o| o.for_organization(&org_key, org_name.as_deref()));
        self.org = Some((org_key, state));
        Ok(())
    }

    /// One cycle. `Ok(None)` means shutdown was requested before anything was
    /// written.
    ///
    /// Its memory is bounded by a chunk, not by the organization, but for the
    /// listing (dropped once diffed) and the poll's compact changes (each changed
    /// member once, packed as the state keeps it): sizes are checked on the
    /// changes, then the records are encoded chunk by chunk inside the one
    /// transaction ([`super::records`]).
    async fn cycle(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Option<PollStatus>, CycleError> {
        self.resolve().await?;
        let Some((org_key, _)) = &self.org else {
            return Ok(None);
        };
        let org_key = org_key.clone();
        // Standby keys due for their `/users/me` check, then the listing with the
        // polling key (the next healthy key takes over if Streak rejects it).
        let prefetched = match self.prefetch.take() {
            Some(mut prefetch) => tokio::select! {
                r = prefetch.outcome() => r,
                _ = shutdown.cancelled() => return Ok(None),
            },
            None => None,
        };
        let fetched = match prefetched {
            Some(r) => r?,
            None => tokio::select! {
                r = async {
                    self.keys.check_standbys((self.ctx.clock)()).await;
                    self.keys.org_users().await
                } => r?,
                _ = shutdown.cancelled() => return Ok(None),
            },
        };
        let started = Instant::now();
        let now_ms = (self.ctx.clock)();
        let ctx = Arc::clone(&self.ctx);
        let Some((_, state)) = &mut self.org else {
            return Ok(None);
        };
        let Some(mut changes) = guarded(&ctx, &org_key, state, fetched.listing, now_ms) else {
            let held = ctx.holds.view().into_iter().find(|h| h.org == org_key);
            if let Some(hold) = held {
                ctx.status.poll_held(&org_key, hold.count);
            }
            self.keys.watch_owners(state, now_ms, &ctx.settings);
            return Ok(Some(PollStatus::Held));
        };

        // Every record's size, before anything is sent.
        let topics = (ctx.events_topic.as_str(), ctx.state_topic.as_str());
        let left_out =
            leave_out_oversized(&mut changes, state, &ctx.encoder, topics, ctx.record_limit)?;
        for member in &left_out {
            MemberLeftOut {
                org: &org_key,
                member,
                limit: ctx.record_limit,
            }
            .emit(&ctx.metrics);
        }

        // The reconciliation's finding changes join the poll's transaction.
        let ocsf_topic = ctx.ocsf.as_ref().map(|o| o.topic.as_str());
        let (findings, finding_records) =
            PollFindings::stage(ctx.reconcile.as_ref(), ocsf_topic, state, &changes);

        if let Mode::DryRun(out) = &ctx.mode {
            let mut events = Vec::new();
            for i in 0..changes.len() {
                changes.member_records(i, state, &mut events);
                for e in events.drain(..) {
                    let _ = out.send(e);
                }
            }
            return Ok(Some(PollStatus::Done));
        }

        // No transaction begins after the first signal: a cycle queued behind the
        // busy producers leaves when shutdown is requested, and one that gets the
        // gate checks again before it begins.
        let _gate = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(None),
            gate = ctx.commit_gate.acquire() => match gate {
                Ok(gate) => gate,
                // Closed: nothing may commit any more.
                Err(_) => return Ok(None),
            },
        };
        if shutdown.is_cancelled() {
            return Ok(None);
        }
        let targets = Targets {
            encoder: &ctx.encoder,
            events_topic: topics.0,
            state_topic: topics.1,
            ocsf: self.ocsf.as_ref(),
            chunk_members: ctx.chunk_members,
        };
        let mut records = PollRecords::new(&changes, state, targets, finding_records);
        if let Err(e) = ctx.sink.commit_chunks(&mut records).await {
            return Err(match (e, records.failure()) {
                (PublishError::SourceFailed(_), Some(encode)) => CycleError::Encode(encode),
                (e, _) => CycleError::Publish(e),
            });
        }
        drop(records);

        // Committed: now, and only now, the in-memory state moves on.
        let events = changes.event_counts();
        state.apply_changes(changes);
        findings.committed();
        self.committed(&org_key, now_ms, started.elapsed(), &events);
        Ok(Some(PollStatus::Done))
    }

    /// After the commit: the owner watch, the key statuses, the release used, the
    /// poll's report.
    fn committed(
        &mut self,
        org_key: &str,
        now_ms: i64,
        duration: Duration,
        events: &[(EventType, u64)],
    ) {
        let Some((_, state)) = &self.org else {
            return;
        };
        self.keys.watch_owners(state, now_ms, &self.ctx.settings);
        publish_keys(&self.keys, &self.ctx.status, org_key);
        if let Some(hold) = self.ctx.holds.used(org_key) {
            DepartureGuardReleaseUsed {
                org: org_key,
                kind: hold.kind.as_str(),
            }
            .emit(&self.ctx.metrics);
        }
        let poll_seq = state.checkpoint().map_or(0, |c| c.poll_seq);
        (self.ctx.status).poll_committed(org_key, poll_seq, state.len(), now_ms);
        PollSucceeded {
            org: org_key,
            poll_seq,
            duration,
            events,
            members: state.len(),
            admins: state.admin_count(),
            inactive: state.inactive_count(),
            now_ms,
        }
        .emit(&self.ctx.metrics);
    }
}

/// The pool's keys and their owners' risks, as `/status` shows them.
fn publish_keys(keys: &OrgKeys, status: &super::status::StatusBoard, org_key: &str) {
    let keys = keys
        .keys()
        .into_iter()
        .map(|k| super::status::KeyStatus {
            fingerprint: k.fingerprint,
            state: k.state.as_str().to_owned(),
            owner_risks: k
                .risks
                .reasons()
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        })
        .collect();
    status.set_keys(org_key, keys);
}

fn poisoned(what: &str) -> CycleError {
    CycleError::Internal(format!("{what} lock poisoned"))
}

#[async_trait]
impl Pollable for OrgPoller {
    fn name(&self) -> &str {
        &self.label
    }

    async fn poll(&mut self, shutdown: &CancellationToken) -> Result<PollStatus, Fatal> {
        // One span per cycle, carrying the organization (recorded as soon as the
        // key's first cycle learns it), so every line of the cycle names it: the
        // client's, the publisher's, the cycle's own.
        let span = tracing::info_span!("poll", org = self.label.as_str());
        let started = Instant::now();
        match self.cycle(shutdown).instrument(span.clone()).await {
            Ok(Some(status)) => {
                self.last_error = None;
                self.ctx.health.poll_ok(&self.id, &self.label);
                Ok(status)
            }
            Ok(None) => Ok(PollStatus::Cancelled),
            Err(e) => span.in_scope(|| self.failed(e, started.elapsed())),
        }
    }
}

impl OrgPoller {
    /// Reports a failed cycle and says what the scheduler does next.
    fn failed(&mut self, e: CycleError, duration: Duration) -> Result<PollStatus, Fatal> {
        self.last_error = Some(e.to_string());
        let recovery = e.recovery();
        let code = e.error_code();
        PollFailed {
            org: &self.label,
            error_code: code,
            error: &e,
            duration,
            operator_action: recovery == Recovery::StopOrganization,
        }
        .emit(&self.ctx.metrics);
        self.ctx.health.poll_failed(&self.id, &self.label, code);
        self.ctx.status.poll_failed(&self.label, code);
        poll_result(recovery).ok_or_else(|| Fatal::new(e))
    }
}
