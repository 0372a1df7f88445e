//! End to end through the built binary, the operator's side: `demo`, `/metrics`
//! (checked by `promtool`), and `check`'s verdicts on a broken set-up.

use std::time::{Duration, Instant};

use streak_connector::simulator::Change;
use testkit::broker::real_broker_for;
use testkit::broker::Broker;
use testkit::e2e::{
    api_key, fingerprint, is_failure, is_success, json_lines, json_str, line_with, org_toml,
    start_simulator, Setup,
};
use testkit::e2e::{broker_for, Running};
use testkit::metrics::{declared_metric_names, http_get, scrape, Scrape};
use testkit::process::Cmd;
use testkit::topic::topic_exists;
use testkit::unique;

/// 4. `demo --cycles 3`: needs nothing installed, prints decoded events as JSON
///    lines, serves metrics on a port it prints, exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_with_three_cycles_prints_events_and_exits_0() {
    let mut cmd = Cmd::new(&["demo", "--cycles", "3", "--demo-interval", "1s"]);
    cmd.args(["--metrics-listen", "127.0.0.1:0"]);
    let mut proc = cmd.spawn();
    let addr = proc.metrics_addr(Duration::from_secs(120)).await;
    assert!(addr.starts_with("127.0.0.1:"), "metrics address {addr}");
    let status = proc.wait_exit(Duration::from_secs(180)).await;
    let run = proc.finished(status).await;
    run.assert_success();

    let lines = json_lines(&run.stdout);
    let events: Vec<(&str, &str)> = lines
        .iter()
        .filter_map(|j| Some((json_str(j, "event_type")?, json_str(j, "org_key")?)))
        .collect();
    let snapshots = |org: &str| {
        events
            .iter()
            .filter(|(t, o)| *t == "SNAPSHOT" && *o == org)
            .count()
    };
    // The lively scenario: org-lively has 25 members, org-steady 31.
    assert_eq!(snapshots("org-lively"), 25, "{}", run.report());
    assert_eq!(snapshots("org-steady"), 31, "{}", run.report());
    let known = [
        "SNAPSHOT",
        "JOINED",
        "LEFT",
        "ADMIN_CHANGED",
        "PROFILE_CHANGED",
        "WENT_INACTIVE",
        "REACTIVATED",
    ];
    assert!(
        events.iter().all(|(t, _)| known.contains(t)),
        "only known event types: {events:?}"
    );
    // org-steady changes on every poll (a 4-request loop), so three cycles show
    // more than the baseline.
    assert!(
        events.iter().any(|(t, _)| *t != "SNAPSHOT"),
        "three cycles of the lively scenario show changes\n{}",
        run.report()
    );
}

/// 5. `/metrics` of a running `run` passes `promtool check metrics` and holds every
///    metric family of `src/metrics/`; `/healthz` answers 200, `/readyz` 503 naming a
///    key whose polls keep failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_a_running_connector_pass_promtool_and_are_complete() {
    let Some(broker) = broker_for("metrics_of_a_running_connector_pass_promtool").await else {
        return;
    };
    let (good, revoked) = (api_key("m"), api_key("m-revoked"));
    let sim = start_simulator(&format!(
        "{}{}",
        org_toml("org-m", &good, &[("u-m1", true), ("u-m2", false)], ""),
        org_toml("org-r", &revoked, &[("u-r1", true)], ""),
    ))
    .await;
    sim.revoke_key(&revoked).expect("revoked");
    let setup = Setup::with_topics(
        "metrics",
        &sim.base_url(),
        &broker,
        &[&good, &revoked],
        "ready_max_consecutive_failures = 2",
    );
    let mut cmd = setup.run_command(&[]);
    // librdkafka's statistics soon, so the broker round-trip time has its series.
    cmd.env("STREAK_CONNECTOR_KAFKA__STATISTICS_INTERVAL_MS", "500");
    let run = Running::spawn(&cmd).await;

    let (status, body) = http_get(&run.addr, "/healthz")
        .await
        .expect("/healthz answers");
    assert_eq!(status, 200, "/healthz: {body}");
    let fp = fingerprint(&revoked);
    let m = polled_flagged_and_with_statistics(&run, &fp).await;
    // Every problem is collected, so one run reports them all.
    let mut problems = missing_families(&m);
    problems.extend(wrong_values(&m, &setup.connector_name));
    match promtool_check(&m.text).await {
        None => eprintln!("metrics_of_a_running_connector...: promtool not installed: the promtool part is skipped"),
        Some((true, _)) => {}
        Some((false, report)) => problems.push(format!("promtool check metrics failed:\n{report}")),
    }
    readyz_names_the_failing_key(&run.addr, &fp).await;
    assert!(
        problems.is_empty(),
        "/metrics:\n- {}\n--- metrics ---\n{}",
        problems.join("\n- "),
        m.text
    );
    run.stop().await;
}

