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
    rig_with(mode, |_| None, None)
}

/// A rig whose context gets the reconciliation `reconcile` makes (from the rig's
/// metrics) and the OCSF output `ocsf`.
fn rig_with(
    mode: Mode,
    reconcile: impl FnOnce(&Arc<Metrics>) -> Option<Arc<Continuous>>,
    ocsf: Option<OcsfOutput>,
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
    let ctx = Arc::new(PollContext {
        metrics: metrics.clone(),
        health: Arc::new(Health::new(3)),
        holds: Arc::new(Holds::default()),
        inactivity: InactivityLimits::default(),
        commit_gate: tokio::sync::Mutex::new(()),
        sink,
        encoder,
        events_topic: EVENTS.into(),
        state_topic: STATE.into(),
        ocsf,
        settings: membership::Settings::default(),
        record_limit: Default::default(),
        clock: Arc::new(|| NOW),
        mode,
        restored: Mutex::new(Default::default()),
        orgs: Arc::new(Mutex::new(Vec::new())),
        status: Arc::default(),
        reconcile: reconcile(&metrics),
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
    // The cycle keeps /status: the poll's sequence, members, time, its key. The
    // rig's key owner ("owner") is not in the listing, so the owner watch flags the
    // only key as at risk (`left`), and the organization with it.
    let o = org_status(&r, "org1");
    assert_eq!(o.state, OrgState::KeyAtRisk);
    assert_eq!((o.poll_seq, o.members), (2, 3));
    assert_eq!(o.seconds_since_last_success, Some(0));
    assert_eq!(
        o.keys,
        vec![KeyStatus {
            owner_risks: vec!["left".to_owned()],
            ..KeyStatus::active(api.key_fingerprint())
        }]
    );
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

/// With an OCSF topic, each committed event has its OCSF record in the same
/// transaction, under the same key bytes; an aborted poll leaves neither visible, and
/// its redo writes each record once.
#[tokio::test]
async fn ocsf_records_share_the_events_transaction() {
    const OCSF: &str = "ocsf";
    let ocsf = OcsfOutput::new(Some(OCSF), Default::default());
    let r = rig_with(Mode::Publish, |_| None, ocsf);
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api.clone()).await;
    poll(&mut p).await;
    api.set(vec![member("u000", true), member("new", false)]);
    r.store.fail_next(InjectedFailure::Abort);
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: true });
    assert_eq!(
        r.store.committed(OCSF).len(),
        2,
        "the aborted poll hides its OCSF records"
    );
    assert_eq!(
        r.store
            .all_records(OCSF)
            .iter()
            .filter(|x| x.aborted)
            .count(),
        3
    );
    assert_eq!(poll(&mut p).await, PollStatus::Done);

    let events = r.store.committed(EVENTS);
    let records = r.store.committed(OCSF);
    assert_eq!(
        events.len(),
        5,
        "2 SNAPSHOTs, then JOINED, ADMIN_CHANGED, LEFT"
    );
    assert_eq!(
        records.len(),
        events.len(),
        "one OCSF record per committed event"
    );
    for (e, o) in events.iter().zip(&records) {
        assert_eq!(o.key, e.key, "keyed exactly like the event");
        let value = e.value.as_deref().expect("events have values");
        let d = r
            .decoder
            .decode_event(&e.key, value)
            .await
            .expect("decodes");
        let json: serde_json::Value =
            serde_json::from_slice(o.value.as_deref().expect("OCSF records have values"))
                .expect("OCSF records are JSON");
        assert_eq!(json["metadata"]["uid"], d.event.event_id.to_string());
        assert_eq!(json["metadata"]["tenant_uid"], "org1");
        assert_eq!(json["metadata"]["version"], "1.8.0");
    }
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
    let o = org_status(&r, "org1");
    assert_eq!((o.state, o.held_departures), (OrgState::Held, Some(20)));
    assert_eq!(o.poll_seq, 1, "a held poll commits nothing");

    // The hold is visible: poll, count, who would leave.
    let holds = r.ctx.holds.view();
    assert_eq!(holds.len(), 1);
    assert_eq!((holds[0].org.as_str(), holds[0].count), ("org1", 20));
    assert_eq!(holds[0].members[0], "u000@example.com");
    // A release with the wrong count is refused; the right one lets it through once.
    assert!(matches!(
        r.ctx.holds.decide("org1", 19, Decision::Release),
        Err(DecisionRefused::CountMismatch { .. })
    ));
    assert_eq!(poll(&mut p).await, PollStatus::Held);
    r.ctx
        .holds
        .decide("org1", 20, Decision::Release)
        .expect("held");
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.events().await.len(), committed + 20);
    assert!(r.ctx.holds.view().is_empty(), "a release is used once");
    assert_eq!(
        r.ctx.holds.decide("org1", 20, Decision::Release),
        Err(DecisionRefused::NotHeld("org1".into())),
        "no release for an organization that is not held"
    );
    let o = org_status(&r, "org1");
    assert_eq!(
        (o.state, o.held_departures, o.poll_seq),
        // Not held any more; key at risk: the rig's key owner is not listed.
        (OrgState::KeyAtRisk, None, 2)
    );
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

