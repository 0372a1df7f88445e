//! The status surface and the SRE's metrics, through the built binary: `/status` and
//! `streak-connector status` on a running `run`; the `process_*` metrics and the
//! producer's librdkafka statistics on `/metrics` against a real broker.

use std::time::{Duration, Instant};

use serde_json::Value;
use streak_connector::simulator::RunningSimulator;
use testkit::broker::{real_broker_for, Broker};
use testkit::e2e::{api_key, broker_for, fingerprint, org_toml};
use testkit::e2e::{start_simulator, Running, Setup};
use testkit::metrics::http_get;
use testkit::process::Cmd;

/// The organization of `status` whose `org` is `key`.
fn org<'a>(status: &'a Value, key: &str) -> Option<&'a Value> {
    status["organizations"]
        .as_array()?
        .iter()
        .find(|o| o["org"] == key)
}

/// A running connector over org-st (two members, its key good) and org-sr (its key
/// revoked by Streak).
struct Case {
    setup: Setup,
    run: Running,
    good: String,
    revoked: String,
    good_fp: String,
    /// How `/status` names the organization of the rejected key.
    failing_label: String,
}

impl Case {
    async fn start(broker: &Broker, sim: &RunningSimulator, good: String, revoked: String) -> Case {
        let setup = Setup::with_topics("status", &sim.base_url(), broker, &[&good, &revoked], "");
        let run = setup.spawn_run(&[]).await;
        let (good_fp, revoked_fp) = (fingerprint(&good), fingerprint(&revoked));
        let failing_label = format!("key:{revoked_fp}");
        Case {
            setup,
            run,
            good,
            revoked,
            good_fp,
            failing_label,
        }
    }

