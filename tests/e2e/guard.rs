//! End to end through the built binary: the departure guard and its operator release.
//!
//! `run` polls two organizations every second. One loses half its members at once:
//! the guard holds it (nothing written, a gauge, a log line naming the hold and the
//! release to send) while the other keeps publishing. The admin API (its own
//! listener) refuses a missing or wrong token, an organization that is not held and
//! a release whose count does not match (the organization stays held); `guard
//! status` shows who would leave; `guard release` lets exactly the departures
//! through, once, with an audit line and a metric.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use streak_connector::avro::DecodedEvent;
use streak_connector::membership::EventType;
use streak_connector::simulator::Change;
use testkit::e2e::{api_key, joiner, org_toml, start_simulator, Setup};
use testkit::e2e::{broker_for, prepare_mock_topics};
use testkit::metrics::{scrape, Scrape};
use testkit::process::Spawned;
use testkit::topic::{members_in_state, read_events, read_state};
use testkit::unique;

const GUARDED: &str = "org-guarded";
const FLOWING: &str = "org-flowing";
const TRIPPED: &str = "streak_connector_departure_guard_tripped";
const POLLS: &str = "streak_connector_polls_total";
const EVENTS: &str = "streak_connector_events_total";
/// Bound of every wait for the running connector (a debug build on a busy machine).
const WAIT: Duration = Duration::from_secs(90);

/// POST `http://ADDR/PATH` with an optional bearer token: the status and the body.
async fn http_post(addr: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let mut req = client.post(format!("http://{addr}{path}"));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    (status, body)
}

fn release_path(org: &str, expected: usize) -> String {
    format!("/admin/guard/release?org={org}&expect={expected}")
}

/// The admin API's address, from the line "admin API listening on http://ADDR".
async fn admin_addr(proc: &mut Spawned) -> String {
    const MARK: &str = "admin API listening on http://";
    let line = proc
        .wait_line("the admin API's address", Duration::from_secs(60), |l| {
            l.contains(MARK)
        })
        .await;
    let at = line.find(MARK).expect("the line has the mark") + MARK.len();
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':'))
        .collect()
}

fn value(m: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.value(name, labels).unwrap_or(0.0)
}

fn held(m: &Scrape) -> f64 {
    value(m, POLLS, &[("org", GUARDED), ("result", "held")])
}

fn successes(m: &Scrape, org: &str) -> f64 {
    value(m, POLLS, &[("org", org), ("result", "success")])
}

fn published(m: &Scrape, org: &str, event_type: &str) -> f64 {
    value(m, EVENTS, &[("org", org), ("event_type", event_type)])
}

