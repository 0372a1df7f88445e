//! The departure and inactivity guards: holds, releases bound to their hold.

use super::*;

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
