//! Exactly-once under crashes, at the level of the binary (issue 5).
//!
//! `streak-connector run` polls the in-process Streak simulator every second and
//! publishes to a real Kafka broker, while the test changes the simulator in steps and
//! kills the connector with SIGKILL at random moments, more than 20 times, restarting
//! it each time. A step is applied only once a read-committed consumer has seen every
//! event of the previous one, so the events the connector must publish follow from
//! the steps alone, whatever the crash timing. At the end the events topic, read
//! committed, must equal what an uninterrupted run publishes (the oracle, computed
//! from DESIGN.md's table): none missing, none doubled, in order per member.
//!
//! Needs a real broker (the mock cluster neither hides aborted records nor fences):
//! `scripts/kafka.sh start && eval "$(scripts/kafka.sh env)"`. Skipped otherwise.
//! `EOS_SEED=N` replays a run, `EOS_VERBOSE=1` echoes the connectors' logs.
//! How it works: docs/testing-eos.md, "How exactly-once is proven".

mod eos_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use streak_connector::simulator::Endpoint;

use eos_support::kafka::{decode, read_to_end, Isolation, Watcher};
use eos_support::process::{Connector, ConnectorSpec};
use eos_support::proof::prove;
use eos_support::walk::Walk;
use eos_support::Driver;

/// Steps after the first polls (SNAPSHOT).
const STEPS: usize = 30;
/// SIGKILLs over the run, at least.
const MIN_KILLS: usize = 20;
/// How long one step may take to be published, restarts included.
const STEP_TIMEOUT: Duration = Duration::from_secs(90);

const SCENARIO: &str = r#"
name = "exactly-once"

[[organizations]]
key = "org-north"
name = "North"
api_keys = ["eos-north-key"]
generate = { count = 12, seed = 101 }

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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_exactly_once_across_sigkill_crashes() {
    const TEST: &str = "events_are_exactly_once_across_sigkill_crashes";
    let Some(bootstrap) = eos_support::real_broker(TEST) else {
        return;
    };
    let seed = eos_support::seed(TEST);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6b69_6c6c);
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temp dir");

    let (sim, orgs) = Driver::simulator(SCENARIO).await;
    let spec = ConnectorSpec::new(
        dir.path(),
        sim.base_url(),
        &["eos-north-key", "eos-south-key"],
        &bootstrap,
        "crash",
    );
    let watcher = Watcher::start(&bootstrap, &spec.events_topic).expect("a consumer");
    let mut driver = Driver::new(sim, orgs, watcher);
    let mut walk = Walk::new(
        seed,
        &[
            ("org-north", "u-north-owner"),
            ("org-south", "u-south-owner"),
        ],
    );

    let mut instance = 0usize;
    let mut conn = Connector::spawn(&spec, "instance-0");
    let mut kills: Vec<(usize, Kill)> = Vec::new();
    let mut step_times: Vec<Duration> = Vec::new();

    for step_no in 0..=STEPS {
        let prediction = if step_no == 0 {
            driver.first_polls()
        } else {
            let step = walk.next_step(&driver.sim, &driver.oracle, &driver.orgs());
            driver.apply(&step)
        };
        // Kill on three steps in four, forced when the run would end short of
        // MIN_KILLS; half of them timed on the fetch of the changed listing.
        let owed = MIN_KILLS.saturating_sub(kills.len());
        let left = STEPS + 1 - step_no;
        if owed >= left || rng.random_bool(0.75) {
            let kill = if rng.random_bool(0.5) {
                Kill::After(Duration::from_millis(rng.random_range(0..=1500)))
            } else {
                Kill::InCycle(Duration::from_millis(rng.random_range(0..=40)))
            };
            match kill {
                Kill::After(d) => tokio::time::sleep(d).await,
                Kill::InCycle(d) => {
                    let before = driver.sim.requests(Endpoint::OrganizationUsers);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while driver.sim.requests(Endpoint::OrganizationUsers) == before
                        && Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    tokio::time::sleep(d).await;
                }
            }
            conn.kill().await;
            kills.push((step_no, kill));
            instance += 1;
            conn = Connector::spawn(&spec, format!("instance-{instance}"));
            // Now and then, a second kill while the new instance starts up
            // (init_transactions, restore).
            if rng.random_bool(0.2) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..=1500))).await;
                conn.kill().await;
                kills.push((step_no, Kill::After(Duration::ZERO)));
                instance += 1;
                conn = Connector::spawn(&spec, format!("instance-{instance}"));
            }
        }
        let mut health = || match conn.exited() {
            Some(status) => Err(format!(
                "{} exited by itself ({status}); its last lines:\n{}",
                conn.label(),
                conn.stderr_tail()
            )),
            None => Ok(()),
        };
        match driver
            .wait_observed(&prediction, STEP_TIMEOUT, &mut health)
            .await
        {
            Ok(took) => step_times.push(took),
            Err(e) => {
                let tail = conn.stderr_tail();
                conn.kill().await;
                panic!(
                    "step {step_no} (seed {seed}): {e}\nlast lines of {}:\n{tail}",
                    conn.label()
                );
            }
        }
    }

    // A few more polls: nothing more may come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut health = || Ok(());
    driver
        .wait_observed(&Default::default(), Duration::ZERO, &mut health)
        .await
        .unwrap_or_else(|e| panic!("after the last step (seed {seed}): {e}"));
    let stop = conn.terminate(Duration::from_secs(20)).await;

    let committed = read_to_end(
        &bootstrap,
        &spec.events_topic,
        Isolation::ReadCommitted,
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let observed = decode(&committed).await.unwrap_or_else(|e| panic!("{e}"));
    let proof = prove(&observed, &driver.oracle)
        .unwrap_or_else(|e| panic!("exactly-once violated (seed {seed}):\n{e}"));

    // Informative: what read_uncommitted shows (records of aborted transactions).
    let all = read_to_end(
        &bootstrap,
        &spec.events_topic,
        Isolation::ReadUncommitted,
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let visible: HashSet<(i32, i64)> = committed.iter().map(|r| (r.partition, r.offset)).collect();
    let aborted: Vec<_> = all
        .into_iter()
        .filter(|r| !visible.contains(&(r.partition, r.offset)))
        .collect();
    let committed_ids: HashSet<uuid::Uuid> = observed.iter().map(|o| o.event.event_id).collect();
    let aborted_dups = decode(&aborted)
        .await
        .map(|a| {
            a.iter()
                .filter(|o| committed_ids.contains(&o.event.event_id))
                .count()
        })
        .unwrap_or(0);

    let in_cycle = kills
        .iter()
        .filter(|(_, k)| matches!(k, Kill::InCycle(_)))
        .count();
    let slowest = step_times.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{TEST}: seed {seed}: {} steps, {} SIGKILLs ({in_cycle} timed inside a poll cycle), {} connector processes; \
         {} committed events for {} members from {} instances, equal to the oracle {:?}; \
         read_uncommitted shows {} aborted records, {aborted_dups} of them duplicates of committed events; \
         SIGTERM at the end: {stop:?}; slowest step {slowest:?}; total {:?}",
        STEPS,
        kills.len(),
        instance + 1,
        proof.events,
        proof.members,
        proof.instances,
        driver.oracle.totals(),
        aborted.len(),
        started.elapsed()
    );
    assert!(kills.len() >= MIN_KILLS, "only {} kills", kills.len());
    assert_eq!(
        driver.oracle.totals().len(),
        7,
        "test design: every event type must occur: {:?}",
        driver.oracle.totals()
    );
}