/// The reconciliation's finding records go in the poll's own transaction: an
/// aborted poll publishes none, its redo publishes them once, with the same ids.
#[tokio::test]
async fn findings_join_the_poll_transaction_and_an_abort_is_redone_identically() {
    use streak_connector::audit::{
        parse_directory_record, Directory, DirectoryOptions, FindingRecord, ReconcileOptions,
        Reconciler,
    };
    let record = |email: &str, status: &str| {
        let value = format!("{{\"status\":\"{status}\"}}");
        parse_directory_record(
            Some(email.as_bytes()),
            Some(value.as_bytes()),
            &DirectoryOptions::default(),
        )
        .expect("a valid directory record")
    };
    let mut reconciler = Reconciler::new(Directory::default(), ReconcileOptions::default());
    reconciler.apply_directory(record("u000@example.com", "suspended"));
    reconciler.apply_directory(record("u001@example.com", "active"));
    reconciler.set_directory_loaded();
    let continuous = Arc::new(Mutex::new(None));
    let slot = continuous.clone();
    let r = rig_with(
        Mode::Publish,
        move |m| {
            let c = Arc::new(Continuous::unfollowed(reconciler, "findings", m.clone()));
            *slot.lock().expect("lock") = Some(c.clone());
            Some(c)
        },
        None,
    );
    let continuous = continuous.lock().expect("lock").clone().expect("made");
    let findings = |all: bool| -> Vec<FindingRecord> {
        let records = if all {
            r.store.all_records("findings")
        } else {
            r.store.committed("findings")
        };
        records
            .iter()
            .map(|x| FindingRecord::from_json(x.value.as_deref().expect("a value")).expect("JSON"))
            .collect()
    };
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api.clone()).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let first = findings(false);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].user_key.as_deref(), Some("u000"));
    assert_eq!(first[0].poll_seq, 1);
    let gauge = |kind: &str| {
        r.metrics
            .reconcile_findings
            .with_label_values(&["org1", kind])
            .get()
    };
    assert_eq!(
        (gauge("inactive_in_directory"), gauge("not_in_directory")),
        (1, 0)
    );

    // The directory changes; the next poll's transaction aborts, then is redone.
    continuous.apply_directory(record("u001@example.com", "deleted"));
    r.store.fail_next(InjectedFailure::Abort);
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: true });
    assert_eq!(
        findings(false).len(),
        1,
        "an aborted poll publishes no finding"
    );
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let committed = findings(false);
    assert_eq!(committed.len(), 2, "the redo publishes the change once");
    let aborted: Vec<FindingRecord> = r
        .store
        .all_records("findings")
        .into_iter()
        .filter(|x| x.aborted)
        .map(|x| FindingRecord::from_json(x.value.as_deref().expect("a value")).expect("JSON"))
        .collect();
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        aborted[0].finding_id, committed[1].finding_id,
        "same id on redo"
    );
    assert_eq!(committed[1].user_key.as_deref(), Some("u001"));
    assert_eq!(gauge("inactive_in_directory"), 2);
    assert_eq!(findings(true).len(), 3);

    // Nothing changed: nothing more.
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(findings(false).len(), 2);
}

