//! The first fetch begun during start-up (while the state topic is restored): the
//! first cycle takes its outcome, listing or error, as its own and fetches nothing
//! itself; later cycles fetch; a prefetch dropped unused stops.

use super::*;
use streak_connector::connector::Prefetch;

/// The pool of `api`'s new organization, and a prefetch begun on it.
async fn prefetched(r: &Rig, api: Arc<FakeApi>) -> (OrgPoller, Arc<KeysOf>) {
    let keys = match r.admit(api).await {
        Admitted::NewOrganization(keys) => keys,
        other => panic!("not a new organization: {other:?}"),
    };
    let prefetch = Prefetch::spawn(keys.clone(), Arc::new(|| NOW));
    let poller = OrgPoller::new(keys.clone(), r.ctx.clone()).with_prefetch(prefetch);
    (poller, keys)
}

type KeysOf = streak_connector::connector::keys::OrgKeys;

/// Lets spawned tasks run until `done` holds (or a second passes).
async fn until(done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn the_first_cycle_publishes_the_listing_fetched_at_start_up_and_later_ones_fetch() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 3);
    let (mut p, _keys) = prefetched(&r, api.clone()).await;
    until(|| api.listings.load(Ordering::SeqCst) == 1).await;
    assert_eq!(
        api.listings.load(Ordering::SeqCst),
        1,
        "fetched before any cycle"
    );

    // Streak moves on after the prefetch: the first cycle still reports what the
    // prefetch saw, and does not ask again.
    let mut members = api.members();
    members.push(member("u-late", false));
    api.set(members);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(
        api.listings.load(Ordering::SeqCst),
        1,
        "one listing for the first cycle"
    );
    let first = r.events().await;
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(
        first.iter().all(|(t, _)| *t == EventType::Snapshot),
        "{first:?}"
    );

    // The next cycle fetches: the late member joins.
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(api.listings.load(Ordering::SeqCst), 2);
    let events = r.events().await;
    assert_eq!(
        events.get(3),
        Some(&(EventType::Joined, "u-late".to_owned())),
        "{events:?}"
    );
    assert_eq!(events.len(), 4);
}

#[tokio::test]
async fn a_prefetch_that_failed_is_the_first_cycles_failure() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 3);
    // Admitted with a working key, then revoked before the listing.
    let keys = match r.admit(api.clone()).await {
        Admitted::NewOrganization(keys) => keys,
        other => panic!("not a new organization: {other:?}"),
    };
    *api.fail_with_401.lock().expect("lock") = true;
    let mut p = OrgPoller::new(keys.clone(), r.ctx.clone())
        .with_prefetch(Prefetch::spawn(keys, Arc::new(|| NOW)));
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: false });
    assert_eq!(
        api.listings.load(Ordering::SeqCst),
        1,
        "the cycle did not fetch again"
    );
    assert!(
        p.last_error()
            .is_some_and(|e| e.contains("the only API key of organization `org1` was rejected")),
        "the failure of a cycle that fetched itself: {:?}",
        p.last_error()
    );
    assert!(r.events().await.is_empty());

    // The key comes back: the next cycle fetches and publishes.
    *api.fail_with_401.lock().expect("lock") = false;
    let fresh = FakeApi::keyed("org1", 3, "fp-fresh");
    assert!(matches!(
        r.admit(fresh.clone()).await,
        Admitted::Joined { .. }
    ));
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(fresh.listings.load(Ordering::SeqCst), 1);
    assert_eq!(r.events().await.len(), 3);
}

#[tokio::test]
async fn a_prefetch_dropped_unused_stops() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 3);
    *api.stall_listing.lock().expect("lock") = true;
    let (p, keys) = prefetched(&r, api.clone()).await;
    until(|| api.listings.load(Ordering::SeqCst) == 1).await;
    // The stalled fetch holds the pool; dropping the poller (a start that failed)
    // aborts it, and the pool is released.
    let held = Arc::strong_count(&keys);
    drop(p);
    until(|| Arc::strong_count(&keys) <= held - 2).await;
    assert_eq!(
        Arc::strong_count(&keys),
        held - 2,
        "the poller's and the prefetch task's references are gone"
    );
}