/// The page once org-m has polled, the revoked key (fingerprint `revoked_fp`) is
/// flagged and librdkafka's statistics are in (at most 90 s).
async fn polled_flagged_and_with_statistics(run: &Running, revoked_fp: &str) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = run.scrape().await;
        let polled = m.polls("org-m", "success") >= 1.0;
        let rejected = m.value(
            "streak_connector_api_key_rejected",
            &[("key_fingerprint", revoked_fp)],
        ) == Some(1.0);
        let statistics = !m
            .find("streak_connector_kafka_broker_rtt_seconds", &[])
            .is_empty();
        if polled && rejected && statistics {
            // A scrape reads the families one after another: one taken while a
            // poll's metrics were being written can hold some of them and not the
            // others (it read `members` before, `polls_total` after). The poll's
            // writes are done now: the next scrape holds all of them.
            return run.scrape().await;
        }
        assert!(
            Instant::now() < deadline,
            "org-m not polled / revoked key not flagged / no librdkafka statistics within 90 s\n{}\n{}",
            m.text,
            run.proc.report()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The metric families of `src/metrics/` absent from the page, as a problem.
fn missing_families(m: &Scrape) -> Vec<String> {
    let families = m.families();
    let missing: Vec<String> = declared_metric_names()
        .into_iter()
        .map(|n| format!("streak_connector_{n}"))
        .filter(|n| !families.contains(n))
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "metric families of src/metrics/ absent from /metrics (a family shows only once a series exists: export zero-valued series): {missing:?}"
    )]
}

/// The series of org-m and of the connector `connector_name` whose values are
/// wrong, one problem each.
fn wrong_values(m: &Scrape, connector_name: &str) -> Vec<String> {
    let version = env!("CARGO_PKG_VERSION");
    type Expectation<'a> = (&'a str, &'a [(&'a str, &'a str)], fn(f64) -> bool, &'a str);
    let expectations: [Expectation; 5] = [
        (
            "streak_connector_build_info",
            &[("version", version), ("connector_name", connector_name)],
            |v| v == 1.0,
            "= 1",
        ),
        (
            "streak_connector_members",
            &[("org", "org-m")],
            |v| v == 2.0,
            "= 2",
        ),
        (
            "streak_connector_admins",
            &[("org", "org-m")],
            |v| v == 1.0,
            "= 1",
        ),
        (
            "streak_connector_transactions_total",
            &[("result", "committed")],
            |v| v >= 1.0,
            ">= 1",
        ),
        (
            "streak_connector_last_success_timestamp_seconds",
            &[("org", "org-m")],
            |v| v > 1.6e9,
            "a recent Unix time",
        ),
    ];
    let mut problems = Vec::new();
    for (name, labels, ok, want) in expectations {
        let got = m.value(name, labels);
        if !got.is_some_and(ok) {
            problems.push(format!("{name}{labels:?}: want {want}, got {got:?}"));
        }
    }
    problems
}

