//! The poll cycle on its in-memory twins: a fake Streak API and the in-memory
//! transactional store. Proves the cycle's ordering rules: memory moves only after a
//! commit, a failed commit is redone from the last committed state with the same
//! events, the departure guard writes nothing until released, a dry run writes
//! nothing, and two keys of one organization form one pool: one publishes it, the
//! other takes over within the same poll when Streak rejects the first. A poll's
//! records go out chunk by chunk in its one transaction (`chunks.rs`).

mod chunks;
mod commits;
mod findings;
mod guard;
mod pools;
mod prefetch;
mod shutdown;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use streak_connector::avro::{Decoder, Encoder, Schemas};
use streak_connector::connector::keys::ring::{Admitted, KeyRing};
use streak_connector::connector::reconcile::Continuous;
use streak_connector::connector::status::{KeyStatus, OrgState, OrgStatus};
use streak_connector::connector::{Decision, DecisionRefused, Health, Holds, InactivityLimits};
use streak_connector::connector::{Mode, OcsfOutput, OrgPoller, PollContext};
use streak_connector::kafka::{InjectedFailure, MemoryStore, TransactionalSink};
use streak_connector::membership::{self, EventType, Listing, Member, SourceInfo};
use streak_connector::metrics::Metrics;
use streak_connector::scheduler::{PollStatus, Pollable};
use streak_connector::streak::{
    ApiError, CurrentUser, FetchedListing, ListingStats, Organization, StreakApi,
};
use tokio_util::sync::CancellationToken;

const EVENTS: &str = "events";
const STATE: &str = "state";
const NOW: i64 = 1_790_000_000_000;

/// A Streak API twin: one organization whose listing the test sets.
#[derive(Debug)]
struct FakeApi {
    org: String,
    fingerprint: String,
    members: Mutex<Vec<Member>>,
    fail_with_401: Mutex<bool>,
    /// `GET /organizations/{org}/users` calls so far.
    listings: AtomicUsize,
    /// The listing never answers while set.
    stall_listing: Mutex<bool>,
}

impl FakeApi {
    fn new(org: &str, n: usize) -> Arc<Self> {
        Self::keyed(org, n, &format!("fp-{org}"))
    }
    /// Another key of `org`, told apart by its fingerprint.
    fn keyed(org: &str, n: usize, fingerprint: &str) -> Arc<Self> {
        Arc::new(FakeApi {
            org: org.into(),
            fingerprint: fingerprint.into(),
            members: Mutex::new((0..n).map(|i| member(&format!("u{i:03}"), false)).collect()),
            fail_with_401: Mutex::new(false),
            listings: AtomicUsize::new(0),
            stall_listing: Mutex::new(false),
        })
    }
    fn set(&self, members: Vec<Member>) {
        *self.members.lock().expect("lock") = members;
    }
    fn members(&self) -> Vec<Member> {
        self.members.lock().expect("lock").clone()
    }
}

#[async_trait]
impl StreakApi for FakeApi {
    async fn me(&self) -> Result<CurrentUser, ApiError> {
        if *self.fail_with_401.lock().expect("lock") {
            return Err(ApiError::Unauthorized {
                endpoint: "users_me",
                detail: Some("revoked".into()),
            });
        }
        Ok(CurrentUser {
            key: "owner".into(),
            email: None,
            org_key: Some(self.org.clone()),
        })
    }
    async fn organization(&self) -> Result<Organization, ApiError> {
        Ok(Organization {
            key: self.org.clone(),
            name: None,
        })
    }
    async fn org_users(&self, _org_key: &str) -> Result<FetchedListing, ApiError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        if *self.stall_listing.lock().expect("lock") {
            std::future::pending::<()>().await;
        }
        if *self.fail_with_401.lock().expect("lock") {
            return Err(ApiError::Unauthorized {
                endpoint: "organization_users",
                detail: Some("revoked".into()),
            });
        }
        let members = self.members();
        Ok(FetchedListing {
            stats: ListingStats {
                entries: members.len() as u64,
                ..ListingStats::default()
            },
            listing: Listing {
                members,
                complete: true,
            },
        })
    }
    fn key_fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

