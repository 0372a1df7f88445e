//! End to end through the built binary: key pools, the key owner watch and key
//! rotation without a restart (issue 12).
//!
//! - A two-key organization: the owner of the polling key leaves the listing (the
//!   key still works) and `/metrics` flags the key within a poll; then the key is
//!   revoked in the middle of `run`, the colleague's key takes over within the same
//!   poll, and the organization keeps publishing: no failed poll, nothing twice.
//! - `--api-key-file`: a key written into the file while the old one is revoked is
//!   picked up by the same process, and a key of a new organization starts polling
//!   it.
//! - `check` prints each key's owner, admin flag, last activity and state, and warns
//!   about an organization with a single healthy key.

use std::collections::HashSet;
use std::time::Duration;

use streak_connector::membership::EventType;
use streak_connector::simulator::{Change, RunningSimulator};
use testkit::broker::Broker;
use testkit::e2e::{
    api_key, broker_for, fingerprint, joiner, member_toml, org_toml, start_simulator, Running,
    Setup,
};
use testkit::metrics::Scrape;
use testkit::topic::read_events;

const POOLED: &str = "org-pooled";
const POLLS: &str = "streak_connector_polls_total";
const EVENTS: &str = "streak_connector_events_total";
const AT_RISK: &str = "streak_connector_api_key_owner_at_risk";
const KEYS: &str = "streak_connector_api_keys";
const FAILOVERS: &str = "streak_connector_api_key_failovers_total";
/// Bound of every wait for the running connector (a debug build on a busy machine).
const WAIT: Duration = Duration::from_secs(90);

/// An organization with two keys: `first` owned by `u-p1`, `second` by `u-p2`.
fn pooled_toml(first: &str, second: &str) -> String {
    let mut s = format!(
        "[[organizations]]\nkey = \"{POOLED}\"\nname = \"Pooled Inc\"\n\
         api_keys = [\"{first}\", {{ key = \"{second}\", owner = \"u-p2\" }}]\n"
    );
    for (m, admin) in [("u-p1", true), ("u-p2", true), ("u-p3", false)] {
        s.push_str(&member_toml(m, admin));
    }
    s
}

fn value(m: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.or_zero(name, labels)
}

fn successes(m: &Scrape, org: &str) -> f64 {
    m.polls(org, "success")
}

/// `run` over org-pooled with its two keys: `k1` polls first, `k2` is the standby.
struct Pool {
    broker: Broker,
    sim: RunningSimulator,
    setup: Setup,
    run: Running,
    k1: String,
    k2: String,
    fp1: String,
    fp2: String,
}

impl Pool {
    async fn start(broker: Broker) -> Pool {
        let (k1, k2) = (api_key("pool-first"), api_key("pool-second"));
        let (fp1, fp2) = (fingerprint(&k1), fingerprint(&k2));
        let sim = start_simulator(&pooled_toml(&k1, &k2)).await;
        let setup = Setup::with_topics("pool", &sim.base_url(), &broker, &[&k1, &k2], "");
        let run = setup.spawn_run(&[]).await;
        Pool {
            broker,
            sim,
            setup,
            run,
            k1,
            k2,
            fp1,
            fp2,
        }
    }

    async fn until(&self, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
        self.run.scrape_until(what, WAIT, done).await
    }

    /// The first poll: one key active, one standby, and a zero for every owner
    /// risk of both keys.
    async fn first_poll_exports_both_keys(&self) -> Scrape {
        let m = self
            .until("the first poll of the pool", |m| {
                successes(m, POOLED) >= 1.0
            })
            .await;
        assert_eq!(
            value(&m, KEYS, &[("org", POOLED), ("state", "active")]),
            1.0
        );
        assert_eq!(
            value(&m, KEYS, &[("org", POOLED), ("state", "standby")]),
            1.0
        );
        for fp in [&self.fp1, &self.fp2] {
            for reason in ["left", "inactive", "not_admin"] {
                assert_eq!(
                    m.value(AT_RISK, &[("org", POOLED), ("key", fp), ("reason", reason)]),
                    Some(0.0),
                    "{fp} {reason}\n{}",
                    m.text
                );
            }
        }
        m
    }