/// The revoked key fails every poll: beyond the threshold (2 here), not ready, and
/// the answer says which key (at most 60 s).
async fn readyz_names_the_failing_key(addr: &str, fp: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http_get(addr, "/readyz").await.expect("/readyz answers");
        if status == 503 {
            assert!(
                body.contains(fp),
                "/readyz names the failing key {fp}: {body}"
            );
            break;
        }
        assert_eq!(status, 200, "/readyz answers 200 or 503: {body}");
        assert!(
            Instant::now() < deadline,
            "/readyz still 200 after 60 s of failed polls for key {fp}\n{}",
            scrape(addr).await.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `promtool check metrics` on `text`: `None` when promtool is not installed.
async fn promtool_check(text: &str) -> Option<(bool, String)> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(text.as_bytes())
        .await
        .expect("metrics written to promtool");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("promtool answers within 30 s")
        .expect("promtool runs");
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// Bound of `check` (each item has its own timeout; all must end).
const CHECK_TIMEOUT: Duration = Duration::from_secs(90);

/// 6a. `check` refuses a state topic that is not compacted, says so on the state
///     topic's line, and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_state_topic_that_is_not_compacted() {
    let Some(broker) = real_broker_for("check_reports_a_state_topic_that_is_not_compacted").await
    else {
        return;
    };
    let key = api_key("chk");
    let sim = start_simulator(&org_toml("org-chk", &key, &[("u-k1", true)], "")).await;
    let setup = Setup::new("checkpolicy", &sim.base_url(), &broker, &[&key], "");
    broker
        .create_topic(&setup.state_topic, 3, &[("cleanup.policy", "delete")])
        .await;

    let run = setup.command(&["check"]).run(CHECK_TIMEOUT).await;
    eprintln!("[e2e] check said:\n{}", run.report());
    assert!(
        !run.status.success(),
        "a non-compacted state topic fails the check\n{}",
        run.report()
    );
    let out = run.all_output();
    let line = line_with(&out, &setup.state_topic, &["compact"]).unwrap_or_else(|| {
        panic!(
            "a verdict line names the state topic and compaction\n{}",
            run.report()
        )
    });
    assert!(
        is_failure(line),
        "the state topic's verdict is a failure: {line}\n{}",
        run.report()
    );
    let key_line = line_with(&out, "org-chk", &[])
        .or_else(|| line_with(&out, &fingerprint(&key), &[]))
        .unwrap_or_else(|| panic!("a verdict line for the API key\n{}", run.report()));
    assert!(is_success(key_line), "the key itself is fine: {key_line}");
    assert!(
        !topic_exists(broker.bootstrap(), &setup.events_topic).await,
        "check writes nothing: the missing events topic is not created"
    );
}

/// 6b. `check` against a bootstrap address where no broker listens: fails clearly,
///     within a bounded time, and still checks the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_wrong_bootstrap_address_quickly() {
    let key = api_key("boot");
    let sim = start_simulator(&org_toml("org-boot", &key, &[("u-b1", true)], "")).await;
    // No broker at all: the fixture is only used for its mock-free shape.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[kafka]\npartitions = 3\nreplication_factor = 1\n")
        .expect("config written");
    let mut cmd = Cmd::new(&["check"]);
    cmd.args(["--config", &config.display().to_string()])
        .args(["--streak-base-url", &sim.base_url()])
        .args(["--kafka-bootstrap-servers", "127.0.0.1:1"])
        .args(["--events-topic", &unique("e2e-events-boot")])
        .args(["--state-topic", &unique("e2e-state-boot")])
        .args(["--connector-name", &unique("e2e-boot")])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("STREAK_CONNECTOR_API_KEYS", &key);
    let run = cmd.run(CHECK_TIMEOUT).await;
    eprintln!("[e2e] check said:\n{}", run.report());
    eprintln!("[e2e] check with a wrong bootstrap took {:?}", run.elapsed);
    assert!(
        !run.status.success(),
        "an unreachable broker fails the check\n{}",
        run.report()
    );
    assert!(
        run.elapsed < Duration::from_secs(60),
        "the verdict comes within 60 s, took {:?}",
        run.elapsed
    );
    let out = run.all_output();
    let line = line_with(&out, "127.0.0.1:1", &[])
        .or_else(|| line_with(&out, "kafka", &[]))
        .unwrap_or_else(|| {
            panic!(
                "a verdict line names Kafka or the address\n{}",
                run.report()
            )
        });
    assert!(is_failure(line), "Kafka's verdict is a failure: {line}");
    let key_line = line_with(&out, "org-boot", &[])
        .or_else(|| line_with(&out, &fingerprint(&key), &[]))
        .unwrap_or_else(|| panic!("the API key is still checked\n{}", run.report()));
    assert!(is_success(key_line), "the key is fine: {key_line}");
}

