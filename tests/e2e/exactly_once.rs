//! Exactly-once under crashes, at the level of the binary (issue 5).
//!
//! `streak-connector run` polls the in-process Streak simulator every second and
//! publishes to a real Kafka broker, while the test changes the simulator in steps and
//! kills the connector with SIGKILL at random moments, more than 20 times, restarting
//! it each time. A step is applied only once a read-committed consumer has seen every
//! event of the previous one, so the events the connector must publish follow from
//! the steps alone, whatever the crash timing. At the end the events topic, read
//! committed, must equal what an uninterrupted run publishes (the oracle, computed
//! from DESIGN.md's table): none missing, none doubled, in order per member. The
//! connector runs with an OCSF topic (issue 14), whose records share the events'
//! transactions: read committed, it must hold exactly one record per committed event,
//! under the same key, and nothing of an aborted transaction.
//!
//! org-north is polled with a pool of two keys (its owner's and a deputy's): half-way
//! through, Streak revokes the polling key and the deputy's key takes over, so the
//! proof holds with a failover in play (issue 12).
//!
//! Needs a real broker (the mock cluster neither hides aborted records nor fences):
//! `scripts/kafka.sh start && eval "$(scripts/kafka.sh env)"`. Skipped otherwise.
//! `EOS_SEED=N` replays a run, `EOS_VERBOSE=1` echoes the connectors' logs.
//! How it works: docs/testing-eos.md, "How exactly-once is proven".

use std::collections::HashSet;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use streak_connector::simulator::Endpoint;

use testkit::eos::kafka::{
    aborted, decode, read_whole, Isolation, Raw, UncommittedCounter, Watcher,
};
use testkit::eos::oracle::PollPrediction;
use testkit::eos::process::{Connector, ConnectorSpec};
use testkit::eos::proof::prove;
use testkit::eos::walk::Walk;
use testkit::eos::Driver;
use testkit::ocsf::one_to_one;

/// Steps after the first polls (SNAPSHOT).
const STEPS: usize = 30;
/// SIGKILLs over the run, at least.
const MIN_KILLS: usize = 20;
/// How long one step may take to be published, restarts included.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

const SCENARIO: &str = r#"
name = "exactly-once"

[[organizations]]
key = "org-north"
name = "North"
api_keys = ["eos-north-key", { key = "eos-north-deputy", owner = "u-north-deputy" }]
generate = { count = 12, seed = 101 }

[[organizations.members]]
key = "u-north-deputy"
email = "deputy@north.example.com"
displayName = "Dee Deputy"
isOrgAdmin = true
lastSeenTimestamp = "now-2h"
creationTimestamp = "now-350d"

[[organizations.members]]
key = "u-north-owner"
email = "owner@north.example.com"
displayName = "Olive Owner"
firstName = "Olive"
lastName = "Owner"
isOrgAdmin = true
lastSeenTimestamp = "now-1h"
creationTimestamp = "now-400d"

[[organizations.members]]
key = "u-north-ada"
email = "ada@north.example.com"
displayName = "Ada North"
isOrgAdmin = false
lastSeenTimestamp = "now-2d"
creationTimestamp = "now-300d"

[[organizations.members]]
key = "u-north-quiet"
email = "quiet@north.example.com"
displayName = "Quentin Quiet"
isOrgAdmin = false
lastSeenTimestamp = "now-90d"
creationTimestamp = "now-300d"

[[organizations.members]]
key = "u-north-nolastseen"
email = "nols@north.example.com"
creationTimestamp = "now-200d"

[[organizations.members]]
key = "u-north-bare"

[[organizations]]
key = "org-south"
name = "South"
api_keys = ["eos-south-key"]
generate = { count = 8, seed = 202 }

[[organizations.members]]
key = "u-south-owner"
email = "owner@south.example.com"
displayName = "Sid Owner"
isOrgAdmin = true
lastSeenTimestamp = "now-3h"
creationTimestamp = "now-500d"

[[organizations.members]]
key = "u-south-bea"
email = "bea@south.example.com"
displayName = "Bea South"
firstName = "Bea"
lastName = "South"
isOrgAdmin = false
lastSeenTimestamp = "now-10d"
creationTimestamp = "now-100d"

