//! The dashboard and the alert rules use only what the connector exports, and the
//! dashboard shows all of it: checked against a live scrape of the real binary.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::Duration;

use streak_connector::simulator::{Scenario, Simulator};

use super::{dashboard_exprs, json, metric_names, rule_exprs, yaml, ALERTS, DASHBOARD};

/// What the connector exports: a live `/metrics` scrape of the real binary running
/// `run` against the in-process Streak simulator (the lively scenario) and
/// librdkafka's mock cluster, taken after its first committed polls. Computed once
/// per test binary.
fn exported_scrape() -> String {
    static SCRAPE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SCRAPE.get_or_init(live_scrape).clone()
}

fn live_scrape() -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sim = Simulator::start(Scenario::lively(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("simulator starts");
        let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
        let suffix: u64 = rand::random();
        let events = format!("deploy-assets-events-{suffix:x}");
        let state = format!("deploy-assets-state-{suffix:x}");
        mock.create_topic(&events, 3, 1).expect("topic");
        mock.create_topic(&state, 3, 1).expect("topic");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "[kafka]\npartitions = 3\nreplication_factor = 1\ntopic_policy = \"trust\"\n",
        )
        .expect("config");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_streak-connector"))
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("STREAK_CONNECTOR_CONFIG", &config)
            .env("STREAK_CONNECTOR_API_KEYS", "sim-lively-key,sim-steady-key")
            .env("STREAK_CONNECTOR_STREAK_BASE_URL", sim.base_url())
            .env(
                "STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS",
                mock.bootstrap_servers(),
            )
            .env("STREAK_CONNECTOR_EVENTS_TOPIC", &events)
            .env("STREAK_CONNECTOR_STATE_TOPIC", &state)
            .env(
                "STREAK_CONNECTOR_CONNECTOR_NAME",
                format!("deploy-assets-{suffix:x}"),
            )
            .env("STREAK_CONNECTOR_POLL_INTERVAL", "1s")
            // librdkafka's statistics soon: the broker round-trip time has series.
            .env("STREAK_CONNECTOR_KAFKA__STATISTICS_INTERVAL_MS", "500")
            .env(
                "STREAK_CONNECTOR_METRICS_LISTEN",
                format!("127.0.0.1:{port}"),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let url = format!("http://127.0.0.1:{port}/metrics");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        let done = |t: &str| {
            t.contains("\nstreak_connector_kafka_broker_rtt_seconds{")
                && ["org-lively", "org-steady"].iter().all(|org| {
                    t.lines().any(|l| {
                        l.starts_with(&format!(
                            "streak_connector_polls_total{{org=\"{org}\",result=\"success\"}}"
                        )) && !l.ends_with(" 0")
                    })
                })
        };
        let text = loop {
            if let Ok(r) = http.get(&url).send().await {
                if let Ok(t) = r.text().await {
                    if done(&t) {
                        break t;
                    }
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the connector exited early: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no successful poll of both organizations within 90 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let _ = child.kill().await;
        text
    })
}

#[test]
fn dashboard_and_alerts_use_only_exported_metrics() {
    let scrape = exported_scrape();
    let mut exprs = dashboard_exprs(&json(DASHBOARD));
    let from_dashboard = exprs.len();
    exprs.extend(rule_exprs(&yaml(ALERTS)));
    assert!(
        from_dashboard >= 20 && exprs.len() > from_dashboard,
        "found too few expressions: {exprs:?}"
    );
    let problems = metric_names::problems(&exprs, &scrape);
    assert!(
        problems.is_empty(),
        "metrics not exported as used:\n{}",
        problems.join("\n")
    );
}

#[test]
fn dashboard_shows_every_exported_metric() {
    let unused =
        metric_names::unused_families(&dashboard_exprs(&json(DASHBOARD)), &exported_scrape());
    assert!(
        unused.is_empty(),
        "exported metrics missing from the dashboard: {unused:?}"
    );
}

#[test]
fn metric_check_catches_unknown_names_and_labels() {
    let scrape = exported_scrape();
    let exprs = vec![
        (
            "a".to_string(),
            "rate(streak_connector_polls_totl[5m])".to_string(),
        ),
        (
            "b".to_string(),
            r#"streak_connector_polls_total{organisation="x", job="j"}"#.to_string(),
        ),
        (
            "c".to_string(),
            r#"sum by (le) (rate(streak_connector_poll_duration_seconds_bucket{org=~"a,b"}[1h]))"#
                .to_string(),
        ),
    ];
    let problems = metric_names::problems(&exprs, &scrape);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("a: streak_connector_polls_totl is not exported"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("no label \"organisation\""),
        "{problems:?}"
    );
    let sel = metric_names::selectors(
        r#"x{a="1"} + streak_connector_members {org="a}b", instance=~"i"} / my_streak_connector_x"#,
    );
    assert_eq!(sel.len(), 1, "{sel:?}");
    let process = vec![(
        "d".to_string(),
        r#"rate(process_cpu_secnds_total{job="j"}[5m]) + process_open_fds{fd="x"} + my_process_x"#
            .to_string(),
    )];
    let problems = metric_names::problems(&process, &scrape);
    assert_eq!(
        problems.len(),
        2,
        "the process_* names are checked too: {problems:?}"
    );
    assert!(
        problems[0].contains("process_cpu_secnds_total is not exported"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("process_open_fds has no label \"fd\""),
        "{problems:?}"
    );
    assert_eq!(
        sel[0].labels,
        BTreeSet::from(["org".to_string(), "instance".to_string()])
    );
}

#[test]
fn dashboard_is_well_formed_and_data_source_agnostic() {
    let d = json(DASHBOARD);
    assert_eq!(d["uid"], "streak-connector");
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vars, ["datasource", "job", "instance", "org"]);
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(p["id"].as_u64().expect("numeric id")),
            "{title}: duplicate id"
        );
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap_or(99), g["w"].as_u64().unwrap_or(99));
        assert!(
            x + w <= 24 && g["h"].as_u64().is_some(),
            "{title}: outside the 24-column grid"
        );
        if p["type"] == "row" {
            continue;
        }
        // Works with the compose data source and with any Prometheus a sidecar finds.
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{title}: no description"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            let expr = t["expr"].as_str().unwrap_or_default();
            if expr.contains("streak_connector_") {
                assert!(
                    expr.contains(r#"job="$job""#),
                    "{title}: query ignores $job: {expr}"
                );
            }
        }
    }
}
