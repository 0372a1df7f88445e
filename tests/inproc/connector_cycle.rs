//! The poll cycle on its in-memory twins: a fake Streak API and the in-memory
//! transactional store. Proves the cycle's ordering rules: memory moves only after a
//! commit, a failed commit is redone from the last committed state with the same
//! events, the departure guard writes nothing until released, a dry run writes
//! nothing, and two keys of one organization form one pool: one publishes it, the
//! other takes over within the same poll when Streak rejects the first.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use streak_connector::avro::{Decoder, Encoder, Schemas};
use streak_connector::connector::keys::ring::{Admitted, KeyRing};
use streak_connector::connector::{Health, Releases};
use streak_connector::connector::{Mode, OrgPoller, PollContext};
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
    let ctx = Arc::new(PollContext {
        metrics: metrics.clone(),
        health: Arc::new(Health::new(3)),
        releases: Arc::new(Releases::default()),
        sink,
        encoder,
        events_topic: EVENTS.into(),
        state_topic: STATE.into(),
        settings: membership::Settings::default(),
        clock: Arc::new(|| NOW),
        mode,
        restored: Mutex::new(Default::default()),
        orgs: Arc::new(Mutex::new(Vec::new())),
    });
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

#[tokio::test]
async fn snapshot_then_changes_commit_with_the_checkpoint() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 3);
    let mut p = r.poller(api.clone()).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.events().await.len(), 3);
    assert!(r
        .events()
        .await
        .iter()
        .all(|(t, _)| *t == EventType::Snapshot));
    // 3 member states + 1 checkpoint.
    assert_eq!(r.store.committed(STATE).len(), 4);
    assert_eq!(p.state().expect("resolved").len(), 3);

    let mut members = api.members();
    members.remove(0);
    members[0].is_org_admin = Some(true);
    members.push(member("u999", false));
    api.set(members);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let events = r.events().await;
    assert_eq!(
        events[3..],
        [
            (EventType::Left, "u000".to_string()),
            (EventType::AdminChanged, "u001".to_string()),
            (EventType::Joined, "u999".to_string()),
        ]
    );
    assert_eq!(
        p.state().and_then(|s| s.checkpoint()).map(|c| c.poll_seq),
        Some(2)
    );
    assert_eq!(r.counter("org1", "success"), 2);
    assert_eq!(
        r.metrics
            .events_total
            .with_label_values(&["org1", "JOINED"])
            .get(),
        1
    );
    assert_eq!(r.metrics.members.with_label_values(&["org1"]).get(), 3);
    assert_eq!(r.metrics.admins.with_label_values(&["org1"]).get(), 1);
}

#[tokio::test]
async fn failed_commit_leaves_memory_and_is_redone_identically() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api.clone()).await;
    poll(&mut p).await;
    let before = p.state().cloned();

    api.set(vec![
        member("u000", true),
        member("u001", false),
        member("new", false),
    ]);
    for failure in [InjectedFailure::Retriable, InjectedFailure::Abort] {
        r.store.fail_next(failure);
        assert_eq!(
            poll(&mut p).await,
            PollStatus::Failed { retry_soon: true },
            "{failure:?}"
        );
        assert_eq!(
            p.state().cloned(),
            before,
            "memory untouched by {failure:?}"
        );
    }
    assert_eq!(r.counter("org1", "failure"), 2);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let events = r.events().await;
    assert_eq!(
        events[2..],
        [
            (EventType::Joined, "new".to_string()),
            (EventType::AdminChanged, "u000".to_string()),
        ],
        "the redone poll publishes each change once, members in key order"
    );
    // The aborted attempts left records in the log, all marked aborted.
    let aborted = r
        .store
        .all_records(EVENTS)
        .iter()
        .filter(|x| x.aborted)
        .count();
    assert_eq!(aborted, 4);
}

#[tokio::test]
async fn fenced_is_fatal() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api).await;
    r.store.fail_next(InjectedFailure::Fenced);
    let err = p
        .poll(&CancellationToken::new())
        .await
        .expect_err("fenced stops the connector");
    assert!(err.to_string().contains("fenced"), "{err}");
}

#[tokio::test]
async fn departure_guard_holds_until_released() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 40);
    let mut p = r.poller(api.clone()).await;
    poll(&mut p).await;
    let committed = r.store.committed(EVENTS).len();

    // 20 of 40 leave: over both thresholds.
    api.set(api.members()[20..].to_vec());
    assert_eq!(poll(&mut p).await, PollStatus::Held);
    assert_eq!(
        r.store.committed(EVENTS).len(),
        committed,
        "nothing written"
    );
    assert_eq!(
        r.metrics
            .departure_guard_tripped
            .with_label_values(&["org1"])
            .get(),
        1
    );
    assert_eq!(r.counter("org1", "held"), 1);

    // A release with the wrong count keeps holding; the right one lets it through once.
    r.ctx.releases.grant("org1", 19);
    assert_eq!(poll(&mut p).await, PollStatus::Held);
    assert_eq!(
        r.ctx.releases.peek("org1"),
        None,
        "a release whose count does not match is void"
    );
    r.ctx.releases.grant("org1", 20);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.events().await.len(), committed + 20);
    assert_eq!(r.ctx.releases.peek("org1"), None, "a release is used once");
    assert_eq!(
        r.metrics
            .departure_guard_tripped
            .with_label_values(&["org1"])
            .get(),
        0
    );
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = rig(Mode::DryRun(tx));
    let api = FakeApi::new("org1", 3);
    let mut p = r.poller(api).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.store.all_records(EVENTS).len(), 0);
    assert_eq!(r.store.commits(), 0);
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    assert_eq!(n, 3);
    assert!(
        p.state().is_some_and(|s| s.is_empty()),
        "a dry run moves no state"
    );
}

#[tokio::test]
async fn two_keys_of_one_org_form_one_pool_and_a_revoked_key_fails_over_within_the_poll() {
    let r = rig(Mode::Publish);
    let first = FakeApi::keyed("org1", 2, "fp-first");
    let second = FakeApi::keyed("org1", 2, "fp-second");
    let revoked = FakeApi::new("org2", 2);
    *revoked.fail_with_401.lock().expect("lock") = true;
    let mut p = r.poller(first.clone()).await;
    assert!(
        matches!(r.admit(second.clone()).await, Admitted::Joined { ref org } if org == "org1"),
        "the second key joins the pool: no second poller, no duplicate_organization"
    );
    assert!(matches!(r.admit(revoked).await, Admitted::Rejected(_)));
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.events().await.len(), 2, "one snapshot");

    // The polling key is revoked: the standby takes over within the same poll.
    *first.fail_with_401.lock().expect("lock") = true;
    let mut members = second.members();
    members.push(member("u-new", false));
    second.set(members);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.events().await.len(), 3, "the JOINED, once");
    assert_eq!(r.counter("org1", "failure"), 0, "no poll failed");
    assert_eq!(
        r.metrics
            .api_key_failovers_total
            .with_label_values(&["org1"])
            .get(),
        1
    );

    // The last key goes too: the poll fails, saying every key was rejected.
    *second.fail_with_401.lock().expect("lock") = true;
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: false });
    assert!(
        p.last_error()
            .is_some_and(|e| e.contains("all 2 API keys of organization `org1`")),
        "{:?}",
        p.last_error()
    );
    assert_eq!(r.events().await.len(), 3);
}
