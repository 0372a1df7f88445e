//! `run`: the other organizations keep publishing when one key is revoked.

use std::time::{Duration, Instant};

use streak_connector::avro::DecodedEvent;
use streak_connector::membership::EventType;
use streak_connector::simulator::Change;
use testkit::e2e::broker_for;
use testkit::e2e::{api_key, fingerprint, joiner, org_toml, start_simulator, Running, Setup};
use testkit::metrics::{scrape, Scrape};
use testkit::process::Spawned;
use testkit::topic::read_events;

use super::{of_org, set, summary, users};

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
    let setup = Setup::with_topics("run", &sim.base_url(), &broker, &[&ka, &kb, &kc], "");

    let Running { mut proc, addr } = setup.spawn_run(&[]).await;

    // Every organization polled successfully once.
    wait_until_every_org_polled(&addr, &proc).await;

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
    let last = wait_for_the_revocation(&addr, &proc, &fp_c).await;
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
    assert_published_exactly_once(&events);
}

/// Waits (90 s at most) until org-a, org-b and org-c each polled successfully once.
async fn wait_until_every_org_polled(addr: &str, proc: &Spawned) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = scrape(addr).await;
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
}

/// Waits (90 s at most) until org-a and org-b published a JOINED and org-c's key
/// (`fp_c`) is flagged rejected with a failed poll; returns that scrape.
async fn wait_for_the_revocation(addr: &str, proc: &Spawned, fp_c: &str) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = scrape(addr).await;
        let joined = |org: &str| {
            m.value(
                "streak_connector_events_total",
                &[("org", org), ("event_type", "JOINED")],
            )
            .unwrap_or(0.0)
        };
        let rejected = m.value(
            "streak_connector_api_key_rejected",
            &[("key_fingerprint", fp_c)],
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
            return m;
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
    }
}

/// org-a and org-b: one SNAPSHOT per initial member and one JOINED, exactly once;
/// org-c: its snapshot from before the revocation, nothing after.
fn assert_published_exactly_once(events: &[DecodedEvent]) {
    for (org, users_now) in [
        ("org-a", ["u-a1", "u-a2", "u-a3"]),
        ("org-b", ["u-b1", "u-b2", "u-b3"]),
    ] {
        let evs = of_org(events, org);
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
    let c = of_org(events, "org-c");
    assert_eq!(
        summary(&c),
        vec![
            (1, "SNAPSHOT", "u-c1".into()),
            (1, "SNAPSHOT", "u-c2".into())
        ],
        "org-c published its snapshot before the revocation, nothing after"
    );
}
