//! Fencing, at the level of the binary (issue 5): a second instance with the same
//! connector name (hence the same transactional ids) fences the first, which exits
//! non-zero saying "fenced", while the second keeps publishing and no event is
//! doubled for a read-committed consumer. Three organizations are polled at once,
//! so each instance commits on several producers of its pool (issue 15, point 5):
//! the second must fence every one of them.
//!
//! Needs a real broker (the mock cluster does not fence): skipped otherwise.
//! How it works: docs/testing-eos.md, "How exactly-once is proven".

use std::collections::BTreeSet;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use streak_connector::membership::EventType;
use streak_connector::simulator::{Change, ProfilePatch};

use testkit::eos::kafka::{decode, read_whole, Isolation, Watcher};
use testkit::eos::process::{Connector, ConnectorSpec};
use testkit::eos::proof::prove;
use testkit::eos::walk::{Planned, Step};
use testkit::eos::Driver;

/// How long the first instance may take to notice it was fenced.
const FENCE_TIMEOUT: Duration = Duration::from_secs(60);
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

const SCENARIO: &str = r#"
name = "fencing"

[[organizations]]
key = "org-fence"
api_keys = ["fence-key"]
generate = { count = 10, seed = 303 }

[[organizations.members]]
key = "u-fence-owner"
email = "owner@fence.example.com"
isOrgAdmin = true
lastSeenTimestamp = "now-1h"
creationTimestamp = "now-100d"

[[organizations]]
key = "org-fence-2"
api_keys = ["fence-key-2"]
generate = { count = 8, seed = 304 }

[[organizations]]
key = "org-fence-3"
api_keys = ["fence-key-3"]
generate = { count = 8, seed = 305 }
"#;

/// One key per organization: three organizations polled at once, so each instance
/// commits on several producers of its pool (the default four).
const KEYS: [&str; 3] = ["fence-key", "fence-key-2", "fence-key-3"];

/// A profile change of the `n`-th generated member: one PROFILE_CHANGED.
fn rename(driver: &Driver, n: usize) -> Step {
    let members = driver
        .sim
        .members("org-fence")
        .expect("the organization exists");
    let m = &members[1 + n % (members.len() - 1)];
    Step {
        changes: vec![Planned {
            org: "org-fence".into(),
            change: Change::Profile {
                key: m.key.clone(),
                patch: ProfilePatch {
                    display_name: Some(format!("Renamed {n}")),
                    ..ProfilePatch::default()
                },
            },
            event: EventType::ProfileChanged,
        }],
    }
}

/// One connector name, two instances: the simulator, the oracle and the watcher of
/// the events topic, and the changes made so far.
struct Fencing {
    bootstrap: String,
    spec: ConnectorSpec,
    driver: Driver,
    /// Changes applied so far (each one PROFILE_CHANGED).
    n: usize,
    /// Keeps the connectors' config file.
    _dir: tempfile::TempDir,
}

impl Fencing {
    async fn start(bootstrap: String) -> Fencing {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (sim, orgs) = Driver::simulator(SCENARIO).await;
        let spec = ConnectorSpec::new(dir.path(), sim.base_url(), &KEYS, &bootstrap, "fence");
        let watcher = Watcher::start(&bootstrap, &spec.events_topic).expect("a consumer");
        let driver = Driver::new(sim, orgs, watcher);
        Fencing {
            bootstrap,
            spec,
            driver,
            n: 0,
            _dir: dir,
        }
    }

    /// The instance ids on the events topic so far.
    async fn instances(&mut self) -> BTreeSet<String> {
        self.driver
            .watcher
            .events()
            .await
            .expect("decodable events")
            .iter()
            .map(|o| o.source.instance.clone())
            .collect()
    }

    /// A starts and commits its snapshot; the instance ids it publishes under.
    async fn a_commits_its_snapshot(&mut self, a: &mut Connector) -> BTreeSet<String> {
        let snapshot = self.driver.first_polls();
        let mut a_alive = || match a.exited() {
            Some(s) => Err(format!(
                "A exited before B started ({s}):\n{}",
                a.stderr_tail()
            )),
            None => Ok(()),
        };
        self.driver
            .wait_observed(&snapshot, STEP_TIMEOUT, &mut a_alive)
            .await
            .unwrap_or_else(|e| panic!("A's snapshot: {e}"));
        self.instances().await
    }

