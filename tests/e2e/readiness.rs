//! Issue 13.1: `/readyz` of the binary recovers after a Streak outage that began
//! before the organization was known (health is keyed by the key's fingerprint, not
//! by the label that turns from `key:<fingerprint>` into the organization key).

use std::time::{Duration, Instant};

use testkit::e2e::{api_key, broker_for, org_toml, start_simulator, Running, Setup};
use testkit::metrics::http_get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_200_after_an_outage_at_start_up() {
    let Some(broker) = broker_for("readyz_turns_200_after_an_outage_at_start_up").await else {
        return;
    };
    let key = api_key("ready");
    // The first 12 requests to /users/me fail with 503: with 3 attempts per call,
    // the first 4 polls fail before the organization is known, then it recovers.
    let fault = "[[faults]]\nkind = \"http_error\"\nendpoint = \"users_me\"\n\
                 until_request = 12\nstatus = 503\n";
    let sim = start_simulator(&format!(
        "{}{fault}",
        org_toml("org-ready", &key, &[("u-r1", true), ("u-r2", false)], "")
    ))
    .await;
    let setup = Setup::with_topics(
        "ready",
        &sim.base_url(),
        &broker,
        &[&key],
        "ready_max_consecutive_failures = 1",
    );
    let Running { mut proc, addr } = setup.spawn_run(&[]).await;

    // 200 before the first poll fails (restored, nothing failed yet) proves
    // nothing: the test waits for the 503 of the outage, then for the 200.
    let mut saw_503 = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = http_get(&addr, "/readyz").await.expect("/readyz answers");
        if status == 503 && body.contains("key:") {
            saw_503.get_or_insert(body.clone());
        } else if status == 200 && saw_503.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz not 200 within 120 s of an outage that ended (first 503: {saw_503:?}; last: {status} {body})\n{}",
            proc.report()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "SIGTERM: exit 0, got {status}");
}