[[organizations.members]]
key = "u-south-gone-quiet"
email = "gq@south.example.com"
isOrgAdmin = false
lastSeenTimestamp = "now-61d"
creationTimestamp = "now-100d"
"#;

/// When to kill, relative to a step.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// A random moment 0-1500 ms after the step is applied.
    After(Duration),
    /// Right after the connector fetched the changed listing: inside the poll
    /// cycle (diff, encode, transaction).
    InCycle(Duration),
    /// The moment the next transaction's first records reach the broker, before
    /// its commit.
    InTransaction,
    /// While a freshly restarted instance starts up (init_transactions, restore).
    AtStartUp(Duration),
}

/// Records of `topic` that only a read-uncommitted consumer sees.
async fn aborted_records(bootstrap: &str, topic: &str) -> usize {
    let committed = read_whole(bootstrap, topic, Isolation::ReadCommitted).await;
    let all = read_whole(bootstrap, topic, Isolation::ReadUncommitted).await;
    aborted(&committed, all).len()
}

/// The OCSF topic after the run: read committed, exactly one record per committed
/// event of `committed` (same key bytes and partition, `metadata.uid` = `event_id`,
/// same order per key), so nothing of an aborted transaction is visible. A summary.
async fn ocsf_after_recovery(
    bootstrap: &str,
    spec: &ConnectorSpec,
    committed: &[Raw],
    seed: u64,
) -> String {
    let topic = spec
        .ocsf_topic
        .as_deref()
        .expect("the crash test runs with an OCSF topic");
    let ocsf = read_whole(bootstrap, topic, Isolation::ReadCommitted).await;
    let matched = one_to_one(committed, &ocsf).await.unwrap_or_else(|e| {
        panic!(
            "the OCSF topic does not match the events topic after the crashes (seed {seed}):\n{e}"
        )
    });
    let aborted = aborted_records(bootstrap, topic).await;
    format!(
        "the OCSF topic holds {} committed records, one per committed event (by class_uid {:?}), and {aborted} aborted ones only read_uncommitted shows",
        matched.records, matched.by_class
    )
}

/// The crash run: the connector under SIGKILL and its restarts, the steps applied to
/// the simulator, and what was seen of both.
struct CrashRun {
    bootstrap: String,
    seed: u64,
    /// The kill schedule's randomness (the walk has its own, from the same seed).
    rng: StdRng,
    spec: ConnectorSpec,
    driver: Driver,
    walk: Walk,
    /// Uncommitted records on the state topic: a transaction's records landing.
    in_flight: UncommittedCounter,
    conn: Connector,
    /// The number of the running connector process (from 0).
    instance: usize,
    kills: Vec<(usize, Kill)>,
    step_times: Vec<Duration>,
    /// Aborted state records seen so far (checked after in-transaction kills).
    aborted_seen: usize,
    /// Keeps the connectors' config file.
    _dir: tempfile::TempDir,
}

impl CrashRun {
    /// The simulator, a connector with an OCSF topic and org-north's pool of two
    /// keys, the consumers that watch it, and its first process.
    async fn start(bootstrap: String, seed: u64) -> CrashRun {
        let rng = StdRng::seed_from_u64(seed ^ 0x6b69_6c6c);
        let dir = tempfile::tempdir().expect("a temp dir");
        let (sim, orgs) = Driver::simulator(SCENARIO).await;
        let spec = ConnectorSpec::new(
            dir.path(),
            sim.base_url(),
            &["eos-north-key", "eos-north-deputy", "eos-south-key"],
            &bootstrap,
            "crash",
        )
        .with_ocsf_topic("crash");
        let watcher = Watcher::start(&bootstrap, &spec.events_topic).expect("a consumer");
        let in_flight =
            UncommittedCounter::start(&bootstrap, &spec.state_topic).expect("a consumer");
        let driver = Driver::new(sim, orgs, watcher);
        let walk = Walk::new(
            seed,
            &[
                ("org-north", "u-north-owner"),
                ("org-north", "u-north-deputy"),
                ("org-south", "u-south-owner"),
            ],
        );
        let conn = Connector::spawn(&spec, "instance-0");
        CrashRun {
            bootstrap,
            seed,
            rng,
            spec,
            driver,
            walk,
            in_flight,
            conn,
            instance: 0,
            kills: Vec::new(),
            step_times: Vec::new(),
            aborted_seen: 0,
            _dir: dir,
        }
    }

