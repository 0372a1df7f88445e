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
use std::time::Duration;

use streak_connector::avro::DecodedEvent;
use streak_connector::membership::EventType;
use streak_connector::simulator::{Change, RunningSimulator};
use testkit::broker::Broker;
use testkit::e2e::{api_key, broker_for, joiner, org_toml, start_simulator, Running, Setup};
use testkit::metrics::Scrape;
use testkit::process::{Cmd, Spawned};
use testkit::topic::{members_in_state, of_org, read_events, read_state};
use testkit::unique;

const GUARDED: &str = "org-guarded";
const FLOWING: &str = "org-flowing";
const TRIPPED: &str = "streak_connector_departure_guard_tripped";
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

fn held(m: &Scrape) -> f64 {
    m.polls(GUARDED, "held")
}

fn tripped(m: &Scrape, org: &str) -> f64 {
    m.or_zero(TRIPPED, &[("org", org)])
}

fn published(m: &Scrape, org: &str, event_type: &str) -> f64 {
    m.or_zero(EVENTS, &[("org", org), ("event_type", event_type)])
}

/// `streak_connector_guard_decisions_total` of org-guarded's departures.
fn decisions(m: &Scrape, decision: &str) -> f64 {
    m.or_zero(
        "streak_connector_guard_decisions_total",
        &[
            ("org", GUARDED),
            ("kind", "departures"),
            ("decision", decision),
        ],
    )
}

fn count(events: &[&DecodedEvent], t: EventType) -> usize {
    events.iter().filter(|e| e.event.event_type == t).count()
}

/// `run` over org-guarded (40 members) and org-flowing (3), with the admin API on a
/// listener of its own; one method per phase of the hold and its release.
struct Hold {
    broker: Broker,
    sim: RunningSimulator,
    setup: Setup,
    run: Running,
    /// The admin API's address.
    admin: String,
    token: String,
    /// org-guarded's members, `u-g00` (the key's owner) first.
    guarded_members: Vec<String>,
    /// The half of org-guarded that leaves at once.
    leavers: BTreeSet<String>,
}

impl Hold {
    /// Both organizations polling every second, the admin API on its own listener
    /// (not the metrics one).
    async fn start(broker: Broker) -> Hold {
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
        let mut setup = Setup::with_topics("guard", &sim.base_url(), &broker, &[&kg, &kf], "");
        setup
            .env
            .push(("STREAK_CONNECTOR_ADMIN_TOKEN".into(), token.clone()));
        let mut run = setup.spawn_run(&["--admin-listen", "127.0.0.1:0"]).await;
        let admin = admin_addr(&mut run.proc).await;
        assert_ne!(admin, run.addr, "the admin API has a listener of its own");
        let leavers = guarded_members[20..].iter().cloned().collect();
        Hold {
            broker,
            sim,
            setup,
            run,
            admin,
            token,
            guarded_members,
            leavers,
        }
    }

    async fn until(&self, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
        self.run.scrape_until(what, WAIT, done).await
    }

    /// `streak-connector guard ARGS --admin-listen ADMIN` with the admin token.
    fn guard_command(&self, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::new(&["guard"]);
        for arg in args {
            cmd.arg(arg);
        }
        cmd.args(["--admin-listen", &self.admin])
            .env("STREAK_CONNECTOR_ADMIN_TOKEN", &self.token);
        cmd
    }

    /// After the SNAPSHOT of both, half of org-guarded leaves at once: the gauge is
    /// up, held polls keep coming, and the hold's log line gives the counts, the
    /// reason and the release to send.
    async fn half_leaves_and_is_held(&mut self) {
        self.until("both organizations polled once", |m| {
            m.polls(GUARDED, "success") >= 1.0 && m.polls(FLOWING, "success") >= 1.0
        })
        .await;
        for key in &self.leavers {
            self.sim
                .apply(GUARDED, Change::Leave { key: key.clone() })
                .expect("a member leaves");
        }
        let m = self
            .until("org-guarded held", |m| {
                tripped(m, GUARDED) == 1.0 && held(m) >= 1.0
            })
            .await;
        let first_held = held(&m);
        self.until("the held count increasing", |m| held(m) >= first_held + 2.0)
            .await;
        let line = self
            .run
            .proc
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
    }