    /// The polling key's owner leaves the listing (the key itself still works):
    /// that key is flagged within a poll, the other is not.
    async fn a_leaving_owner_is_flagged_within_a_poll(&self, m: &Scrape) {
        let before = successes(m, POOLED);
        self.sim.owner_leaves(&self.k1).expect("u-p1 leaves");
        let fp1 = &self.fp1;
        let m = self
            .until("the leaving owner flagged", |m| {
                value(
                    m,
                    AT_RISK,
                    &[("org", POOLED), ("key", fp1), ("reason", "left")],
                ) == 1.0
            })
            .await;
        assert!(
            successes(&m, POOLED) <= before + 2.0,
            "flagged within a poll (one may have been in flight): {} polls after {before}",
            successes(&m, POOLED)
        );
        assert_eq!(
            value(
                &m,
                AT_RISK,
                &[("org", POOLED), ("key", &self.fp2), ("reason", "left")]
            ),
            0.0
        );
    }

    /// Streak revokes it: the colleague's key takes over within the poll, the
    /// organization keeps publishing and misses no poll; the failover is counted
    /// and logged. Returns the page that saw it.
    async fn a_revoked_key_fails_over_within_the_poll(&mut self) -> Scrape {
        self.sim.revoke_key(&self.k1).expect("k1 revoked");
        self.sim
            .apply(POOLED, Change::Join(joiner("u-p4")))
            .expect("u-p4 joins");
        let m = self
            .until("u-p4's JOINED through the second key", |m| {
                value(m, EVENTS, &[("org", POOLED), ("event_type", "JOINED")]) >= 1.0
            })
            .await;
        assert_eq!(value(&m, FAILOVERS, &[("org", POOLED)]), 1.0, "{}", m.text);
        assert_eq!(
            value(&m, POLLS, &[("org", POOLED), ("result", "failure")]),
            0.0,
            "no poll failed: the failover happened within the poll\n{}",
            self.run.proc.report()
        );
        assert_eq!(
            value(&m, KEYS, &[("org", POOLED), ("state", "rejected")]),
            1.0
        );
        assert_eq!(
            value(&m, KEYS, &[("org", POOLED), ("state", "active")]),
            1.0
        );
        assert!(
            m.find(AT_RISK, &[("key", &self.fp1)]).is_empty(),
            "a rejected key exports no owner series\n{}",
            m.text
        );
        let (fp1, fp2) = (&self.fp1, &self.fp2);
        self.run
            .proc
            .wait_line("the failover's log line", Duration::from_secs(5), |l| {
                l.contains("API key failover") && l.contains(fp1) && l.contains(fp2)
            })
            .await;
        m
    }

