use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::ring::{Admitted, KeyRing};
use super::*;
use crate::membership::{Listing, Member, MemberState};
use crate::streak::{CurrentUser, ListingStats, Organization};

const NOW: i64 = 1_000_000_000_000;

/// A key of a fake Streak: its organization and owner, revocable.
#[derive(Debug)]
struct FakeKey {
    fp: String,
    org: String,
    owner: String,
    revoked: AtomicBool,
    down: AtomicBool,
    listings: AtomicUsize,
    checks: AtomicUsize,
}

fn key(fp: &str, org: &str, owner: &str) -> Arc<FakeKey> {
    Arc::new(FakeKey {
        fp: fp.into(),
        org: org.into(),
        owner: owner.into(),
        revoked: AtomicBool::new(false),
        down: AtomicBool::new(false),
        listings: AtomicUsize::new(0),
        checks: AtomicUsize::new(0),
    })
}

impl FakeKey {
    fn fail(&self, endpoint: &'static str) -> Option<ApiError> {
        if self.revoked.load(Ordering::SeqCst) {
            return Some(ApiError::Unauthorized {
                endpoint,
                detail: None,
            });
        }
        if self.down.load(Ordering::SeqCst) {
            return Some(ApiError::ServerError {
                endpoint,
                status: 503,
                attempts: 1,
                detail: None,
            });
        }
        None
    }
}

#[async_trait]
impl StreakApi for FakeKey {
    async fn me(&self) -> Result<CurrentUser, ApiError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.fail("users_me") {
            return Err(e);
        }
        Ok(CurrentUser {
            key: self.owner.clone(),
            email: Some(format!("{}@example.com", self.owner)),
            org_key: Some(self.org.clone()),
        })
    }
    async fn organization(&self) -> Result<Organization, ApiError> {
        Ok(Organization {
            key: self.org.clone(),
            name: None,
        })
    }
    async fn org_users(&self, _org: &str) -> Result<FetchedListing, ApiError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.fail("organization_users") {
            return Err(e);
        }
        Ok(FetchedListing {
            listing: Listing {
                members: vec![],
                complete: true,
            },
            stats: ListingStats::default(),
        })
    }
    fn key_fingerprint(&self) -> &str {
        &self.fp
    }
}

fn ring(metrics: &Arc<Metrics>) -> KeyRing {
    KeyRing::new(PoolSettings::default(), metrics.clone(), Arc::new(|| NOW))
}