fn member(key: &str, admin: bool) -> Member {
    Member {
        key: key.into(),
        email: Some(format!("{key}@example.com")),
        display_name: Some(format!("User {key}")),
        is_org_admin: Some(admin),
        last_seen_ms: Some(NOW - 1000),
        creation_ms: Some(NOW - 10_000),
        ..Member::default()
    }
}

struct Rig {
    store: Arc<MemoryStore>,
    ctx: Arc<PollContext>,
    ring: KeyRing,
    metrics: Arc<Metrics>,
    decoder: Decoder,
}

fn rig(mode: Mode) -> Rig {
    rig_with(mode, |_| None, None)
}

/// A rig whose context gets the reconciliation `reconcile` makes (from the rig's
/// metrics) and the OCSF output `ocsf`.
fn rig_with(
    mode: Mode,
    reconcile: impl FnOnce(&Arc<Metrics>) -> Option<Arc<Continuous>>,
    ocsf: Option<OcsfOutput>,
) -> Rig {
    rig_tuned(mode, reconcile, ocsf, |_| {})
}

/// [`rig_with`], and `tune` may change the context (chunk size, record limit)
/// before the pollers share it.
fn rig_tuned(
    mode: Mode,
    reconcile: impl FnOnce(&Arc<Metrics>) -> Option<Arc<Continuous>>,
    ocsf: Option<OcsfOutput>,
    tune: impl FnOnce(&mut PollContext),
) -> Rig {
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(MemoryStore::new(STATE, metrics.clone()));
    let schemas = Arc::new(Schemas::load().expect("schemas"));
    let encoder = Encoder::single_object(
        schemas.clone(),
        SourceInfo {
            connector: "test".into(),
            version: "0".into(),
            instance: "i".into(),
        },
    );
    let sink: Arc<dyn TransactionalSink> = store.clone();
    let mut ctx = PollContext {
        metrics: metrics.clone(),
        health: Arc::new(Health::new(3)),
        holds: Arc::new(Holds::default()),
        inactivity: InactivityLimits::default(),
        commit_gate: tokio::sync::Semaphore::new(1),
        sink,
        encoder,
        events_topic: EVENTS.into(),
        state_topic: STATE.into(),
        ocsf,
        settings: membership::Settings::default(),
        record_limit: Default::default(),
        chunk_members: streak_connector::connector::DEFAULT_CHUNK_MEMBERS,
        clock: Arc::new(|| NOW),
        mode,
        restored: Mutex::new(Default::default()),
        orgs: Arc::new(Mutex::new(Vec::new())),
        status: Arc::default(),
        reconcile: reconcile(&metrics),
    };
    tune(&mut ctx);
    let ctx = Arc::new(ctx);
    Rig {
        store,
        ctx,
        ring: KeyRing::new(Default::default(), metrics.clone(), Arc::new(|| NOW)),
        metrics,
        decoder: Decoder::new(schemas),
    }
}

impl Rig {
    /// Places `api` in its organization's pool; the poller of a new organization.
    async fn admit(&self, api: Arc<FakeApi>) -> Admitted {
        self.ring.admit(api).await
    }
    /// The poller of the organization `api` is the first key of.
    async fn poller(&self, api: Arc<FakeApi>) -> OrgPoller {
        match self.admit(api).await {
            Admitted::NewOrganization(keys) => OrgPoller::new(keys, self.ctx.clone()),
            other => panic!("not a new organization: {other:?}"),
        }
    }
    /// Committed events, decoded: (type, user key).
    async fn events(&self) -> Vec<(EventType, String)> {
        let mut out = Vec::new();
        for r in self.store.committed(EVENTS) {
            let value = r.value.expect("events have values");
            let d = self
                .decoder
                .decode_event(&r.key, &value)
                .await
                .expect("decodes");
            out.push((d.event.event_type, d.event.user_key));
        }
        out
    }
    fn counter(&self, org: &str, result: &str) -> u64 {
        self.metrics
            .polls_total
            .with_label_values(&[org, result])
            .get()
    }
}

async fn poll(p: &mut OrgPoller) -> PollStatus {
    p.poll(&CancellationToken::new()).await.expect("not fatal")
}

/// The organization `org` as `/status` shows it now (the rig's clock).
fn org_status(r: &Rig, org: &str) -> OrgStatus {
    r.ctx
        .status
        .snapshot(NOW, Ok(()))
        .organizations
        .into_iter()
        .find(|o| o.org == org)
        .expect("the organization is on the status board")
}