    /// Step `step_no`: the first polls, or the walk's next step (half-way, after
    /// Streak revoked org-north's polling key, so the deputy's key takes over and
    /// every later instance starts with it alone); a kill or two now and then; then
    /// every event the step must cause, seen by a read-committed consumer.
    async fn step(&mut self, step_no: usize) {
        if step_no == STEPS / 2 {
            self.driver
                .sim
                .revoke_key("eos-north-key")
                .expect("the owner's key is revoked");
        }
        let prediction = if step_no == 0 {
            self.driver.first_polls()
        } else {
            let d = &self.driver;
            let step = self.walk.next_step(&d.sim, &d.oracle, &d.orgs());
            self.driver.apply(&step)
        };
        let txn_kill_now = self.maybe_kill(step_no).await;
        self.observe(step_no, &prediction, txn_kill_now).await;
    }

    /// Kills on three steps in four, forced when the run would end short of
    /// MIN_KILLS. A kill "as the records land" races the commit by a few ms, so
    /// until one is seen to have cut a transaction short (an aborted state record),
    /// every step gets one. Now and then a second kill while the new instance
    /// starts up (init_transactions, restore). Whether the kill was to land inside
    /// a transaction.
    async fn maybe_kill(&mut self, step_no: usize) -> bool {
        let owed = MIN_KILLS.saturating_sub(self.kills.len());
        let left = STEPS + 1 - step_no;
        let want_txn_kill = self.aborted_seen == 0;
        if !(want_txn_kill || owed >= left || self.rng.random_bool(0.75)) {
            return false;
        }
        let kill = match self.rng.random_range(0..10) {
            _ if want_txn_kill => Kill::InTransaction,
            0..4 => Kill::After(Duration::from_millis(self.rng.random_range(0..=1500))),
            4..7 => Kill::InCycle(Duration::from_millis(self.rng.random_range(0..=30))),
            _ => Kill::InTransaction,
        };
        self.wait_for_the_moment(kill).await;
        self.kill_and_restart(step_no, kill).await;
        if self.rng.random_bool(0.2) {
            let d = Duration::from_millis(self.rng.random_range(0..=1500));
            tokio::time::sleep(d).await;
            self.kill_and_restart(step_no, Kill::AtStartUp(d)).await;
        }
        matches!(kill, Kill::InTransaction)
    }