async fn pool_of(ring: &KeyRing, keys: &[&Arc<FakeKey>]) -> Arc<OrgKeys> {
    let mut pool = None;
    for k in keys {
        match ring.admit((*k).clone()).await {
            Admitted::NewOrganization(p) => pool = Some(p),
            Admitted::Joined { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    pool.expect("a new organization")
}

fn gauge(m: &Metrics, org: &str, state: &str) -> i64 {
    m.api_keys.with_label_values(&[org, state]).get()
}

#[tokio::test]
async fn keys_of_one_organization_form_one_pool_and_the_first_polls() {
    let metrics = Arc::new(Metrics::new());
    let r = ring(&metrics);
    let (a, b, c) = (
        key("fa", "org1", "alice"),
        key("fb", "org1", "bob"),
        key("fc", "org2", "carol"),
    );
    let p1 = pool_of(&r, &[&a, &b]).await;
    let p2 = pool_of(&r, &[&c]).await;
    assert_eq!(r.orgs().len(), 2);
    let states: Vec<_> = p1
        .keys()
        .iter()
        .map(|k| (k.fingerprint.clone(), k.state))
        .collect();
    assert_eq!(
        states,
        [
            ("fa".into(), KeyState::Active),
            ("fb".into(), KeyState::Standby)
        ]
    );
    assert_eq!(p2.keys().len(), 1);
    assert!(matches!(r.admit(a.clone()).await, Admitted::AlreadyKnown));
    p1.org_users().await.expect("listing");
    assert_eq!(a.listings.load(Ordering::SeqCst), 1);
    assert_eq!(
        b.listings.load(Ordering::SeqCst),
        0,
        "the standby only stands by"
    );
    assert_eq!(gauge(&metrics, "org1", "active"), 1);
    assert_eq!(gauge(&metrics, "org1", "standby"), 1);
    assert_eq!(gauge(&metrics, "org1", "rejected"), 0);
    assert_eq!(
        metrics
            .api_key_failovers_total
            .with_label_values(&["org1"])
            .get(),
        0
    );
}

#[tokio::test]
async fn a_revoked_polling_key_fails_over_within_the_same_fetch_and_is_not_retried() {
    let metrics = Arc::new(Metrics::new());
    let r = ring(&metrics);
    let (a, b) = (key("fa", "org1", "alice"), key("fb", "org1", "bob"));
    let p = pool_of(&r, &[&a, &b]).await;
    a.revoked.store(true, Ordering::SeqCst);
    p.org_users().await.expect("the standby takes over");
    assert_eq!(b.listings.load(Ordering::SeqCst), 1);
    assert_eq!(
        metrics
            .api_key_failovers_total
            .with_label_values(&["org1"])
            .get(),
        1
    );
    assert_eq!(gauge(&metrics, "org1", "rejected"), 1);
    p.org_users().await.expect("again");
    p.check_standbys(NOW + 24 * 3600 * 1000).await;
    assert_eq!(a.listings.load(Ordering::SeqCst), 1, "never retried");
    assert_eq!(
        a.checks.load(Ordering::SeqCst),
        1,
        "only the admission's check"
    );

    b.revoked.store(true, Ordering::SeqCst);
    let err = p.org_users().await.expect_err("every key rejected");
    assert!(matches!(err, FetchError::AllRejected(_)), "{err:?}");
    assert!(err.to_string().contains("all 2 API keys"), "{err}");
    let err = p.org_users().await.expect_err("still");
    assert!(matches!(err, FetchError::AllRejected(_)));
    assert_eq!(
        b.listings.load(Ordering::SeqCst),
        3,
        "no loop: one try per fetch"
    );
}

#[tokio::test]
async fn standbys_are_checked_when_due_and_a_transient_failure_changes_nothing() {
    let metrics = Arc::new(Metrics::new());
    let r = ring(&metrics);
    let (a, b) = (key("fa", "org1", "alice"), key("fb", "org1", "bob"));
    let p = pool_of(&r, &[&a, &b]).await;
    p.check_standbys(NOW + 1).await;
    assert_eq!(b.checks.load(Ordering::SeqCst), 1, "not due yet");
    let later = NOW + crate::keypool::DEFAULT_STANDBY_CHECK_EVERY_MS;
    b.down.store(true, Ordering::SeqCst);
    p.check_standbys(later).await;
    assert_eq!(b.checks.load(Ordering::SeqCst), 2);
    assert_eq!(gauge(&metrics, "org1", "standby"), 1, "inconclusive");
    b.down.store(false, Ordering::SeqCst);
    b.revoked.store(true, Ordering::SeqCst);
    p.check_standbys(later * 2).await;
    assert_eq!(gauge(&metrics, "org1", "rejected"), 1);
    assert_eq!(gauge(&metrics, "org1", "standby"), 0);
}

#[tokio::test]
async fn a_rejected_key_is_set_aside_and_a_removed_polling_key_hands_over() {
    let metrics = Arc::new(Metrics::new());
    let r = ring(&metrics);
    let bad = key("fx", "org1", "xavier");
    bad.revoked.store(true, Ordering::SeqCst);
    assert!(matches!(r.admit(bad.clone()).await, Admitted::Rejected(_)));
    let down = key("fd", "org3", "dora");
    down.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        r.admit(down.clone()).await,
        Admitted::Pending { .. }
    ));
    assert!(r.retry_pending().await.is_empty());
    down.down.store(false, Ordering::SeqCst);
    let new = r.retry_pending().await;
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].org_key(), "org3");

    let (a, b) = (key("fa", "org1", "alice"), key("fb", "org1", "bob"));
    let p = pool_of(&r, &[&a, &b]).await;
    r.remove("fa");
    assert_eq!(p.keys().len(), 1);
    assert_eq!(p.keys()[0].state, KeyState::Active);
    p.org_users().await.expect("b polls");
    r.remove("fb");
    let err = p.org_users().await.expect_err("no key left");
    assert!(err.to_string().contains("no API key left"), "{err}");
}

fn listed(key: &str, admin: bool, last_seen_ms: i64) -> MemberState {
    MemberState {
        member: Member {
            key: key.into(),
            is_org_admin: Some(admin),
            last_seen_ms: Some(last_seen_ms),
            ..Member::default()
        },
        inactive: false,
        first_seen_ms: 0,
        last_changed_ms: 0,
    }
}

#[tokio::test]
async fn owners_are_watched_and_a_rejected_keys_series_go() {
    let metrics = Arc::new(Metrics::new());
    let r = ring(&metrics);
    let (a, b) = (key("fa", "org1", "alice"), key("fb", "org1", "bob"));
    let p = pool_of(&r, &[&a, &b]).await;
    let mut state = OrgState::new("org1");
    state.insert(listed("alice", false, NOW));
    p.watch_owners(&state, NOW, &Settings::default());
    let risk = |fp: &str, reason: &str| {
        metrics
            .api_key_owner_at_risk
            .get_metric_with_label_values(&["org1", fp, reason])
            .map(|g| g.get())
            .ok()
    };
    assert_eq!(risk("fa", "not_admin"), Some(1));
    assert_eq!(risk("fa", "left"), Some(0));
    assert_eq!(risk("fb", "left"), Some(1), "bob is not listed");
    let info = p.keys();
    assert_eq!(info[0].owner.email.as_deref(), Some("alice@example.com"));
    assert_eq!(info[0].owner_admin, Some(false));
    assert_eq!(info[0].owner_last_seen_ms, Some(NOW));

    b.revoked.store(true, Ordering::SeqCst);
    p.check_standbys(NOW + crate::keypool::DEFAULT_STANDBY_CHECK_EVERY_MS)
        .await;
    let text = metrics.encode_text();
    assert!(!text.contains("key=\"fb\""), "{text}");
    assert!(text.contains("key=\"fa\""), "{text}");
}