/// 6c. `check` with a revoked key among good ones: that key's line fails, naming it
///     by fingerprint only; the good key's line passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_revoked_key_by_fingerprint() {
    let (good, revoked) = (api_key("ok"), api_key("revoked"));
    let sim = start_simulator(&format!(
        "{}{}",
        org_toml("org-fine", &good, &[("u-f1", true)], ""),
        org_toml("org-lost", &revoked, &[("u-l1", true)], ""),
    ))
    .await;
    sim.apply(
        "org-lost",
        Change::RevokeKey {
            api_key: revoked.clone(),
        },
    )
    .expect("revoked");
    // Kafka's verdict does not matter here: a real broker if there is one, else the
    // mock (whose topic checks may fail).
    let broker = match broker_for("check_reports_a_revoked_key_by_fingerprint").await {
        Some(b) => b,
        None => Broker::mock(),
    };
    let setup = Setup::new("checkkey", &sim.base_url(), &broker, &[&good, &revoked], "");
    let run = setup.command(&["check"]).run(CHECK_TIMEOUT).await;
    eprintln!("[e2e] check said:\n{}", run.report());
    assert!(
        !run.status.success(),
        "a revoked key fails the check\n{}",
        run.report()
    );
    let out = run.all_output();
    let fp = fingerprint(&revoked);
    let line = line_with(&out, &fp, &[])
        .unwrap_or_else(|| panic!("a verdict line names the key {fp}\n{}", run.report()));
    assert!(
        is_failure(line),
        "the revoked key's verdict is a failure: {line}"
    );
    assert!(
        !out.contains(&revoked) && !out.contains(&good),
        "no API key is printed\n{}",
        run.report()
    );
    let good_line = line_with(&out, "org-fine", &[])
        .or_else(|| line_with(&out, &fingerprint(&good), &[]))
        .unwrap_or_else(|| panic!("a verdict line for the good key\n{}", run.report()));
    assert!(is_success(good_line), "the good key passes: {good_line}");
}

/// `schemas --dir DIR` writes the embedded Avro schemas as files a registry or a
/// consumer can use; `schemas` prints them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_are_printed_and_written() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("schemas");
    let run = Cmd::new(&["schemas", "--dir", &out.display().to_string()])
        .run(Duration::from_secs(30))
        .await;
    run.assert_success();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("the directory was created")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".avsc"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "key, event and state schemas: {names:?}");
    for n in &names {
        let text = std::fs::read_to_string(out.join(n)).expect("readable");
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{n} is JSON: {e}"));
        assert_eq!(json["type"], "record", "{n}");
    }
    let printed = Cmd::new(&["schemas"]).run(Duration::from_secs(30)).await;
    printed.assert_success();
    for n in &names {
        let stem = n.trim_end_matches(".avsc");
        assert!(
            printed.stdout.contains(stem) || printed.stdout.contains("\"record\""),
            "`schemas` prints {stem}\n{}",
            printed.report()
        );
    }
}