/// Scrapes until `done` accepts the page, at most [`WAIT`]; the failure message
/// shows `what`, the page and the process output.
async fn scrape_until(
    proc: &Spawned,
    addr: &str,
    what: &str,
    done: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + WAIT;
    loop {
        let m = scrape(addr).await;
        if done(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "within {WAIT:?}: {what}\n--- metrics ---\n{}\n{}",
            m.text,
            proc.report()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn of_org<'a>(events: &'a [DecodedEvent], org: &str) -> Vec<&'a DecodedEvent> {
    events.iter().filter(|e| e.event.org_key == org).collect()
}

fn count(events: &[&DecodedEvent], t: EventType) -> usize {
    events.iter().filter(|e| e.event.event_type == t).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_departure_is_held_until_an_operator_releases_exactly_that_count() {
    let Some(broker) = broker_for("a_mass_departure_is_held_until_an_operator_releases").await
    else {
        return;
    };
    let (kg, kf) = (api_key("guarded"), api_key("flowing"));
    let guarded_members: Vec<String> = (0..40).map(|i| format!("u-g{i:02}")).collect();
    let guarded_refs: Vec<(&str, bool)> = guarded_members
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i == 0))
        .collect();
    let sim = start_simulator(&format!(
        "{}{}",
        org_toml(GUARDED, &kg, &guarded_refs, ""),
        org_toml(
            FLOWING,
            &kf,
            &[("u-f1", true), ("u-f2", false), ("u-f3", false)],
            ""
        ),
    ))
    .await;
    let token = unique("e2e-admin-token");
    let mut setup = Setup::new("guard", &sim.base_url(), &broker, &[&kg, &kf], "");
    setup
        .env
        .push(("STREAK_CONNECTOR_ADMIN_TOKEN".into(), token.clone()));
    prepare_mock_topics(&broker, &[&setup.events_topic, &setup.state_topic]);

    let mut cmd = setup.command(&["run"]);
    cmd.args(["--poll-interval", "1s", "--admin-listen", "127.0.0.1:0"]);
    let mut proc = cmd.spawn();
    let addr = proc.metrics_addr(Duration::from_secs(60)).await;
    let admin = admin_addr(&mut proc).await;
    assert_ne!(admin, addr, "the admin API has a listener of its own");

    // The SNAPSHOT of both organizations.
    scrape_until(&proc, &addr, "both organizations polled once", |m| {
        successes(m, GUARDED) >= 1.0 && successes(m, FLOWING) >= 1.0
    })
    .await;

    // Half of org-guarded leaves at once (u-g00, the key's owner, stays).
    let leavers: BTreeSet<String> = guarded_members[20..].iter().cloned().collect();
    for key in &leavers {
        sim.apply(GUARDED, Change::Leave { key: key.clone() })
            .expect("a member leaves");
    }

    // Held: the gauge is up and the held polls keep coming.
    let m = scrape_until(&proc, &addr, "org-guarded held", |m| {
        value(m, TRIPPED, &[("org", GUARDED)]) == 1.0 && held(m) >= 1.0
    })
    .await;
    let first_held = held(&m);
    scrape_until(&proc, &addr, "the held count increasing", |m| {
        held(m) >= first_held + 2.0
    })
    .await;
    let line = proc
        .wait_line("the log line of the hold", Duration::from_secs(5), |l| {
            l.contains("Departure guard holds the organization") && l.contains(GUARDED)
        })
        .await;
    for part in ["departures=20", "known=40", "too_many_departures"] {
        assert!(
            line.contains(part),
            "the hold's log line says {part}: {line}"
        );
    }
    assert!(
        line.contains(&format!("guard release --org {GUARDED} --expect 20")),
        "the hold's log line gives the release to send: {line}"
    );

    // The other organization keeps publishing while org-guarded is held.
    sim.apply(FLOWING, Change::Join(joiner("u-f4")))
        .expect("f4 joins");
    let m = scrape_until(
        &proc,
        &addr,
        "org-flowing publishing during the hold",
        |m| published(m, FLOWING, "JOINED") >= 1.0,
    )
    .await;
    assert_eq!(
        value(&m, TRIPPED, &[("org", FLOWING)]),
        0.0,
        "org-flowing is not held\n{}",
        m.text
    );
    assert_eq!(published(&m, GUARDED, "LEFT"), 0.0, "{}", m.text);
    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let guarded = of_org(&events, GUARDED);
    assert_eq!(count(&guarded, EventType::Snapshot), 40);
    assert_eq!(
        guarded.len(),
        40,
        "nothing but the SNAPSHOT for a held organization"
    );
    let flowing = of_org(&events, FLOWING);
    assert_eq!(count(&flowing, EventType::Snapshot), 3);
    assert_eq!(count(&flowing, EventType::Joined), 1, "u-f4 published");

    // The admin API: only on its own listener, a token, a held organization.
    let path20 = release_path(GUARDED, 20);
    let (status, body) = http_post(&addr, &path20, Some(&token)).await;
    assert_eq!(status, 404, "no admin API on the metrics listener: {body}");
    let (status, body) = http_post(&admin, &path20, None).await;
    assert_eq!(status, 401, "no token: {body}");
    let (status, body) = http_post(&admin, &path20, Some("not-the-admin-token-at-all")).await;
    assert_eq!(status, 401, "a wrong token: {body}");
    let (status, body) = http_post(&admin, &release_path("org-unknown", 20), Some(&token)).await;
    assert_eq!(status, 404, "an organization not held here: {body}");
    assert!(body.contains("org-unknown"), "the answer names it: {body}");
    let (status, body) = http_post(&admin, &release_path(FLOWING, 0), Some(&token)).await;
    assert_eq!(status, 404, "an organization polled but not held: {body}");
    let m = scrape(&addr).await;
    assert_eq!(value(&m, TRIPPED, &[("org", GUARDED)]), 1.0);

    // `guard status` shows who would leave.
    let mut status_cmd = testkit::process::Cmd::new(&["guard", "status", "--admin-listen", &admin]);
    status_cmd.env("STREAK_CONNECTOR_ADMIN_TOKEN", &token);
    let shown = status_cmd.run(Duration::from_secs(30)).await;
    shown.assert_success();
    let out = shown.stdout.clone();
    assert!(out.contains(GUARDED) && out.contains("20 of 40"), "{out}");
    for key in &leavers {
        assert!(
            out.contains(&format!("{key}@example.com")) || out.contains(key.as_str()),
            "{key} in {out}"
        );
    }

    // A release with the wrong count is refused, and the poll stays held.
    let (status, body) = http_post(&admin, &release_path(GUARDED, 19), Some(&token)).await;
    assert_eq!(
        status, 409,
        "a release for another count is refused: {body}"
    );
    let before = held(&scrape(&addr).await);
    scrape_until(
        &proc,
        &addr,
        "two held polls after the refused release of 19",
        |m| held(m) >= before + 2.0,
    )
    .await;
    sim.apply(FLOWING, Change::Join(joiner("u-f5")))
        .expect("f5 joins");
    let m = scrape_until(&proc, &addr, "org-flowing still publishing", |m| {
        published(m, FLOWING, "JOINED") >= 2.0
    })
    .await;
    assert_eq!(
        value(&m, TRIPPED, &[("org", GUARDED)]),
        1.0,
        "still held after a release with the wrong count\n{}",
        m.text
    );
    assert_eq!(published(&m, GUARDED, "LEFT"), 0.0, "{}", m.text);

    // The matching release, through the command line: the next poll publishes the
    // 20 departures.
    let mut release_cmd = testkit::process::Cmd::new(&[
        "guard",
        "release",
        "--org",
        GUARDED,
        "--expect",
        "20",
        "--admin-listen",
        &admin,
    ]);
    release_cmd.env("STREAK_CONNECTOR_ADMIN_TOKEN", &token);
    release_cmd
        .run(Duration::from_secs(30))
        .await
        .assert_success();
    proc.wait_line(
        "the audit line of the release",
        Duration::from_secs(5),
        |l| l.contains("Guard hold released by an operator") && l.contains(GUARDED),
    )
    .await;
    let m = scrape_until(&proc, &addr, "the release applied", |m| {
        value(m, TRIPPED, &[("org", GUARDED)]) == 0.0 && published(m, GUARDED, "LEFT") >= 20.0
    })
    .await;
    assert_eq!(published(&m, GUARDED, "LEFT"), 20.0, "{}", m.text);
    assert_eq!(
        value(
            &m,
            "streak_connector_guard_decisions_total",
            &[
                ("org", GUARDED),
                ("kind", "departures"),
                ("decision", "release")
            ]
        ),
        1.0,
        "{}",
        m.text
    );
    proc.wait_line(
        "the log line of the release used",
        Duration::from_secs(5),
        |l| l.contains("Departure guard release used") && l.contains(GUARDED),
    )
    .await;
    // The release is used up: later polls publish nothing more and hold nothing.
    let after = successes(&m, GUARDED);
    let held_after = held(&m);
    let m = scrape_until(&proc, &addr, "two more polls of org-guarded", |m| {
        successes(m, GUARDED) >= after + 2.0
    })
    .await;
    assert_eq!(published(&m, GUARDED, "LEFT"), 20.0, "{}", m.text);
    assert_eq!(held(&m), held_after, "not held again\n{}", m.text);
    assert_eq!(value(&m, TRIPPED, &[("org", GUARDED)]), 0.0);

    // Another mass departure, rejected through the command line: the members are
    // kept, the organization no longer alerts, nothing is written.
    for key in &guarded_members[10..20] {
        sim.apply(GUARDED, Change::Leave { key: key.clone() })
            .expect("a member leaves");
    }
    scrape_until(&proc, &addr, "org-guarded held again", |m| {
        value(m, TRIPPED, &[("org", GUARDED)]) == 1.0
    })
    .await;
    let mut reject_cmd = testkit::process::Cmd::new(&[
        "guard",
        "reject",
        "--org",
        GUARDED,
        "--admin-listen",
        &admin,
    ]);
    reject_cmd.env("STREAK_CONNECTOR_ADMIN_TOKEN", &token);
    reject_cmd
        .run(Duration::from_secs(30))
        .await
        .assert_success();
    let held_now = held(&scrape(&addr).await);
    let m = scrape_until(&proc, &addr, "the rejected hold standing", |m| {
        value(m, TRIPPED, &[("org", GUARDED)]) == 0.0 && held(m) >= held_now + 2.0
    })
    .await;
    assert_eq!(published(&m, GUARDED, "LEFT"), 20.0, "{}", m.text);
    assert_eq!(
        value(
            &m,
            "streak_connector_guard_decisions_total",
            &[
                ("org", GUARDED),
                ("kind", "departures"),
                ("decision", "reject")
            ]
        ),
        1.0,
        "{}",
        m.text
    );

    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "SIGTERM: exit 0, got {status}");

    // What a read_committed consumer sees.
    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let guarded = of_org(&events, GUARDED);
    let left: Vec<&&DecodedEvent> = guarded
        .iter()
        .filter(|e| e.event.event_type == EventType::Left)
        .collect();
    assert_eq!(left.len(), 20, "exactly 20 LEFT events");
    assert_eq!(
        left.iter()
            .map(|e| e.event.user_key.clone())
            .collect::<BTreeSet<_>>(),
        leavers,
        "one LEFT per member who left"
    );
    for e in &left {
        assert_eq!(
            e.event.poll_seq, 2,
            "held polls do not advance the sequence"
        );
        assert!(e.event.after.is_none(), "LEFT has no after");
        let before = e.event.before.as_ref().expect("LEFT has a before");
        assert_eq!(before.member.key, e.event.user_key);
    }
    assert_eq!(
        guarded.len(),
        60,
        "40 SNAPSHOT + 20 LEFT, nothing else for org-guarded"
    );
    let flowing = of_org(&events, FLOWING);
    assert_eq!(count(&flowing, EventType::Joined), 2);
    assert_eq!(count(&flowing, EventType::Left), 0);

    let state = read_state(broker.bootstrap(), &setup.state_topic).await;
    let remaining = members_in_state(&state).remove(GUARDED).unwrap_or_default();
    assert_eq!(
        remaining,
        guarded_members[..20].to_vec(),
        "the leavers' state is tombstoned; the rejected departures are kept"
    );
}