    /// The next change, seen published while B runs; `when` for the message.
    async fn one_change_while_b_runs(&mut self, b: &mut Connector, when: &str) {
        self.n += 1;
        let n = self.n;
        let step = rename(&self.driver, n);
        let prediction = self.driver.apply(&step);
        let mut b_alive = || match b.exited() {
            Some(s) => Err(format!("B exited ({s}):\n{}", b.stderr_tail())),
            None => Ok(()),
        };
        self.driver
            .wait_observed(&prediction, STEP_TIMEOUT, &mut b_alive)
            .await
            .unwrap_or_else(|e| panic!("change {n} {when}: {e}"));
    }

    /// With B started under the same connector name, changes keep coming, so A
    /// tries to publish and learns it was fenced: it exits non-zero saying
    /// "fenced" within [`FENCE_TIMEOUT`]. Its status, how long after B started,
    /// and the line that said so.
    async fn b_fences_a(
        &mut self,
        a: &mut Connector,
        b: &mut Connector,
    ) -> (ExitStatus, Duration, String) {
        let b_started = Instant::now();
        let a_status = loop {
            if let Some(s) = a.exited() {
                break s;
            }
            assert!(
                b_started.elapsed() < FENCE_TIMEOUT,
                "A still runs {FENCE_TIMEOUT:?} after B started; A's last lines:\n{}",
                a.stderr_tail()
            );
            self.one_change_while_b_runs(b, "while A and B run").await;
        };
        let fenced_after = b_started.elapsed();
        let a_log = a.stderr_tail();
        assert!(
            !a_status.success(),
            "A exited with {a_status} after being fenced; expected non-zero. Last lines:\n{a_log}"
        );
        assert!(
            a_log.to_lowercase().contains("fenced"),
            "A's exit message does not say \"fenced\". Last lines:\n{a_log}"
        );
        let fenced_line = a_log
            .lines()
            .find(|l| l.to_lowercase().contains("fenced"))
            .unwrap_or_default()
            .to_owned();
        (a_status, fenced_after, fenced_line)
    }

    /// B keeps publishing, and nothing after A exited carries A's instance ids.
    async fn b_keeps_publishing(&mut self, b: &mut Connector, a_instances: &BTreeSet<String>) {
        let published_before = self.driver.watcher.events().await.expect("decodable").len();
        for _ in 0..3 {
            self.one_change_while_b_runs(b, "after A was fenced").await;
        }
        let late: Vec<String> = self.driver.watcher.events().await.expect("decodable")
            [published_before..]
            .iter()
            .map(|o| o.source.instance.clone())
            .collect();
        assert!(
            late.iter().all(|i| !a_instances.contains(i)),
            "events after A exited carry A's instance id {a_instances:?}: {late:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_instance_fences_the_first_and_nothing_doubles() {
    const TEST: &str = "a_second_instance_fences_the_first_and_nothing_doubles";
    let Some(bootstrap) = testkit::broker::real_bootstrap(TEST) else {
        return;
    };
    let mut f = Fencing::start(bootstrap).await;
    let mut a = Connector::spawn(&f.spec, "A");
    let a_instances = f.a_commits_its_snapshot(&mut a).await;
    let mut b = Connector::spawn(&f.spec, "B");
    let (a_status, fenced_after, fenced_line) = f.b_fences_a(&mut a, &mut b).await;
    f.b_keeps_publishing(&mut b, &a_instances).await;
    let b_stop = b.terminate(Duration::from_secs(20)).await;

    // Read committed, the events equal the oracle: nothing doubled, nothing lost.
    let committed = read_whole(&f.bootstrap, &f.spec.events_topic, Isolation::ReadCommitted).await;
    let observed = decode(&committed).await.unwrap_or_else(|e| panic!("{e}"));
    let proof =
        prove(&observed, &f.driver.oracle).unwrap_or_else(|e| panic!("after fencing:\n{e}"));
    let all = read_whole(
        &f.bootstrap,
        &f.spec.events_topic,
        Isolation::ReadUncommitted,
    )
    .await;
    eprintln!(
        "{TEST}: A exited with {a_status} {fenced_after:?} after B started ({} changes in all); \
         {} committed events from {} instances equal the oracle; {} records read uncommitted; \
         B stopped with {b_stop:?}; A said: {fenced_line}",
        f.n,
        proof.events,
        proof.instances,
        all.len()
    );
}
