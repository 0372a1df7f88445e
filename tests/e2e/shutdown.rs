//! Issue 13.5 through the binary: with a commit stuck (librdkafka's mock cluster
//! answering after 60 s), the first SIGTERM drains within the documented bound
//! (transaction timeout + 12 s, inside the grace period of transaction timeout +
//! 15 s) and exits 0; a second SIGTERM ends the process at once.
//!
//! Always on the mock cluster (its round-trip time is the test's lever), so it runs
//! the same with or without a real broker.

use std::time::{Duration, Instant};

use streak_connector::simulator::Change;
use testkit::broker::Broker;
use testkit::e2e::{api_key, joiner, org_toml, start_simulator, Running, Setup};
use testkit::metrics::scrape;
use testkit::process::Spawned;

/// The transaction timeout the test's config sets (testkit::e2e::Setup).
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A running connector whose next commit is stuck; returns it with its broker.
async fn stuck_commit(test: &str) -> (Spawned, Broker, Setup) {
    let broker = Broker::mock();
    let key = api_key(test);
    let org = format!("org-{test}");
    let sim = start_simulator(&org_toml(&org, &key, &[("u-s1", true)], "")).await;
    let setup = Setup::with_topics(test, &sim.base_url(), &broker, &[&key], "");
    let Running { proc, addr } = setup.spawn_run(&[]).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = scrape(&addr).await;
        let ok = m.value(
            "streak_connector_polls_total",
            &[("org", org.as_str()), ("result", "success")],
        );
        if ok.unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no poll within 90 s\n{}",
            proc.report()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mock = broker.mock_cluster().expect("a mock cluster");
    mock.broker_round_trip_time(1, Duration::from_secs(60))
        .expect("the mock broker slows down");
    sim.apply(&org, Change::Join(joiner("u-s2")))
        .expect("a member joins");
    // The next poll (1 s) begins its commit and waits on the broker.
    tokio::time::sleep(Duration::from_secs(4)).await;
    std::mem::forget(sim);
    (proc, broker, setup)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_ends_the_process_at_once() {
    let (mut proc, _broker, _setup) = stuck_commit("twice").await;
    proc.sigterm();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(proc
        .wait_line("the stop line", Duration::from_secs(1), |l| l
            .contains("SIGTERM: finishing"))
        .await
        .contains("SIGTERM"));
    let started = Instant::now();
    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second SIGTERM ends the process at once, took {:?}",
        started.elapsed()
    );
    assert!(
        !status.success(),
        "exit 130 after a second signal, got {status}"
    );
    proc.wait_line(
        "the line of the second signal",
        Duration::from_secs(2),
        |l| l.contains("SIGTERM again: stopping at once"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_fits_the_grace_period() {
    let (mut proc, _broker, _setup) = stuck_commit("drain").await;
    let started = Instant::now();
    proc.sigterm();
    let grace = TRANSACTION_TIMEOUT + Duration::from_secs(15);
    let status = proc.wait_exit(grace).await;
    let took = started.elapsed();
    assert!(
        status.success(),
        "a drained stop exits 0, got {status}\n{}",
        proc.report()
    );
    assert!(
        took >= Duration::from_secs(2),
        "the stuck commit was drained, not ignored (took {took:?}): the test proves nothing\n{}",
        proc.report()
    );
    assert!(
        took <= TRANSACTION_TIMEOUT + Duration::from_secs(12),
        "the drain fits transaction timeout + 12 s, took {took:?}"
    );
}