/// Without `STREAK_CONNECTOR_ADMIN_TOKEN` the admin endpoint does not exist (404,
/// saying how to turn it on); a token shorter than 16 characters stops start-up
/// naming the variable, without printing the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_is_off_without_a_token() {
    let Some(broker) = broker_for("the_admin_endpoint_is_off_without_a_token").await else {
        return;
    };
    let key = api_key("notoken");
    let sim = start_simulator(&org_toml("org-notoken", &key, &[("u-n1", true)], "")).await;
    let setup = Setup::new("notoken", &sim.base_url(), &broker, &[&key], "");
    prepare_mock_topics(&broker, &[&setup.events_topic, &setup.state_topic]);

    let short = "short-tok3n";
    let mut cmd = setup.command(&["once"]);
    cmd.env("STREAK_CONNECTOR_ADMIN_TOKEN", short);
    let run = cmd.run(Duration::from_secs(60)).await;
    assert!(
        !run.status.success(),
        "a short admin token stops start-up\n{}",
        run.report()
    );
    let out = run.all_output();
    assert!(
        out.contains("STREAK_CONNECTOR_ADMIN_TOKEN") && out.contains("16"),
        "the error names the variable and the rule\n{}",
        run.report()
    );
    assert!(
        !out.contains(short),
        "the token is not printed\n{}",
        run.report()
    );

    // No token: nothing listens on the admin address.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let admin = free.local_addr().expect("its address").to_string();
    drop(free);
    let mut cmd = setup.command(&["run"]);
    cmd.args(["--poll-interval", "1s", "--admin-listen", &admin]);
    let mut proc = cmd.spawn();
    let addr = proc.metrics_addr(Duration::from_secs(60)).await;
    scrape_until(&proc, &addr, "org-notoken polled", |m| {
        successes(m, "org-notoken") >= 1.0
    })
    .await;
    assert!(
        std::net::TcpStream::connect(&admin).is_err(),
        "no admin listener without a token\n{}",
        proc.report()
    );
    let (status, body) = http_post(&addr, &release_path("org-notoken", 1), None).await;
    assert_eq!(
        status, 404,
        "no admin endpoint on the metrics listener: {body}"
    );
    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "SIGTERM: exit 0, got {status}");
}