    /// org-flowing keeps publishing during the hold; org-guarded has nothing on the
    /// topic but its SNAPSHOT.
    async fn the_other_keeps_publishing(&self) {
        self.sim
            .apply(FLOWING, Change::Join(joiner("u-f4")))
            .expect("f4 joins");
        let m = self
            .until("org-flowing publishing during the hold", |m| {
                published(m, FLOWING, "JOINED") >= 1.0
            })
            .await;
        assert_eq!(
            tripped(&m, FLOWING),
            0.0,
            "org-flowing is not held\n{}",
            m.text
        );
        assert_eq!(published(&m, GUARDED, "LEFT"), 0.0, "{}", m.text);
        let events = read_events(self.broker.bootstrap(), &self.setup.events_topic).await;
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
    }

    /// The admin API answers only on its own listener, with the token, for a held
    /// organization; the hold stands.
    async fn the_admin_api_refuses_the_wrong_requests(&self) {
        let (addr, admin, token) = (&self.run.addr, &self.admin, &self.token);
        let path20 = release_path(GUARDED, 20);
        let (status, body) = http_post(addr, &path20, Some(token)).await;
        assert_eq!(status, 404, "no admin API on the metrics listener: {body}");
        let (status, body) = http_post(admin, &path20, None).await;
        assert_eq!(status, 401, "no token: {body}");
        let (status, body) = http_post(admin, &path20, Some("not-the-admin-token-at-all")).await;
        assert_eq!(status, 401, "a wrong token: {body}");
        let (status, body) = http_post(admin, &release_path("org-unknown", 20), Some(token)).await;
        assert_eq!(status, 404, "an organization not held here: {body}");
        assert!(body.contains("org-unknown"), "the answer names it: {body}");
        let (status, body) = http_post(admin, &release_path(FLOWING, 0), Some(token)).await;
        assert_eq!(status, 404, "an organization polled but not held: {body}");
        let m = self.run.scrape().await;
        assert_eq!(tripped(&m, GUARDED), 1.0);
    }

    /// `guard status` shows who would leave.
    async fn guard_status_shows_the_leavers(&self) {
        let shown = self
            .guard_command(&["status"])
            .run(Duration::from_secs(30))
            .await;
        shown.assert_success();
        let out = shown.stdout.clone();
        assert!(out.contains(GUARDED) && out.contains("20 of 40"), "{out}");
        for key in &self.leavers {
            assert!(
                out.contains(&format!("{key}@example.com")) || out.contains(key.as_str()),
                "{key} in {out}"
            );
        }
    }

    /// A release with the wrong count is refused: the polls stay held while
    /// org-flowing goes on publishing.
    async fn a_release_of_the_wrong_count_is_refused(&self) {
        let (status, body) =
            http_post(&self.admin, &release_path(GUARDED, 19), Some(&self.token)).await;
        assert_eq!(
            status, 409,
            "a release for another count is refused: {body}"
        );
        let before = held(&self.run.scrape().await);
        self.until("two held polls after the refused release of 19", |m| {
            held(m) >= before + 2.0
        })
        .await;
        self.sim
            .apply(FLOWING, Change::Join(joiner("u-f5")))
            .expect("f5 joins");
        let m = self
            .until("org-flowing still publishing", |m| {
                published(m, FLOWING, "JOINED") >= 2.0
            })
            .await;
        assert_eq!(
            tripped(&m, GUARDED),
            1.0,
            "still held after a release with the wrong count\n{}",
            m.text
        );
        assert_eq!(published(&m, GUARDED, "LEFT"), 0.0, "{}", m.text);
    }

