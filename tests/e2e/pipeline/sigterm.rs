//! SIGTERM during a cycle: exit 0 and nothing half written.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use streak_connector::membership::EventType;
use streak_connector::simulator::Endpoint;
use testkit::broker::real_broker_for;
use testkit::e2e::{api_key, org_toml, start_simulator, wait_for, Setup};
use testkit::topic::{last_checkpoints, members_in_state, read_events, read_state};

use super::{of_org, summary, users, ONCE_TIMEOUT};

/// 3. SIGTERM while a cycle is in flight: exit 0 within a bounded time, and nothing
///    half written: a read_committed consumer sees all of the interrupted poll's
///    events or none, its checkpoint goes with them, and the next `once` completes
///    the picture without duplicates.
///
/// org-big has 3000 members and its first listing is delayed by 1 s; SIGTERM comes
/// 1.5 s after that request arrived, when the cycle is encoding or in its
/// transaction (it finishes it). org-small commits before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_publishing_exits_0_and_leaves_nothing_half_written() {
    sigterm_during_a_cycle(
        "sigterm_while_publishing",
        "1s",
        Duration::from_millis(1500),
    )
    .await;
}

/// 3b. The same with SIGTERM while the listing is still being fetched (delayed 5 s):
///     the cycle has written nothing yet, so it stops without writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_fetching_exits_0_and_leaves_nothing_half_written() {
    sigterm_during_a_cycle("sigterm_while_fetching", "5s", Duration::from_millis(500)).await;
}

/// Runs `run` with org-small and org-big (its first listing delayed by `delay`),
/// sends SIGTERM `signal_after` the listing request arrived, then checks.
async fn sigterm_during_a_cycle(test: &str, delay: &str, signal_after: Duration) {
    // The mock cluster shows aborted records to read_committed consumers.
    let Some(broker) = real_broker_for(test).await else {
        return;
    };
    const BIG: usize = 3000;
    let (ks, kb) = (api_key("small"), api_key("big"));
    let scenario = format!(
        "{}{}\n[[faults]]\nkind = \"delay\"\norg = \"org-big\"\nendpoint = \"organization_users\"\nrequests = [1]\ndelay = \"{delay}\"\n",
        org_toml("org-small", &ks, &[("u-s1", true), ("u-s2", false)], ""),
        org_toml(
            "org-big",
            &kb,
            &[],
            &format!("generate = {{ count = {BIG}, seed = 7 }}")
        ),
    );
    let sim = start_simulator(&scenario).await;
    let big_members: BTreeSet<String> = sim
        .members("org-big")
        .expect("org-big")
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(big_members.len(), BIG);
    let setup = Setup::with_topics("sigterm", &sim.base_url(), &broker, &[&ks, &kb], "");

    let mut cmd = setup.command(&["run"]);
    cmd.args(["--poll-interval", "1h"]);
    let mut proc = cmd.spawn();
    let arrived = wait_for("org-big's listing request", Duration::from_secs(90), || {
        (sim.stats()
            .org_requests("org-big", Endpoint::OrganizationUsers)
            >= 1)
            .then(Instant::now)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", proc.report()));
    tokio::time::sleep_until((arrived + signal_after).into()).await;
    let signalled = Instant::now();
    proc.sigterm();
    // Bounded: the transaction timeout (10 s here) plus the drain margin, at most.
    let status = proc.wait_exit(Duration::from_secs(45)).await;
    let took = signalled.elapsed();
    assert!(
        status.success(),
        "SIGTERM during a cycle: exit 0, got {status} after {took:?}\n{}",
        proc.report()
    );
    assert!(
        took < Duration::from_secs(20),
        "exit within the drain deadline, took {took:?}"
    );
    eprintln!("[e2e] exited 0 {took:?} after SIGTERM");
    for l in proc.stderr().lines() {
        if l.contains("org-big") || l.contains("SIGTERM") || l.contains("ransaction") {
            eprintln!("[e2e]   {l}");
        }
    }

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let big = of_org(&events, "org-big");
    assert!(
        big.is_empty() || users(&big) == big_members && big.len() == BIG,
        "the interrupted poll is all or nothing: {} of {BIG} events visible",
        big.len()
    );
    eprintln!(
        "[e2e] the interrupted poll was {}",
        if big.is_empty() {
            "aborted"
        } else {
            "committed"
        }
    );
    let state = read_state(broker.bootstrap(), &setup.state_topic).await;
    let checkpoints = last_checkpoints(&state);
    assert_eq!(
        checkpoints.contains_key("org-big"),
        !big.is_empty(),
        "org-big's checkpoint is committed with its events or not at all"
    );

    // The next run completes the picture exactly once.
    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();
    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let big = of_org(&events, "org-big");
    assert_eq!(big.len(), BIG, "one SNAPSHOT per member, no duplicates");
    assert_eq!(users(&big), big_members);
    assert!(big
        .iter()
        .all(|e| e.event.poll_seq == 1 && e.event.event_type == EventType::Snapshot));
    let small = of_org(&events, "org-small");
    assert_eq!(
        summary(&small),
        vec![
            (1, "SNAPSHOT", "u-s1".into()),
            (1, "SNAPSHOT", "u-s2".into())
        ]
    );
    let state = read_state(broker.bootstrap(), &setup.state_topic).await;
    let members = members_in_state(&state);
    assert_eq!(
        members.get("org-big").map(Vec::len),
        Some(BIG),
        "every member's state is stored"
    );
    let checkpoints = last_checkpoints(&state);
    assert_eq!(
        checkpoints.get("org-big").map(|c| c.member_count),
        Some(BIG as u64)
    );
}
