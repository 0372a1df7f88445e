//! End to end through the built binary: the in-process Streak simulator, a Kafka
//! broker (`KAFKA_BOOTSTRAP_SERVERS`, else librdkafka's mock cluster when the binary
//! can use it), and `streak-connector once|run` as separate processes. What the
//! binary wrote is read back read_committed and decoded with the crate's decoder.
//!
//! Every test has its own simulator (port 0), topics, connector name and API keys,
//! so they run in parallel.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use streak_connector::avro::DecodedEvent;
use streak_connector::membership::EventType;
use streak_connector::simulator::{Change, Endpoint, ProfilePatch};
use testkit::broker::real_broker_for;
use testkit::e2e::{
    api_key, fingerprint, joiner, json_lines, json_str, org_toml, start_simulator, wait_for, Setup,
};
use testkit::e2e::{broker_for, prepare_mock_topics};
use testkit::metrics::scrape;
use testkit::topic::{last_checkpoints, members_in_state, read_events, read_state, topic_exists};

/// Bound of a `once` against a local broker (a debug build on a busy machine).
const ONCE_TIMEOUT: Duration = Duration::from_secs(120);

fn of_org<'a>(events: &'a [DecodedEvent], org: &str) -> Vec<&'a DecodedEvent> {
    events.iter().filter(|e| e.event.org_key == org).collect()
}

fn users(events: &[&DecodedEvent]) -> BTreeSet<String> {
    events.iter().map(|e| e.event.user_key.clone()).collect()
}