    /// Until the moment `kill` is to land (each wait for a sign bounded by 10 s).
    async fn wait_for_the_moment(&self, kill: Kill) {
        match kill {
            Kill::After(d) | Kill::AtStartUp(d) => tokio::time::sleep(d).await,
            Kill::InCycle(d) => {
                let sim = &self.driver.sim;
                let before = sim.requests(Endpoint::OrganizationUsers);
                let deadline = Instant::now() + Duration::from_secs(10);
                while sim.requests(Endpoint::OrganizationUsers) == before
                    && Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(d).await;
            }
            Kill::InTransaction => {
                let before = self.in_flight.count();
                let deadline = Instant::now() + Duration::from_secs(10);
                while self.in_flight.count() == before && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }

    /// SIGKILL, counted as `kill` at `step_no`, and the next instance started.
    async fn kill_and_restart(&mut self, step_no: usize, kill: Kill) {
        self.conn.kill().await;
        self.kills.push((step_no, kill));
        self.instance += 1;
        self.conn = Connector::spawn(&self.spec, format!("instance-{}", self.instance));
    }

    /// Waits until every event of `prediction` is seen (a connector that exits by
    /// itself fails the step); after a kill inside a transaction, looks for the
    /// aborted state record it should have left.
    async fn observe(&mut self, step_no: usize, prediction: &PollPrediction, txn_kill_now: bool) {
        let conn = &mut self.conn;
        let mut health = || match conn.exited() {
            Some(status) => Err(format!(
                "{} exited by itself ({status}); its last lines:\n{}",
                conn.label(),
                conn.stderr_tail()
            )),
            None => Ok(()),
        };
        match self
            .driver
            .wait_observed(prediction, STEP_TIMEOUT, &mut health)
            .await
        {
            Ok(took) => {
                self.step_times.push(took);
                if txn_kill_now && self.aborted_seen == 0 {
                    self.aborted_seen =
                        aborted_records(&self.bootstrap, &self.spec.state_topic).await;
                }
            }
            Err(e) => {
                let tail = self.conn.stderr_tail();
                self.conn.kill().await;
                panic!(
                    "step {step_no} (seed {}): {e}\nlast lines of {}:\n{tail}",
                    self.seed,
                    self.conn.label()
                );
            }
        }
    }

    /// A few more polls: nothing more may come; then the orderly stop.
    async fn nothing_more_then_stop(&mut self) -> Option<ExitStatus> {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut health = || Ok(());
        self.driver
            .wait_observed(&Default::default(), Duration::ZERO, &mut health)
            .await
            .unwrap_or_else(|e| panic!("after the last step (seed {}): {e}", self.seed));
        self.conn.terminate(Duration::from_secs(20)).await
    }

    /// The events topic read committed equals the oracle; what read_uncommitted
    /// shows of both topics and the OCSF topic is summed up with the kills; the
    /// schedule must have had its kills, one of them inside a transaction, and the
    /// run every event type.
    async fn the_committed_events_equal_the_oracle(
        self,
        stop: Option<ExitStatus>,
        started: Instant,
    ) {
        let (bootstrap, seed) = (&self.bootstrap, self.seed);
        let committed =
            read_whole(bootstrap, &self.spec.events_topic, Isolation::ReadCommitted).await;
        let observed = decode(&committed).await.unwrap_or_else(|e| panic!("{e}"));
        let proof = prove(&observed, &self.driver.oracle)
            .unwrap_or_else(|e| panic!("exactly-once violated (seed {seed}):\n{e}"));

        // Informative: what read_uncommitted shows (records of aborted transactions).
        let all = read_whole(
            bootstrap,
            &self.spec.events_topic,
            Isolation::ReadUncommitted,
        )
        .await;
        let aborted = aborted(&committed, all);
        let committed_ids: HashSet<uuid::Uuid> =
            observed.iter().map(|o| o.event.event_id).collect();
        let aborted_dups = decode(&aborted)
            .await
            .map(|a| {
                a.iter()
                    .filter(|o| committed_ids.contains(&o.event.event_id))
                    .count()
            })
            .unwrap_or(0);

        // The same for the state topic: every poll commits a checkpoint there, so an
        // aborted state record is a transaction that a kill cut short.
        let aborted_state = aborted_records(bootstrap, &self.spec.state_topic).await;
        let ocsf = ocsf_after_recovery(bootstrap, &self.spec, &committed, seed).await;

        let kills = &self.kills;
        let kinds = |f: fn(&Kill) -> bool| kills.iter().filter(|(_, k)| f(k)).count();
        let in_cycle = kinds(|k| matches!(k, Kill::InCycle(_)));
        let in_txn = kinds(|k| matches!(k, Kill::InTransaction));
        let at_start = kinds(|k| matches!(k, Kill::AtStartUp(_)));
        let slowest = self.step_times.iter().max().copied().unwrap_or_default();
        let totals = self.driver.oracle.totals();
        eprintln!(
            "{TEST}: seed {seed}: {} steps, {} SIGKILLs ({in_txn} as a transaction's records landed, {in_cycle} just after a fetch, {at_start} during start-up), {} connector processes; \
             {} committed events for {} members from {} instances, equal to the oracle {:?}; \
             read_uncommitted shows {} aborted event records ({aborted_dups} of them duplicates of committed events) \
             and {aborted_state} aborted state records; {ocsf}; \
             SIGTERM at the end: {stop:?}; slowest step {slowest:?}; total {:?}",
            STEPS,
            kills.len(),
            self.instance + 1,
            proof.events,
            proof.members,
            proof.instances,
            totals,
            aborted.len(),
            started.elapsed()
        );
        assert!(kills.len() >= MIN_KILLS, "only {} kills", kills.len());
        assert!(
            aborted_state > 0,
            "no kill landed inside a transaction after its records reached the broker \
             (no aborted state record); the crash schedule is too weak (seed {seed})"
        );
        assert_eq!(
            totals.len(),
            7,
            "test design: every event type must occur: {totals:?}",
        );
    }
}

const TEST: &str = "events_are_exactly_once_across_sigkill_crashes";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_exactly_once_across_sigkill_crashes() {
    let Some(bootstrap) = testkit::broker::real_bootstrap(TEST) else {
        return;
    };
    let seed = testkit::eos::seed(TEST);
    let started = Instant::now();
    let mut run = CrashRun::start(bootstrap, seed).await;
    for step_no in 0..=STEPS {
        run.step(step_no).await;
    }
    let stop = run.nothing_more_then_stop().await;
    run.the_committed_events_equal_the_oracle(stop, started)
        .await;
}

/// The proof must be able to fail: each way a broken connector could publish is
/// caught. These need no broker.
mod the_proof_can_fail {
    use streak_connector::simulator::SimMember;

    use testkit::eos::oracle::Oracle;
    use testkit::eos::proof::{prove, synthesize, Observed};

    const DAY: i64 = 86_400_000;

    fn member(key: &str, admin: bool, last_seen: i64) -> SimMember {
        SimMember {
            key: key.into(),
            email: Some(format!("{key}@example.com")),
            is_org_admin: Some(admin),
            last_seen_ms: Some(last_seen),
            ..SimMember::default()
        }
    }

    /// A snapshot, then an admin grant, a departure, a join and going quiet.
    fn oracle() -> Oracle {
        let now = 1_800_000_000_000;
        let mut o = Oracle::new(30 * DAY);
        let (a, b) = (member("a", false, now - DAY), member("b", false, now - DAY));
        o.first_poll("org", &[a.clone(), b.clone()], now);
        let a2 = member("a", true, now - DAY);
        o.poll("org", &[a2.clone(), b.clone()], now);
        o.poll("org", std::slice::from_ref(&a2), now);
        let c = member("c", false, now - DAY);
        o.poll("org", &[a2.clone(), c.clone()], now);
        o.poll("org", &[member("a", true, now - 60 * DAY), c], now);
        o
    }

    fn verdict(events: &[Observed]) -> Result<(), String> {
        prove(events, &oracle()).map(|_| ())
    }

    #[test]
    fn it_accepts_an_uninterrupted_run() {
        let events = synthesize(&oracle());
        assert_eq!(events.len(), 6);
        verdict(&events).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn it_rejects_a_doubled_event() {
        let mut events = synthesize(&oracle());
        let mut again = events[1].clone();
        again.offset = 1_000;
        events.push(again);
        let err = verdict(&events).expect_err("a doubled event must fail");
        assert!(err.contains("DOUBLED"), "{err}");
    }

    #[test]
    fn it_rejects_a_poll_redone_under_a_new_id() {
        let mut events = synthesize(&oracle());
        let mut again = events[1].clone();
        again.offset = 1_000;
        again.event.event_id = uuid::Uuid::new_v4();
        again.event.poll_seq = 99;
        events.push(again);
        let err = verdict(&events).expect_err("a republished event must fail");
        assert!(err.contains("expected"), "{err}");
    }

    #[test]
    fn it_rejects_a_missing_event() {
        let mut events = synthesize(&oracle());
        events.remove(2);
        verdict(&events).expect_err("a lost event must fail");
    }

    #[test]
    fn it_rejects_events_out_of_order() {
        let mut events = synthesize(&oracle());
        let a: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].event.user_key == "a")
            .collect();
        let (x, y) = (a[0], a[1]);
        let (ox, oy) = (events[x].offset, events[y].offset);
        events[x].offset = oy;
        events[y].offset = ox;
        verdict(&events).expect_err("a reordered member history must fail");
    }

    #[test]
    fn it_rejects_a_before_that_is_not_the_last_after() {
        let mut events = synthesize(&oracle());
        let i = events
            .iter()
            .position(|o| o.event.before.is_some())
            .expect("an event with a before");
        if let Some(b) = events[i].event.before.as_mut() {
            b.last_changed_ms += 1;
        }
        let err = verdict(&events).expect_err("a broken chain must fail");
        assert!(err.contains("broken chain"), "{err}");
    }

    #[test]
    fn it_rejects_an_event_with_the_wrong_after() {
        let mut events = synthesize(&oracle());
        if let Some(a) = events[0].event.after.as_mut() {
            a.inactive = !a.inactive;
        }
        verdict(&events).expect_err("a wrong after must fail");
    }
}