/// Issue 13.2: a release answers one hold: when the departing set changes (same
/// count, other members), the release is void and the poll stays held; a poll that
/// is not held discards the hold, so a later mass departure is held again.
#[tokio::test]
async fn a_release_is_bound_to_the_exact_departing_set() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 40);
    let mut p = r.poller(api.clone()).await;
    poll(&mut p).await;
    let all = api.members();
    api.set(all[20..].to_vec());
    assert_eq!(poll(&mut p).await, PollStatus::Held);
    r.ctx
        .holds
        .decide("org1", 20, Decision::Release)
        .expect("held");
    // Before the next poll, another 20 are missing instead.
    api.set(all[..20].to_vec());
    assert_eq!(
        poll(&mut p).await,
        PollStatus::Held,
        "the release was for other members"
    );
    // Everyone is back: not held, the hold is gone.
    api.set(all.clone());
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert!(r.ctx.holds.view().is_empty());
    api.set(all[20..].to_vec());
    assert_eq!(
        poll(&mut p).await,
        PollStatus::Held,
        "held again, weeks later"
    );
    // A rejection keeps the members and stops holding until the listing changes.
    let before = r.events().await.len();
    r.ctx
        .holds
        .decide("org1", 20, Decision::Reject)
        .expect("held");
    assert_eq!(poll(&mut p).await, PollStatus::Held);
    assert_eq!(r.events().await.len(), before, "the members are kept");
    assert_eq!(
        r.metrics
            .departure_guard_tripped
            .with_label_values(&["org1"])
            .get(),
        0,
        "a rejected hold does not alert"
    );
    assert_eq!(
        r.metrics
            .guard_decisions_total
            .with_label_values(&["org1", "departures", "reject"])
            .get(),
        0,
        "decisions are counted by the admin API, not here"
    );
}

/// Issue 13.6: a poll that would turn more than the limit of members inactive at
/// once (a clock jump) is held like a departure, until released.
#[tokio::test]
async fn mass_inactivity_is_held_until_released() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 40);
    let mut p = r.poller(api.clone()).await;
    poll(&mut p).await;
    let committed = r.events().await.len();
    let stale = NOW - membership::DEFAULT_INACTIVE_AFTER_MS - 60_000;
    let jumped: Vec<Member> = api
        .members()
        .into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            if i < 30 {
                m.last_seen_ms = Some(stale);
                m.creation_ms = Some(stale);
            }
            m
        })
        .collect();
    api.set(jumped);
    assert_eq!(poll(&mut p).await, PollStatus::Held);
    assert_eq!(r.events().await.len(), committed, "nothing written");
    assert_eq!(
        r.metrics
            .inactivity_guard_tripped
            .with_label_values(&["org1"])
            .get(),
        1
    );
    let holds = r.ctx.holds.view();
    assert_eq!(holds.len(), 1);
    assert_eq!((holds[0].count, holds[0].kind.as_str()), (30, "inactivity"));
    r.ctx
        .holds
        .decide("org1", 30, Decision::Release)
        .expect("held");
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.events().await.len(), committed + 30, "30 WENT_INACTIVE");
    assert_eq!(
        r.metrics
            .inactivity_guard_tripped
            .with_label_values(&["org1"])
            .get(),
        0
    );
}

/// Issue 13.5: a cycle queued behind the one committing does not begin a
/// transaction once shutdown is requested.
#[tokio::test]
async fn a_cycle_queued_behind_a_commit_begins_no_transaction_after_the_signal() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 3);
    let mut p = r.poller(api.clone()).await;
    // Another cycle is committing: it holds the gate.
    let gate = r.ctx.commit_gate.lock().await;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let queued = tokio::spawn(async move { p.poll(&stop).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!queued.is_finished(), "the cycle waits for the gate");
    shutdown.cancel();
    drop(gate);
    let status = queued.await.expect("no panic").expect("not fatal");
    assert_eq!(status, PollStatus::Cancelled);
    assert!(
        r.store.committed(EVENTS).is_empty(),
        "nothing committed after the signal"
    );
}