    /// `/status` once org-st has polled twice and the revoked key is failing (at
    /// most 90 s).
    async fn status_once_polled_and_failing(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (code, body) = http_get(&self.run.addr, "/status")
                .await
                .expect("/status answers");
            assert_eq!(code, 200, "/status: {body}");
            let s: Value = serde_json::from_str(&body).expect("/status is JSON");
            let polled = org(&s, "org-st").is_some_and(|o| o["poll_seq"].as_u64() >= Some(2));
            let failed = org(&s, &self.failing_label).is_some_and(|o| o["state"] == "failing");
            if polled && failed {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "org-st not polled twice / revoked key not failing within 90 s\n{body}\n{}",
                self.run.proc.report()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The connector by name, version, instance and pid; org-st running with its
    /// key active; the rejected key failing with an error code; fingerprints only.
    fn status_shows_the_connector_and_each_organization(&self, status: &Value) {
        let c = &status["connector"];
        assert_eq!(c["name"], self.setup.connector_name.as_str(), "{status:#}");
        assert_eq!(c["version"], env!("CARGO_PKG_VERSION"), "{status:#}");
        assert!(
            c["instance"].as_str().is_some_and(|i| !i.is_empty()),
            "{status:#}"
        );
        assert_eq!(
            c["pid"].as_u64(),
            Some(u64::from(self.run.proc.pid())),
            "{status:#}"
        );

        let o = org(status, "org-st").expect("org-st listed");
        assert_eq!(o["state"], "running", "{o:#}");
        assert_eq!(o["members"], 2, "{o:#}");
        assert!(o["last_success_at"].as_str().is_some(), "{o:#}");
        assert!(o["seconds_since_last_success"].as_i64() < Some(60), "{o:#}");
        assert_eq!(o["consecutive_failures"], 0, "{o:#}");
        assert_eq!(o["key_at_risk"], false, "{o:#}");
        let keys = o["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1, "{o:#}");
        assert_eq!(keys[0]["fingerprint"], self.good_fp.as_str(), "{o:#}");
        assert_eq!(keys[0]["state"], "active", "{o:#}");

        let f = org(status, &self.failing_label).expect("the rejected key is listed");
        assert!(f["consecutive_failures"].as_u64() >= Some(1), "{f:#}");
        assert!(
            f["last_error_code"].as_str().is_some_and(|c| !c.is_empty()),
            "{f:#}"
        );
        assert!(f["last_success_at"].is_null(), "{f:#}");
        // Fingerprints only: no API key anywhere in the answer.
        let text = status.to_string();
        assert!(
            !text.contains(&self.good) && !text.contains(&self.revoked),
            "{text}"
        );
    }

    /// The command: a table for a person, from `--url`, with a row per organization.
    async fn the_command_prints_a_table_from_the_url(&self) {
        let url = format!("http://{}", self.run.addr);
        let run = Cmd::new(&["status", "--url", &url])
            .run(Duration::from_secs(30))
            .await;
        run.assert_success();
        let table = &run.stdout;
        assert!(
            table.starts_with(&format!("connector {} ", self.setup.connector_name)),
            "{}",
            run.report()
        );
        let row = table
            .lines()
            .find(|l| l.starts_with("org-st "))
            .unwrap_or_else(|| panic!("no org-st row\n{}", run.report()));
        for part in ["running", &format!("{} active", self.good_fp), " 2 "] {
            assert!(row.contains(part), "{part:?} missing in {row:?}");
        }
        let row = table
            .lines()
            .find(|l| l.starts_with(&self.failing_label))
            .unwrap_or_else(|| panic!("no row of the rejected key\n{}", run.report()));
        assert!(
            row.contains("failing") && row.contains("failed poll(s) in a row"),
            "{row}"
        );
    }

    /// ... and JSON, from `--metrics-listen` (the default URL): the same as
    /// `/status`.
    async fn the_command_prints_json_from_the_metrics_address(&self, status: &Value) {
        let run = Cmd::new(&[
            "status",
            "--format",
            "json",
            "--metrics-listen",
            &self.run.addr,
        ])
        .run(Duration::from_secs(30))
        .await;
        run.assert_success();
        let again: Value = serde_json::from_str(&run.stdout).expect("status --format json is JSON");
        assert_eq!(again["connector"], status["connector"], "{}", run.report());
        let o = org(status, "org-st").expect("org-st listed");
        assert_eq!(
            org(&again, "org-st").map(|o| &o["keys"]),
            Some(&o["keys"]),
            "{}",
            run.report()
        );
    }
}

/// `status` where nobody listens: a clear error, non-zero.
async fn the_command_says_when_nobody_listens() {
    let run = Cmd::new(&["status", "--url", "http://127.0.0.1:9", "--timeout", "2s"])
        .run(Duration::from_secs(30))
        .await;
    assert!(!run.status.success(), "{}", run.report());
    assert!(
        run.stderr
            .contains("cannot reach http://127.0.0.1:9/status"),
        "{}",
        run.report()
    );
}

/// `/status` of a running connector names it and shows each organization: the one
/// that polls (running, its last success, poll sequence, members, its key active,
/// by fingerprint only) and the key Streak rejects (failing, with its error code);
/// `status` prints the same as a table and as JSON, from `--url` and from
/// `--metrics-listen`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_endpoint_and_command_show_each_organization() {
    let Some(broker) = broker_for("status_endpoint_and_command").await else {
        return;
    };
    let (good, revoked) = (api_key("st"), api_key("st-revoked"));
    let sim = start_simulator(&format!(
        "{}{}",
        org_toml("org-st", &good, &[("u-s1", true), ("u-s2", false)], ""),
        org_toml("org-sr", &revoked, &[("u-r1", true)], ""),
    ))
    .await;
    sim.revoke_key(&revoked).expect("revoked");
    let mut case = Case::start(&broker, &sim, good, revoked).await;
    let status = case.status_once_polled_and_failing().await;
    case.status_shows_the_connector_and_each_organization(&status);
    case.the_command_prints_a_table_from_the_url().await;
    case.the_command_prints_json_from_the_metrics_address(&status)
        .await;
    the_command_says_when_nobody_listens().await;
    let exit = case.run.terminate(Duration::from_secs(60)).await;
    assert!(exit.success(), "{}", case.run.proc.report());
}

/// The producers of the pool in [`process_and_librdkafka_metrics_on_a_real_broker`]
/// (its `max_concurrent_polls`).
const POOL: usize = 2;

/// Against a real broker: the standard `process_*` metrics (CPU, resident memory,
/// open files, start time), the producer's librdkafka statistics (queue, broker
/// round-trip time, transaction state) at the interval set through the passthrough
/// property, and `build_info` naming the connector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_librdkafka_metrics_on_a_real_broker() {
    let Some(broker) = real_broker_for("process_and_librdkafka_metrics").await else {
        return;
    };
    let key = api_key("sre");
    let sim = start_simulator(&org_toml("org-sre", &key, &[("u-1", true)], "")).await;
    let pool = format!("max_concurrent_polls = {POOL}");
    let setup = Setup::new("sre-metrics", &sim.base_url(), &broker, &[&key], &pool);
    let mut cmd = setup.run_command(&[]);
    cmd.env("STREAK_CONNECTOR_KAFKA__STATISTICS_INTERVAL_MS", "500");
    let mut run = Running::spawn(&cmd).await;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();

    let deadline = Instant::now() + Duration::from_secs(90);
    let m = loop {
        let m = run.scrape().await;
        let committed = m
            .value(
                "streak_connector_transactions_total",
                &[("result", "committed")],
            )
            .unwrap_or(0.0)
            >= 2.0;
        let rtt = !m
            .find(
                "streak_connector_kafka_broker_rtt_seconds",
                &[("percentile", "p99")],
            )
            .is_empty();
        if committed && rtt {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no two commits and no broker round-trip time within 90 s\n{}\n{}",
            m.text,
            run.proc.report()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut problems = Vec::new();
    let mut want = |name: &str, labels: &[(&str, &str)], ok: &dyn Fn(f64) -> bool, what: &str| {
        let got = m.value(name, labels);
        if !got.is_some_and(ok) {
            problems.push(format!("{name}{labels:?}: want {what}, got {got:?}"));
        }
    };
    want(
        "process_resident_memory_bytes",
        &[],
        &|v| v > 1e6,
        "over 1 MB",
    );
    want("process_open_fds", &[], &|v| v >= 3.0, "at least 3");
    want("process_cpu_seconds_total", &[], &|v| v >= 0.0, "present");
    want(
        "process_start_time_seconds",
        &[],
        &|v| (started - 120.0..=started + 1.0).contains(&v),
        "the process's start, just before the test saw it listen",
    );
    want(
        "streak_connector_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("connector_name", setup.connector_name.as_str()),
        ],
        &|v| v == 1.0,
        "1",
    );
    want(
        "streak_connector_kafka_producer_queue_messages",
        &[(
            "transactional_id",
            &format!("{}.membership", setup.connector_name),
        )],
        &|v| v >= 0.0,
        "present",
    );
    want(
        "streak_connector_kafka_producer_queue_bytes",
        &[(
            "transactional_id",
            &format!("{}.membership", setup.connector_name),
        )],
        &|v| v >= 0.0,
        "present",
    );
    for rtt in m.find(
        "streak_connector_kafka_broker_rtt_seconds",
        &[("percentile", "p99")],
    ) {
        // A local broker answers within seconds, never in no time.
        if !(rtt.value > 0.0 && rtt.value < 10.0) {
            problems.push(format!("broker round-trip time out of range: {rtt:?}"));
        }
    }
    // Every producer of the pool (max_concurrent_polls of them, the first with the
    // connector's own id) has its series. Between polls an idle transactional
    // producer is ready (or in a transaction when the scrape meets a poll);
    // exactly one state of each is 1.
    let first_id = format!("{}.membership", setup.connector_name);
    let ids: Vec<String> = std::iter::once(first_id.clone())
        .chain((1..POOL).map(|i| format!("{first_id}.{i}")))
        .collect();
    for id in &ids {
        let states = m.find(
            "streak_connector_kafka_transaction_state",
            &[("transactional_id", id)],
        );
        let current: Vec<_> = states.iter().filter(|s| s.value == 1.0).collect();
        if states.len() < 13 || current.len() != 1 {
            problems.push(format!("transaction state of {id}: {states:?}"));
            continue;
        }
        let state = current[0].labels.get("state").map(String::as_str);
        let live = [
            "Ready",
            "InTransaction",
            "BeginCommit",
            "CommittingTransaction",
        ];
        if !state.is_some_and(|s| live.contains(&s)) {
            problems.push(format!(
                "transaction state of {id}: {state:?}, not a live one"
            ));
        }
    }
    // The ids it only fences at start-up have no series.
    let fenced_only = format!("{first_id}.{POOL}");
    if m.text
        .contains(&format!("transactional_id=\"{fenced_only}\""))
    {
        problems.push(format!("series of {fenced_only}, which only fences"));
    }
    assert!(problems.is_empty(), "{}\n{}", problems.join("\n"), m.text);
    let exit = run.terminate(Duration::from_secs(60)).await;
    assert!(exit.success(), "{}", run.proc.report());
}
