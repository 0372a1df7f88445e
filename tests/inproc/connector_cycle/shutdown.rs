//! Shutdown: no transaction begins after the signal.

use super::*;

/// Issue 13.5: a cycle queued behind the one committing does not begin a
/// transaction once shutdown is requested.
#[tokio::test]
async fn a_cycle_queued_behind_a_commit_begins_no_transaction_after_the_signal() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 3);
    let mut p = r.poller(api.clone()).await;
    // Another cycle is committing: it holds the gate.
    let gate = r.ctx.commit_gate.acquire().await.expect("open");
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