    /// The matching release, through the command line: an audit line, the next poll
    /// publishes the 20 departures, the decision is counted and logged; then the
    /// release is used up (later polls publish nothing more and hold nothing).
    async fn the_matching_release_lets_exactly_the_departures_through(&mut self) {
        self.guard_command(&["release", "--org", GUARDED, "--expect", "20"])
            .run(Duration::from_secs(30))
            .await
            .assert_success();
        self.run
            .proc
            .wait_line(
                "the audit line of the release",
                Duration::from_secs(5),
                |l| l.contains("Guard hold released by an operator") && l.contains(GUARDED),
            )
            .await;
        let m = self
            .until("the release applied", |m| {
                tripped(m, GUARDED) == 0.0 && published(m, GUARDED, "LEFT") >= 20.0
            })
            .await;
        assert_eq!(published(&m, GUARDED, "LEFT"), 20.0, "{}", m.text);
        assert_eq!(decisions(&m, "release"), 1.0, "{}", m.text);
        self.run
            .proc
            .wait_line(
                "the log line of the release used",
                Duration::from_secs(5),
                |l| l.contains("Departure guard release used") && l.contains(GUARDED),
            )
            .await;
        let after = m.polls(GUARDED, "success");
        let held_after = held(&m);
        let m = self
            .until("two more polls of org-guarded", |m| {
                m.polls(GUARDED, "success") >= after + 2.0
            })
            .await;
        assert_eq!(published(&m, GUARDED, "LEFT"), 20.0, "{}", m.text);
        assert_eq!(held(&m), held_after, "not held again\n{}", m.text);
        assert_eq!(tripped(&m, GUARDED), 0.0);
    }

    /// Another mass departure, rejected through the command line: the members are
    /// kept, the organization no longer alerts, nothing is written.
    async fn a_rejected_departure_keeps_the_members(&self) {
        for key in &self.guarded_members[10..20] {
            self.sim
                .apply(GUARDED, Change::Leave { key: key.clone() })
                .expect("a member leaves");
        }
        self.until("org-guarded held again", |m| tripped(m, GUARDED) == 1.0)
            .await;
        self.guard_command(&["reject", "--org", GUARDED])
            .run(Duration::from_secs(30))
            .await
            .assert_success();
        let held_now = held(&self.run.scrape().await);
        let m = self
            .until("the rejected hold standing", |m| {
                tripped(m, GUARDED) == 0.0 && held(m) >= held_now + 2.0
            })
            .await;
        assert_eq!(published(&m, GUARDED, "LEFT"), 20.0, "{}", m.text);
        assert_eq!(decisions(&m, "reject"), 1.0, "{}", m.text);
    }

    /// After an orderly stop, what a read_committed consumer sees: one LEFT per
    /// member who left, in the poll after the SNAPSHOT, nothing else for
    /// org-guarded; the leavers' state tombstoned, the rejected departures kept.
    async fn stop_and_read_what_was_committed(self) {
        self.run.stop().await;
        let events = read_events(self.broker.bootstrap(), &self.setup.events_topic).await;
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
            self.leavers,
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

        let state = read_state(self.broker.bootstrap(), &self.setup.state_topic).await;
        let remaining = members_in_state(&state).remove(GUARDED).unwrap_or_default();
        assert_eq!(
            remaining,
            self.guarded_members[..20].to_vec(),
            "the leavers' state is tombstoned; the rejected departures are kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_departure_is_held_until_an_operator_releases_exactly_that_count() {
    let Some(broker) = broker_for("a_mass_departure_is_held_until_an_operator_releases").await
    else {
        return;
    };
    let mut hold = Hold::start(broker).await;
    hold.half_leaves_and_is_held().await;
    hold.the_other_keeps_publishing().await;
    hold.the_admin_api_refuses_the_wrong_requests().await;
    hold.guard_status_shows_the_leavers().await;
    hold.a_release_of_the_wrong_count_is_refused().await;
    hold.the_matching_release_lets_exactly_the_departures_through()
        .await;
    hold.a_rejected_departure_keeps_the_members().await;
    hold.stop_and_read_what_was_committed().await;
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
    let setup = Setup::with_topics("notoken", &sim.base_url(), &broker, &[&key], "");

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
    let run = setup.spawn_run(&["--admin-listen", &admin]).await;
    run.scrape_until("org-notoken polled", WAIT, |m| {
        m.polls("org-notoken", "success") >= 1.0
    })
    .await;
    assert!(
        std::net::TcpStream::connect(&admin).is_err(),
        "no admin listener without a token\n{}",
        run.proc.report()
    );
    let (status, body) = http_post(&run.addr, &release_path("org-notoken", 1), None).await;
    assert_eq!(
        status, 404,
        "no admin endpoint on the metrics listener: {body}"
    );
    run.stop().await;
}