fn summary(events: &[&DecodedEvent]) -> Vec<(u64, &'static str, String)> {
    let mut v: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.event.poll_seq,
                e.event.event_type.as_str(),
                e.event.user_key.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// 1. `once` publishes one SNAPSHOT per member; after changes in Streak, the next
///    `once` publishes exactly JOINED, LEFT, ADMIN_CHANGED and PROFILE_CHANGED, and the
///    state topic holds the members and the checkpoint of that poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_publishes_a_snapshot_then_exactly_the_changes() {
    let Some(broker) = broker_for("once_publishes_a_snapshot_then_exactly_the_changes").await
    else {
        return;
    };
    let key = api_key("acme");
    let sim = start_simulator(&org_toml(
        "org-acme",
        &key,
        &[
            ("u-alice", true),
            ("u-bob", false),
            ("u-carol", false),
            ("u-dave", false),
        ],
        "",
    ))
    .await;
    let setup = Setup::new("once", &sim.base_url(), &broker, &[&key], "");
    prepare_mock_topics(&broker, &[&setup.events_topic, &setup.state_topic]);

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let all: Vec<&DecodedEvent> = events.iter().collect();
    assert_eq!(
        summary(&all),
        vec![
            (1, "SNAPSHOT", "u-alice".into()),
            (1, "SNAPSHOT", "u-bob".into()),
            (1, "SNAPSHOT", "u-carol".into()),
            (1, "SNAPSHOT", "u-dave".into()),
        ]
    );
    for e in &events {
        let ev = &e.event;
        assert_eq!(ev.org_key, "org-acme");
        assert!(ev.before.is_none(), "a SNAPSHOT has no before: {ev:?}");
        let after = ev.after.as_ref().expect("a SNAPSHOT has an after");
        assert_eq!(after.member.key, ev.user_key);
        let email = format!("{}@e2e.example.com", ev.user_key);
        assert_eq!(after.member.email.as_deref(), Some(email.as_str()));
        assert_eq!(ev.email.as_deref(), Some(email.as_str()));
        assert_eq!(after.member.is_org_admin, Some(ev.user_key == "u-alice"));
        assert!(!after.inactive, "seen an hour ago: active");
        assert_eq!(e.source.connector, setup.connector_name);
    }
    let ids: BTreeSet<_> = events.iter().map(|e| e.event.event_id).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");

    // Streak changes between two polls.
    sim.apply("org-acme", Change::Join(joiner("u-erin")))
        .expect("erin joins");
    sim.apply(
        "org-acme",
        Change::Leave {
            key: "u-bob".into(),
        },
    )
    .expect("bob leaves");
    sim.apply(
        "org-acme",
        Change::SetAdmin {
            key: "u-carol".into(),
            admin: true,
        },
    )
    .expect("carol becomes an admin");
    sim.apply(
        "org-acme",
        Change::Profile {
            key: "u-dave".into(),
            patch: ProfilePatch {
                display_name: Some("David Example".into()),
                ..ProfilePatch::default()
            },
        },
    )
    .expect("dave renames himself");

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let second: Vec<&DecodedEvent> = events.iter().filter(|e| e.event.poll_seq == 2).collect();
    assert_eq!(
        events.len(),
        4 + second.len(),
        "the first poll's events are not repeated: {:?}",
        summary(&events.iter().collect::<Vec<_>>())
    );
    assert_eq!(
        summary(&second),
        vec![
            (2, "ADMIN_CHANGED", "u-carol".into()),
            (2, "JOINED", "u-erin".into()),
            (2, "LEFT", "u-bob".into()),
            (2, "PROFILE_CHANGED", "u-dave".into()),
        ]
    );
    for e in &second {
        let ev = &e.event;
        match ev.event_type {
            EventType::Joined => {
                assert!(ev.before.is_none());
                let after = ev.after.as_ref().expect("JOINED has an after");
                assert_eq!(
                    after.member.email.as_deref(),
                    Some("u-erin@e2e.example.com")
                );
            }
            EventType::Left => {
                assert!(ev.after.is_none(), "LEFT has no after");
                let before = ev.before.as_ref().expect("LEFT has a before");
                assert_eq!(before.member.key, "u-bob");
            }
            EventType::AdminChanged => {
                let before = ev.before.as_ref().expect("a before");
                let after = ev.after.as_ref().expect("an after");
                assert_eq!(before.member.is_org_admin, Some(false));
                assert_eq!(after.member.is_org_admin, Some(true));
            }
            EventType::ProfileChanged => {
                let before = ev.before.as_ref().expect("a before");
                let after = ev.after.as_ref().expect("an after");
                assert_eq!(
                    before.member.display_name.as_deref(),
                    Some("u-dave Example")
                );
                assert_eq!(after.member.display_name.as_deref(), Some("David Example"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // `tail` shows the same events, decoded, read committed.
    let tail = setup
        .command(&[
            "tail",
            "--topic",
            "events",
            "--from",
            "beginning",
            "--max-records",
            "8",
            "--idle-timeout",
            "10s",
        ])
        .run(ONCE_TIMEOUT)
        .await;
    tail.assert_success();
    let mut decoded: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e.event.event_type.as_str().to_owned(),
                e.event.user_key.clone(),
            )
        })
        .collect();
    decoded.sort();
    assert_eq!(event_lines(&tail.stdout), decoded, "{}", tail.report());

    let state = read_state(broker.bootstrap(), &setup.state_topic).await;
    let checkpoint = last_checkpoints(&state)
        .remove("org-acme")
        .expect("a checkpoint for org-acme");
    assert_eq!(checkpoint.poll_seq, 2);
    assert_eq!(checkpoint.member_count, 4);
    assert_eq!(
        members_in_state(&state)
            .get("org-acme")
            .cloned()
            .unwrap_or_default(),
        vec!["u-alice", "u-carol", "u-dave", "u-erin"],
        "bob's state was tombstoned, erin's written"
    );
}

/// `once` with one good key and one revoked key: exits non-zero naming the failed
/// key (by fingerprint, never the key), and the good organization is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_fails_naming_the_organization_that_failed_and_publishes_the_others() {
    let Some(broker) = broker_for("once_fails_naming_the_organization_that_failed").await else {
        return;
    };
    let good = api_key("good");
    let revoked = api_key("revoked");
    let sim = start_simulator(&format!(
        "{}{}",
        org_toml("org-good", &good, &[("u-gina", true), ("u-gus", false)], ""),
        org_toml("org-gone", &revoked, &[("u-rita", true)], "")
    ))
    .await;
    sim.apply(
        "org-gone",
        Change::RevokeKey {
            api_key: revoked.clone(),
        },
    )
    .expect("revoked");
    let setup = Setup::new("oncefail", &sim.base_url(), &broker, &[&good, &revoked], "");
    prepare_mock_topics(&broker, &[&setup.events_topic, &setup.state_topic]);

    let run = setup.command(&["once"]).run(ONCE_TIMEOUT).await;
    assert!(
        !run.status.success(),
        "one organization failed: non-zero exit\n{}",
        run.report()
    );
    let out = run.all_output();
    assert!(
        out.contains(&fingerprint(&revoked)),
        "the failure names the key by its fingerprint {}\n{}",
        fingerprint(&revoked),
        run.report()
    );
    assert!(
        !out.contains(&revoked) && !out.contains(&good),
        "no API key is ever printed\n{}",
        run.report()
    );

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let good_events = of_org(&events, "org-good");
    assert_eq!(users(&good_events), set(&["u-gina", "u-gus"]));
    assert!(good_events
        .iter()
        .all(|e| e.event.event_type == EventType::Snapshot));
    assert!(of_org(&events, "org-gone").is_empty());
}

/// 2. `run` with three organizations; one key is revoked while it runs: the other
///    two keep publishing, and /metrics shows the rejected key and the failed polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_keeps_publishing_the_others_when_one_key_is_revoked() {
    let Some(broker) = broker_for("run_keeps_publishing_the_others_when_one_key_is_revoked").await
    else {
        return;
    };
    let (ka, kb, kc) = (api_key("a"), api_key("b"), api_key("c"));
    let sim = start_simulator(&format!(
        "{}{}{}",
        org_toml("org-a", &ka, &[("u-a1", true), ("u-a2", false)], ""),
        org_toml("org-b", &kb, &[("u-b1", true), ("u-b2", false)], ""),
        org_toml("org-c", &kc, &[("u-c1", true), ("u-c2", false)], ""),
    ))
    .await;
    let setup = Setup::new("run", &sim.base_url(), &broker, &[&ka, &kb, &kc], "");
    prepare_mock_topics(&broker, &[&setup.events_topic, &setup.state_topic]);

    let mut cmd = setup.command(&["run"]);
    cmd.args(["--poll-interval", "1s"]);
    let mut proc = cmd.spawn();
    let addr = proc.metrics_addr(Duration::from_secs(60)).await;

    // Every organization polled successfully once.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = scrape(&addr).await;
        let ok = |org: &str| {
            m.value(
                "streak_connector_polls_total",
                &[("org", org), ("result", "success")],
            )
            .unwrap_or(0.0)
                >= 1.0
        };
        if ok("org-a") && ok("org-b") && ok("org-c") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every organization polled within 90 s\n{}\n{}",
            m.text,
            proc.report()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // org-c's key is revoked; org-a and org-b change.
    sim.apply(
        "org-c",
        Change::RevokeKey {
            api_key: kc.clone(),
        },
    )
    .expect("revoked");
    sim.apply("org-a", Change::Join(joiner("u-a3")))
        .expect("a3 joins");
    sim.apply("org-b", Change::Join(joiner("u-b3")))
        .expect("b3 joins");

    let fp_c = fingerprint(&kc);
    let deadline = Instant::now() + Duration::from_secs(90);
    let last = loop {
        let m = scrape(&addr).await;
        let joined = |org: &str| {
            m.value(
                "streak_connector_events_total",
                &[("org", org), ("event_type", "JOINED")],
            )
            .unwrap_or(0.0)
        };
        let rejected = m.value(
            "streak_connector_api_key_rejected",
            &[("key_fingerprint", &fp_c)],
        );
        let c_failed = m
            .value(
                "streak_connector_polls_total",
                &[("org", "org-c"), ("result", "failure")],
            )
            .unwrap_or(0.0);
        if joined("org-a") >= 1.0
            && joined("org-b") >= 1.0
            && rejected == Some(1.0)
            && c_failed >= 1.0
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "within 90 s: JOINED a={} b={}, api_key_rejected{{{fp_c}}}={rejected:?}, org-c failures={c_failed}\n{}\n{}",
            joined("org-a"),
            joined("org-b"),
            m.text,
            proc.report()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for org in ["org-a", "org-b"] {
        assert_eq!(
            last.value(
                "streak_connector_polls_total",
                &[("org", org), ("result", "failure")]
            )
            .unwrap_or(0.0),
            0.0,
            "{org} never failed\n{}",
            last.text
        );
    }
    for k in [&ka, &kb] {
        assert_ne!(
            last.value(
                "streak_connector_api_key_rejected",
                &[("key_fingerprint", &fingerprint(k))]
            ),
            Some(1.0),
            "a working key is not flagged"
        );
    }
    // The others keep polling after the revocation.
    let successes = |m: &testkit::metrics::Scrape, org: &str| {
        m.value(
            "streak_connector_polls_total",
            &[("org", org), ("result", "success")],
        )
        .unwrap_or(0.0)
    };
    let (a0, b0) = (successes(&last, "org-a"), successes(&last, "org-b"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = scrape(&addr).await;
        if successes(&m, "org-a") > a0 && successes(&m, "org-b") > b0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "org-a and org-b stopped polling after org-c's key was revoked\n{}",
            m.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "SIGTERM: exit 0, got {status}\n{}",
        proc.report()
    );
    assert!(
        !proc.stderr().contains(&kc) && !proc.stdout().contains(&kc),
        "the revoked key is never printed"
    );

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    for (org, users_now) in [
        ("org-a", ["u-a1", "u-a2", "u-a3"]),
        ("org-b", ["u-b1", "u-b2", "u-b3"]),
    ] {
        let evs = of_org(&events, org);
        assert_eq!(users(&evs), set(&users_now), "{org}");
        let joined: Vec<_> = evs
            .iter()
            .filter(|e| e.event.event_type == EventType::Joined)
            .collect();
        assert_eq!(joined.len(), 1, "{org}: one JOINED, exactly once");
        assert_eq!(
            evs.iter()
                .filter(|e| e.event.event_type == EventType::Snapshot)
                .count(),
            2,
            "{org}: one SNAPSHOT per initial member, exactly once"
        );
    }
    let c = of_org(&events, "org-c");
    assert_eq!(
        summary(&c),
        vec![
            (1, "SNAPSHOT", "u-c1".into()),
            (1, "SNAPSHOT", "u-c2".into())
        ],
        "org-c published its snapshot before the revocation, nothing after"
    );
}

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
    let setup = Setup::new("sigterm", &sim.base_url(), &broker, &[&ks, &kb], "");
    prepare_mock_topics(&broker, &[&setup.events_topic, &setup.state_topic]);

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

/// 7. `once --dry-run` prints the events it would publish and writes nothing; it
///    restores state, so after a real poll it prints only the changes, and the
///    real poll after it still publishes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_dry_run_prints_the_events_and_writes_nothing() {
    let Some(broker) = broker_for("once_dry_run_prints_the_events_and_writes_nothing").await else {
        return;
    };
    let key = api_key("dry");
    let sim = start_simulator(&org_toml(
        "org-dry",
        &key,
        &[("u-dan", true), ("u-dora", false), ("u-dirk", false)],
        "",
    ))
    .await;
    let setup = Setup::new("dry", &sim.base_url(), &broker, &[&key], "");
    prepare_mock_topics(&broker, &[&setup.events_topic, &setup.state_topic]);

    let dry = setup
        .command(&["once", "--dry-run"])
        .run(ONCE_TIMEOUT)
        .await;
    dry.assert_success();
    let printed = event_lines(&dry.stdout);
    assert_eq!(
        printed,
        vec![
            ("SNAPSHOT".to_owned(), "u-dan".to_owned()),
            ("SNAPSHOT".to_owned(), "u-dirk".to_owned()),
            ("SNAPSHOT".to_owned(), "u-dora".to_owned()),
        ],
        "one JSON line per would-be event\n{}",
        dry.report()
    );
    let events_topic_exists = topic_exists(broker.bootstrap(), &setup.events_topic).await;
    if events_topic_exists {
        assert!(
            read_events(broker.bootstrap(), &setup.events_topic)
                .await
                .is_empty(),
            "a dry run writes no event"
        );
    }
    if topic_exists(broker.bootstrap(), &setup.state_topic).await {
        assert!(
            read_state(broker.bootstrap(), &setup.state_topic)
                .await
                .is_empty(),
            "a dry run writes no state"
        );
    }

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();
    sim.apply(
        "org-dry",
        Change::Leave {
            key: "u-dora".into(),
        },
    )
    .expect("dora leaves");

    let dry = setup
        .command(&["once", "--dry-run"])
        .run(ONCE_TIMEOUT)
        .await;
    dry.assert_success();
    assert_eq!(
        event_lines(&dry.stdout),
        vec![("LEFT".to_owned(), "u-dora".to_owned())],
        "after a real poll, a dry run shows only the change\n{}",
        dry.report()
    );
    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    assert_eq!(
        events.len(),
        3,
        "the dry run wrote nothing: only the snapshot"
    );

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();
    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let second: Vec<&DecodedEvent> = events.iter().filter(|e| e.event.poll_seq == 2).collect();
    assert_eq!(
        summary(&second),
        vec![(2, "LEFT", "u-dora".into())],
        "the dry run did not advance the checkpoint"
    );
}

/// `(event_type, user_key)` of every JSON line of `stdout`, sorted.
fn event_lines(stdout: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = json_lines(stdout)
        .iter()
        .filter_map(|j| {
            Some((
                json_str(j, "event_type")?.to_owned(),
                json_str(j, "user_key")?.to_owned(),
            ))
        })
        .collect();
    v.sort();
    v
}
