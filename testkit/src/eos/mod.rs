//! The harness of the binary-level exactly-once tests (`tests/e2e/exactly_once.rs`,
//! `tests/e2e/fencing.rs`): the real `streak-connector run` against the in-process Streak
//! simulator and a real Kafka broker.
//!
//! - [`process`]: the binary as a child process (SIGKILL, SIGTERM, stderr kept).
//! - [`walk`]: the steps applied to the simulator, each with the event it must cause.
//! - [`oracle`]: the events an uninterrupted run must publish, from DESIGN.md's table.
//! - [`kafka`]: a live read-committed watcher and a bounded read to the end.
//! - [`proof`]: the committed events held against the oracle.
//!
//! [`Driver`] ties them: it applies a step only once a read-committed consumer has
//! seen every event of the previous one, so what the connector must publish does not
//! depend on when it crashes, only on the steps.
pub mod kafka;
pub mod oracle;
pub mod process;
pub mod proof;
pub mod walk;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use streak_connector::membership::DEFAULT_INACTIVE_AFTER_MS;
use streak_connector::simulator::{system_now_ms, RunningSimulator, Scenario, Simulator};

use kafka::Watcher;
use oracle::{MemberId, Oracle, PollPrediction};
use walk::Step;

/// `EOS_SEED` when set (to replay a run), a random seed otherwise; printed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("EOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: seed {seed} (replay with EOS_SEED={seed})");
    seed
}

/// The simulator, the oracle and the watcher of one test.
#[derive(Debug)]
pub struct Driver {
    pub sim: RunningSimulator,
    pub oracle: Oracle,
    pub watcher: Watcher,
    orgs: Vec<String>,
}

impl Driver {
    /// Starts the simulator on `scenario_toml` (port 0); also returns its
    /// organizations' keys.
    pub async fn simulator(scenario_toml: &str) -> (RunningSimulator, Vec<String>) {
        let scenario = Scenario::from_toml_str(scenario_toml).expect("the test scenario is valid");
        let orgs = scenario
            .organizations()
            .into_iter()
            .map(|o| o.key)
            .collect();
        let sim = Simulator::start(scenario, "127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("the simulator starts");
        (sim, orgs)
    }

    /// `watcher` follows the connector's events topic.
    pub fn new(sim: RunningSimulator, orgs: Vec<String>, watcher: Watcher) -> Driver {
        Driver {
            sim,
            oracle: Oracle::new(DEFAULT_INACTIVE_AFTER_MS),
            watcher,
            orgs,
        }
    }

    pub fn orgs(&self) -> Vec<&str> {
        self.orgs.iter().map(String::as_str).collect()
    }

    /// The first poll of every organization: SNAPSHOT of every member.
    pub fn first_polls(&mut self) -> PollPrediction {
        let mut all = PollPrediction::new();
        for org in self.orgs.clone() {
            let listing = self.sim.members(&org).expect("the organization exists");
            all.extend(self.oracle.first_poll(&org, &listing, system_now_ms()));
        }
        all
    }

    /// Applies `step` to the simulator and returns what the next poll must publish,
    /// checked against what the step intended.
    pub fn apply(&mut self, step: &Step) -> PollPrediction {
        let mut intended = PollPrediction::new();
        for p in &step.changes {
            self.sim
                .apply(&p.org, p.change.clone())
                .unwrap_or_else(|e| panic!("test design: {:?} does not apply: {e}", p.change));
            let key = p.change.member_key().unwrap_or_default().to_owned();
            intended.insert(((p.org.clone(), key), p.event));
        }
        let now = system_now_ms();
        let mut predicted = PollPrediction::new();
        for org in self.orgs.clone() {
            let listing = self.sim.members(&org).expect("the organization exists");
            predicted.extend(self.oracle.poll(&org, &listing, now));
        }
        assert_eq!(
            predicted, intended,
            "test design: the step's changes do not cause the events they were meant to"
        );
        predicted
    }

    /// Waits until the watcher has seen, for every member of `prediction`, as many
    /// events as the oracle expects of it so far; fails at once when any member has
    /// more (a doubled event), when `health` reports a problem, or after `timeout`.
    pub async fn wait_observed(
        &mut self,
        prediction: &PollPrediction,
        timeout: Duration,
        health: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            let events = self.watcher.events().await?;
            let mut seen: HashMap<MemberId, usize> = HashMap::new();
            for o in events {
                *seen.entry(o.member()).or_default() += 1;
            }
            if let Some((m, n)) = seen.iter().find(|(m, n)| **n > self.oracle.count(m)) {
                return Err(format!(
                    "{}/{}: {n} committed events seen, only {} expected (doubled or unexpected)",
                    m.0,
                    m.1,
                    self.oracle.count(m)
                ));
            }
            let missing: Vec<String> = prediction
                .iter()
                .filter(|(m, _)| seen.get(m).copied().unwrap_or(0) < self.oracle.count(m))
                .map(|(m, t)| format!("{} {}/{}", t.as_str(), m.0, m.1))
                .collect();
            if missing.is_empty() {
                return Ok(start.elapsed());
            }
            health()?;
            if start.elapsed() > timeout {
                return Err(format!(
                    "not published within {timeout:?}: {}",
                    missing.join(", ")
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
