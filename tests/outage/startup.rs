//! `run` started before the broker (issue 11, point 9): it waits, logging each
//! attempt, with `/readyz` at 503, and becomes ready once the broker is up; `once`
//! fails at once with a message that says the cluster is not reachable.

use std::time::Duration;

use testkit::broker::Broker;
use testkit::e2e::{api_key, org_toml, start_simulator, Setup};
use testkit::metrics::http_get;

use super::{kafka_sh, OUTAGE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_for_a_broker_that_is_not_up_yet_and_once_fails_fast() {
    if std::env::var("STREAK_KAFKA_OUTAGE_TEST").ok().as_deref() != Some("1") {
        eprintln!("skipped: set STREAK_KAFKA_OUTAGE_TEST=1 with a broker from scripts/kafka.sh (scripts/test.sh does)");
        return;
    }
    let _outage = OUTAGE.lock().await;
    let broker = Broker::start().await;
    if broker.skip_unless_real("run_waits_for_a_broker_that_is_not_up_yet_and_once_fails_fast") {
        return;
    }
    let key = api_key("late-broker");
    let sim = start_simulator(&org_toml("org-late", &key, &[("u-a", true)], "")).await;
    let setup = Setup::new("late-broker", &sim.base_url(), &broker, &[&key], "");
    tokio::task::spawn_blocking(|| kafka_sh("stop"))
        .await
        .expect("stop");

    // `once` does not wait: it fails with a message naming the unreachable cluster.
    let once = setup.command(&["once"]).run(Duration::from_secs(120)).await;
    assert!(!once.status.success(), "{}", once.report());
    assert!(
        once.stderr.contains("is the cluster reachable?"),
        "{}",
        once.report()
    );
    assert!(
        once.elapsed < Duration::from_secs(90),
        "once failed fast: {:?}",
        once.elapsed
    );

    let mut cmd = setup.command(&["run"]);
    cmd.args(["--poll-interval", "1s"]);
    let mut proc = cmd.spawn();
    let addr = proc.metrics_addr(Duration::from_secs(60)).await;
    let retrying = proc
        .wait_line("a start-up retry", Duration::from_secs(90), |l| {
            l.contains("Start-up failed, retrying")
        })
        .await;
    assert!(retrying.contains("WARN"), "{retrying}");
    let (status, body) = http_get(&addr, "/readyz").await.expect("/readyz answers");
    assert_eq!(status, 503, "not ready while the broker is down: {body}");

    tokio::task::spawn_blocking(|| kafka_sh("start"))
        .await
        .expect("start");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        if let Ok((200, _)) = http_get(&addr, "/readyz").await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`run` not ready within 150 s of the broker's start\n{}",
            proc.report()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(60)).await;
    proc.finished(status).await.assert_success();
}