    /// Later polls go on with the second key; after the stop, no key in the output
    /// and the events each there once.
    async fn later_polls_go_on_and_nothing_doubles(mut self, m: &Scrape) {
        let after = successes(m, POOLED);
        self.until("two more polls", |m| successes(m, POOLED) >= after + 2.0)
            .await;
        let status = self.run.terminate(Duration::from_secs(30)).await;
        let run = self.run.proc.finished(status).await;
        run.assert_success();
        assert!(!run.all_output().contains(&self.k1) && !run.all_output().contains(&self.k2));
        let events = read_events(self.broker.bootstrap(), &self.setup.events_topic).await;
        let types: Vec<(EventType, &str)> = events
            .iter()
            .map(|e| (e.event.event_type, e.event.user_key.as_str()))
            .collect();
        let ids: HashSet<_> = events.iter().map(|e| e.event.event_id).collect();
        assert_eq!(
            ids.len(),
            events.len(),
            "nothing published twice: {types:?}"
        );
        let count = |t: EventType, who: &str| types.iter().filter(|x| **x == (t, who)).count();
        assert_eq!(count(EventType::Snapshot, "u-p1"), 1, "{types:?}");
        assert_eq!(count(EventType::Left, "u-p1"), 1, "{types:?}");
        assert_eq!(count(EventType::Joined, "u-p4"), 1, "{types:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_warns_before_its_polling_key_breaks_and_fails_over_within_the_poll() {
    let Some(broker) = broker_for("a_pool_warns_before_its_polling_key_breaks").await else {
        return;
    };
    let mut pool = Pool::start(broker).await;
    let m = pool.first_poll_exports_both_keys().await;
    pool.a_leaving_owner_is_flagged_within_a_poll(&m).await;
    let m = pool.a_revoked_key_fails_over_within_the_poll().await;
    pool.later_polls_go_on_and_nothing_doubles(&m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_written_into_the_key_file_are_picked_up_without_a_restart() {
    let Some(broker) = broker_for("keys_written_into_the_key_file_are_picked_up").await else {
        return;
    };
    let (old, new, other) = (
        api_key("file-old"),
        api_key("file-new"),
        api_key("file-other"),
    );
    let sim = start_simulator(&format!(
        "{}{}",
        pooled_toml(&old, &new),
        org_toml("org-later", &other, &[("u-l1", true), ("u-l2", false)], "")
    ))
    .await;
    let setup = Setup::with_topics("keyfile", &sim.base_url(), &broker, &[], "");
    let key_file = setup.dir.path().join("api-keys");
    std::fs::write(&key_file, format!("# the old key only\n{old}\n")).expect("key file");
    let mut run = setup
        .spawn_run(&["--api-key-file", &key_file.display().to_string()])
        .await;
    let pid = run.proc.pid();
    run.scrape_until("the first poll with the old key", WAIT, |m| {
        successes(m, POOLED) >= 1.0
    })
    .await;

    // Rotation: the new key replaces the old one in the file (written aside and
    // renamed, as a secret manager does) while Streak revokes the old one.
    let aside = setup.dir.path().join(".api-keys.tmp");
    std::fs::write(&aside, format!("{new}\n{other}\n")).expect("new key file");
    std::fs::rename(&aside, &key_file).expect("renamed into place");
    sim.revoke_key(&old).expect("old key revoked");
    sim.apply(POOLED, Change::Join(joiner("u-p5")))
        .expect("u-p5 joins");
    let m = run
        .scrape_until(
            "u-p5's JOINED with the new key, and the new organization polled",
            WAIT,
            |m| {
                value(m, EVENTS, &[("org", POOLED), ("event_type", "JOINED")]) >= 1.0
                    && successes(m, "org-later") >= 1.0
            },
        )
        .await;
    assert_eq!(run.proc.pid(), pid, "the same process");
    assert_eq!(
        value(&m, KEYS, &[("org", POOLED), ("state", "active")]),
        1.0
    );
    assert_eq!(
        value(&m, KEYS, &[("org", POOLED), ("state", "rejected")]),
        0.0,
        "the old key left the pool with the file\n{}",
        m.text
    );
    run.proc
        .wait_line("the re-read's log line", Duration::from_secs(5), |l| {
            l.contains("API key file changed")
        })
        .await;
    let status = run.terminate(Duration::from_secs(30)).await;
    run.proc.finished(status).await.assert_success();

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let ids: HashSet<_> = events.iter().map(|e| e.event.event_id).collect();
    assert_eq!(ids.len(), events.len(), "nothing published twice");
    let of = |org: &str, t: EventType| {
        events
            .iter()
            .filter(|e| e.event.org_key == org && e.event.event_type == t)
            .count()
    };
    assert_eq!(
        of(POOLED, EventType::Snapshot),
        3,
        "one SNAPSHOT, not redone"
    );
    assert_eq!(of(POOLED, EventType::Joined), 1);
    assert_eq!(of("org-later", EventType::Snapshot), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_each_keys_owner_and_warns_about_a_single_healthy_key() {
    let Some(broker) = broker_for("check_prints_each_keys_owner").await else {
        return;
    };
    let (k1, k2, lone) = (
        api_key("check-first"),
        api_key("check-second"),
        api_key("check-lone"),
    );
    let sim = start_simulator(&format!(
        "{}{}",
        pooled_toml(&k1, &k2),
        org_toml("org-lone", &lone, &[("u-lone", true)], "")
    ))
    .await;
    sim.demote_owner(&k2).expect("u-p2 demoted");
    let setup = Setup::new(
        "check-keys",
        &sim.base_url(),
        &broker,
        &[&k1, &k2, &lone],
        "",
    );
    let run = setup
        .command(&["check"])
        .run(Duration::from_secs(120))
        .await;
    let out = run.all_output();
    let line = |fp: &str| {
        out.lines()
            .find(|l| l.contains(&format!("streak key {fp}")))
            .unwrap_or_else(|| panic!("a line for key {fp}\n{}", run.report()))
            .to_owned()
    };
    let first = line(&fingerprint(&k1));
    assert!(
        first.contains(POOLED) && first.contains("active"),
        "{first}"
    );
    assert!(
        first.contains("u-p1@e2e.example.com") && first.contains("admin,"),
        "{first}"
    );
    assert!(first.contains("last seen 20"), "{first}");
    let second = line(&fingerprint(&k2));
    assert!(
        second.contains("standby") && second.contains("not an admin"),
        "{second}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("[warn]")
            && l.contains("org-lone")
            && l.contains("single healthy API key")),
        "{}",
        run.report()
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("[warn]") && l.contains(POOLED)),
        "{}",
        run.report()
    );
}
