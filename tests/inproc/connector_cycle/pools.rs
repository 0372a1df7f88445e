//! Key pools: two keys of one organization, failover within the poll.

use super::*;

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
