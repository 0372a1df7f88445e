//! The shipping assets hold together with the product and with each other.
//!
//! - Every `streak_connector_*` series that the Grafana dashboard and the alert rules
//!   use is one the connector exports, with the labels they match on, and every metric
//!   family the connector exports is on the dashboard. The reference is a live
//!   `/metrics` scrape of the running binary (`run` against the in-process simulator
//!   and librdkafka's mock cluster), not a list typed by hand.
//! - Each alert has a runbook section in `docs/operations.md` and promtool unit tests
//!   that fire it and clear it (`scripts/check-deploy.sh` runs promtool itself).
//! - The Helm chart's templates reference only values that exist, `values.yaml`
//!   validates against `values.schema.json`, its README lists every value, and its
//!   copies of the dashboard and the rules are identical to `deploy/`. `helm lint` and
//!   `helm template` run where a `helm` binary exists (`$HELM` or `PATH`).
//! - `docker-compose.yml` names only official images and files of this repository,
//!   and its API keys are those of the scenario the simulator plays.
//! - The Dockerfile keeps its promises, and the image's health probe works.
//!
//! No Docker engine is needed: nothing here builds or starts a container.

#[path = "deploy_assets/compose.rs"]
mod compose;
#[path = "deploy_assets/helm_values.rs"]
mod helm_values;
#[path = "deploy_assets/metric_names.rs"]
mod metric_names;
#[path = "../deploy/healthcheck/probe.rs"]
mod probe;
#[path = "deploy_assets/schema.rs"]
mod schema;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use streak_connector::simulator::{Scenario, Simulator};

const DASHBOARD: &str = "deploy/grafana/streak-connector-dashboard.json";
const ALERTS: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yml";
const OPERATIONS: &str = "docs/operations.md";
const CHART: &str = "helm/streak-connector";
const COMPOSE: &str = "docker-compose.yml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

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
            ["org-lively", "org-steady"].iter().all(|org| {
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

/// Every PromQL string of the dashboard (panel targets and variable queries), with
/// where it comes from.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("?");
        for t in panel["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((format!("dashboard panel {title:?}"), e.to_string()));
            }
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = var["name"].as_str().unwrap_or("?");
        for q in [&var["query"]["query"], &var["query"], &var["definition"]] {
            if let Some(q) = q.as_str() {
                out.push((format!("dashboard variable {name}"), q.to_string()));
            }
        }
    }
    out
}

/// Every alerting rule of a rule file.
fn alert_rules(rules: &Value) -> Vec<Value> {
    rules["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

fn rule_exprs(rules: &Value) -> Vec<(String, String)> {
    alert_rules(rules)
        .iter()
        .map(|r| {
            (
                format!("alert {}", r["alert"].as_str().unwrap_or("?")),
                r["expr"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

// --- Metrics -----------------------------------------------------------------------

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

// --- Alerts ------------------------------------------------------------------------

/// GitHub's anchor of a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_a_runbook_section_and_a_severity() {
    let ops = read(OPERATIONS);
    let anchors: BTreeSet<String> = ops
        .lines()
        .filter_map(|l| {
            l.strip_prefix('#')
                .map(|h| anchor(h.trim_start_matches('#')))
        })
        .collect();
    let rules = alert_rules(&yaml(ALERTS));
    assert!(rules.len() >= 6, "the issue asks for at least six alerts");
    for r in &rules {
        let name = r["alert"].as_str().unwrap_or_default();
        let url = r["annotations"]["runbook_url"].as_str().unwrap_or_default();
        let section = url.strip_prefix("docs/operations.md#").unwrap_or_else(|| {
            panic!("{name}: runbook_url {url:?} does not point into {OPERATIONS}")
        });
        assert_eq!(
            section,
            name.to_lowercase(),
            "{name}: runbook anchor should be the alert name"
        );
        assert!(
            anchors.contains(section),
            "{name}: {OPERATIONS} has no section #{section}"
        );
        let severity = r["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for a in ["summary", "description"] {
            assert!(
                r["annotations"][a].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: no {a}"
            );
        }
    }
}

#[test]
fn every_alert_has_promtool_tests_that_fire_and_clear_it() {
    let tests = yaml(ALERT_TESTS);
    assert_eq!(tests["rule_files"][0], "alerts.yml");
    let cases: Vec<Value> = tests["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
        .collect();
    for r in alert_rules(&yaml(ALERTS)) {
        let name = r["alert"].as_str().unwrap_or_default();
        let of_alert: Vec<&Value> = cases.iter().filter(|c| c["alertname"] == name).collect();
        let fires = of_alert
            .iter()
            .any(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()));
        let quiet = of_alert
            .iter()
            .filter(|c| c["exp_alerts"].as_array().is_some_and(Vec::is_empty))
            .count();
        assert!(fires, "{name}: no promtool test expects it to fire");
        assert!(
            quiet >= 2,
            "{name}: promtool tests should show it quiet before and cleared after"
        );
    }
}

// --- Helm chart ---------------------------------------------------------------------

#[test]
fn chart_copies_of_dashboard_and_rules_match_deploy() {
    for (source, copy) in [
        (
            DASHBOARD,
            "helm/streak-connector/files/streak-connector-dashboard.json",
        ),
        (ALERTS, "helm/streak-connector/files/alerts.yml"),
    ] {
        assert!(
            read(source) == read(copy),
            "{copy} differs from {source}: run scripts/check-deploy.sh --sync after editing {source}"
        );
    }
}

fn chart_templates() -> Vec<(String, String)> {
    let dir = repo().join(CHART).join("templates");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                text,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn chart_templates_reference_only_values_that_exist() {
    let values = yaml(&format!("{CHART}/values.yaml"));
    let mut refs = 0;
    let mut missing = Vec::new();
    for (file, text) in chart_templates() {
        for path in helm_values::value_refs(&text) {
            refs += 1;
            if !helm_values::resolves(&values, &path) {
                missing.push(format!("{file}: .Values.{path}"));
            }
        }
    }
    assert!(
        refs > 50,
        "found only {refs} value references: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "templates use values absent from values.yaml:\n{}",
        missing.join("\n")
    );
    assert_eq!(
        helm_values::value_refs("{{ $.Values.a.b }} {{ .Values.c }}. x.Valuesy.z"),
        ["a.b", "c"]
    );
    assert!(!helm_values::resolves(&values, "image.tga"));
}

#[test]
fn values_validate_against_the_schema_and_the_schema_bites() {
    let schema = json(&format!("{CHART}/values.schema.json"));
    let values = yaml(&format!("{CHART}/values.yaml"));
    let errors = schema::validate(&schema, &values);
    assert!(
        errors.is_empty(),
        "values.yaml does not match values.schema.json:\n{}",
        errors.join("\n")
    );

    // Every value of values.yaml is described, so a typo cannot slip through.
    for (k, v) in values.as_object().into_iter().flatten() {
        assert!(
            schema["properties"].get(k).is_some(),
            "values.schema.json does not describe {k}"
        );
        if let (Some(obj), Some(props)) = (
            v.as_object(),
            schema["properties"][k]["properties"].as_object(),
        ) {
            for sub in obj.keys() {
                assert!(
                    props.contains_key(sub),
                    "values.schema.json does not describe {k}.{sub}"
                );
            }
        }
    }

    // What helm would refuse, this validator refuses too.
    let bad = |pointer: &str, v: Value| {
        let mut broken = values.clone();
        *broken
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}")) = v;
        schema::validate(&schema, &broken)
    };
    assert!(!bad("/config/logFormat", "xml".into()).is_empty());
    assert!(!bad("/service/port", 70000.into()).is_empty());
    assert!(!bad("/probes/readiness/enabled", "yes".into()).is_empty());
    assert!(!bad("/apiKeys/keys", serde_json::json!(["", "k"])).is_empty());
    let mut typo = values.clone();
    typo["image"]["tga"] = "1".into();
    assert_eq!(
        schema::validate(&schema, &typo),
        ["image.tga: additional property not allowed"]
    );
}

#[test]
fn chart_readme_lists_every_value() {
    let readme = read(&format!("{CHART}/README.md"));
    let mut paths = Vec::new();
    schema::documented_paths(
        &json(&format!("{CHART}/values.schema.json")),
        "",
        &mut paths,
    );
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| p.as_str() != "global")
        .filter(|p| !readme.contains(&format!("| `{p}` |")))
        .collect();
    assert!(
        paths.len() > 40 && missing.is_empty(),
        "values missing from the README's table: {missing:?}"
    );
}

#[test]
fn chart_runs_one_restricted_pod_and_no_disruption_budget() {
    let templates = chart_templates();
    let all: String = templates.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        !all.contains("PodDisruptionBudget"),
        "no PDB: it would block node drains"
    );
    let deployment = &templates
        .iter()
        .find(|(f, _)| f == "deployment.yaml")
        .expect("deployment.yaml")
        .1;
    for needle in [
        "replicas: 1\n",
        "type: Recreate",
        "automountServiceAccountToken: false",
        "path: /healthz",
        "path: /readyz",
    ] {
        assert!(
            deployment.contains(needle),
            "deployment.yaml lacks {needle:?}"
        );
    }
    let values = yaml(&format!("{CHART}/values.yaml"));
    let sc = &values["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        values["podSecurityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(
        values.get("replicaCount").is_none(),
        "one replica, not a value"
    );
}

/// `$HELM`, else `helm` on the `PATH`, if it runs.
fn helm() -> Option<String> {
    let bin = std::env::var("HELM").unwrap_or_else(|_| "helm".to_string());
    let ok = Command::new(&bin)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(bin)
}

fn run_helm(helm: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(helm)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {helm}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn helm_lint_and_template_where_helm_exists() {
    let Some(helm) = helm() else {
        eprintln!("SKIPPED helm lint/template: no helm binary (set HELM or put helm on PATH)");
        return;
    };
    for values in ["ci/default-values.yaml", "ci/full-values.yaml"] {
        let f = format!("{CHART}/{values}");
        let (ok, out) = run_helm(&helm, &["lint", "--strict", CHART, "-f", &f]);
        assert!(ok, "helm lint with {values}:\n{out}");
    }
    let f = format!("{CHART}/ci/full-values.yaml");
    let (ok, rendered) = run_helm(
        &helm,
        &[
            "template",
            "rel",
            CHART,
            "-f",
            &f,
            "--kube-version",
            "1.29.0",
        ],
    );
    assert!(ok, "helm template:\n{rendered}");
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&rendered)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or(Value::Null))
        .filter(|v: &Value| !v.is_null())
        .collect();
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "ServiceAccount",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(kinds.contains(kind), "no {kind} rendered: {kinds:?}");
    }
    let deploy = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate");
    let rule = docs
        .iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("a PrometheusRule");
    let names = |v: &Value| -> Vec<String> {
        alert_rules(v)
            .iter()
            .filter_map(|r| r["alert"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(names(&rule["spec"]), names(&yaml(ALERTS)));
    let dashboard = docs
        .iter()
        .find(|d| d["data"].get("streak-connector-dashboard.json").is_some())
        .expect("the dashboard ConfigMap");
    assert_eq!(
        dashboard["data"]["streak-connector-dashboard.json"].as_str(),
        Some(read(DASHBOARD).trim_end())
    );
    // Without the required values, the chart refuses to render and says why.
    let (ok, out) = run_helm(
        &helm,
        &["template", "rel", CHART, "--kube-version", "1.29.0"],
    );
    assert!(
        !ok && out.contains("config.kafkaBootstrapServers"),
        "rendered without Kafka:\n{out}"
    );
    let (ok, out) = run_helm(
        &helm,
        &[
            "template",
            "rel",
            CHART,
            "--kube-version",
            "1.29.0",
            "--set",
            "config.kafkaBootstrapServers=k:9092",
        ],
    );
    assert!(
        !ok && out.contains("apiKeys.existingSecret"),
        "rendered without API keys:\n{out}"
    );
}

// --- docker compose ----------------------------------------------------------------

#[test]
fn compose_names_only_official_images_and_files_in_the_repo() {
    let compose = yaml(COMPOSE);
    let problems = compose::problems(&compose, &repo());
    assert!(problems.is_empty(), "{COMPOSE}:\n{}", problems.join("\n"));
    let images: BTreeSet<String> = compose["services"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, s)| s["image"].as_str())
        .map(|i| i.split(':').next().unwrap_or_default().to_string())
        .collect();
    let mut expected: BTreeSet<String> = compose::OFFICIAL_IMAGES
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.insert(compose::PRODUCT_IMAGE.to_string());
    assert_eq!(
        images, expected,
        "the stack is Kafka, Schema Registry, the product, Prometheus and Grafana"
    );
}

#[test]
fn compose_check_catches_missing_files_and_foreign_images() {
    let compose: Value = serde_norway::from_str(
        r#"
services:
  a:
    image: bitnami/kafka:3.9
    volumes: ["./nope/file.yml:/etc/file.yml:ro"]
    depends_on: {b: {condition: service_healthy}}
  b:
    image: prom/prometheus:latest
    command: ["--config.file=/etc/p.yml", "/etc/missing/x.toml"]
    volumes: ["./deploy:/etc/missing"]
"#,
    )
    .expect("yaml");
    let problems = compose::problems(&compose, &repo());
    let text = problems.join("\n");
    for needle in [
        "bitnami/kafka",
        "nope/file.yml",
        "no healthcheck",
        "not pinned",
        "deploy/x.toml",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn compose_wires_the_connector_to_the_simulator_over_loopback() {
    let compose = yaml(COMPOSE);
    let connector = &compose["services"]["connector"];
    assert_eq!(connector["network_mode"], "service:simulator");
    let env = &connector["environment"];
    let url = url::Url::parse(
        env["STREAK_CONNECTOR_STREAK_BASE_URL"]
            .as_str()
            .unwrap_or_default(),
    )
    .expect("a URL");
    assert!(
        matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        "plain http is only allowed to loopback: {url}"
    );
    // Prometheus scrapes the connector by a name the compose network knows, on the
    // port it listens on, under the job name the alerts expect.
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let job = prom["scrape_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|j| j["job_name"] == "streak-connector")
        .expect("a streak-connector job");
    let target = job["static_configs"][0]["targets"][0]
        .as_str()
        .unwrap_or_default();
    let (host, port) = target.split_once(':').expect("host:port");
    assert!(
        compose::reachable_names(&compose).contains(host),
        "{host} is not a compose name"
    );
    let listen = env["STREAK_CONNECTOR_METRICS_LISTEN"]
        .as_str()
        .unwrap_or("0.0.0.0:9464");
    assert!(
        listen.ends_with(&format!(":{port}")),
        "scrapes {port}, connector listens on {listen}"
    );
    assert!(read(ALERTS).contains(r#"up{job="streak-connector"}"#));
}

#[test]
fn compose_provisions_the_deploy_dashboard_and_rules() {
    let compose = yaml(COMPOSE);
    let mounted = |svc: &str, host: &str| -> String {
        compose::mounts(&compose, &compose["services"][svc])
            .into_iter()
            .find(|m| m.host.trim_start_matches("./") == host)
            .unwrap_or_else(|| panic!("{svc} does not mount {host}"))
            .container
    };
    // Prometheus: its configuration loads alerts.yml from beside itself.
    let config = mounted("prometheus", "deploy/prometheus/prometheus.yml");
    let rules = mounted("prometheus", ALERTS);
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let rule_file = prom["rule_files"][0].as_str().expect("a rule file");
    let dir = config.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
    assert_eq!(format!("{dir}/{rule_file}"), rules);
    // Grafana: the provider reads the directory the dashboard is mounted in.
    let dashboard = mounted("grafana", DASHBOARD);
    let providers = yaml("deploy/grafana/provisioning/dashboards/streak-connector.yml");
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .expect("a path");
    assert_eq!(dashboard.rsplit_once('/').map(|(d, _)| d), Some(path));
    assert_eq!(
        compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"],
        dashboard.as_str()
    );
    assert_eq!(
        mounted("grafana", "deploy/grafana/provisioning/dashboards"),
        "/etc/grafana/provisioning/dashboards"
    );
    assert_eq!(
        mounted("grafana", "deploy/grafana/provisioning/datasources"),
        "/etc/grafana/provisioning/datasources"
    );
}

#[test]
fn compose_api_keys_are_the_simulated_scenarios() {
    let compose = yaml(COMPOSE);
    let simulator = &compose["services"]["simulator"];
    let args: Vec<&str> = simulator["command"]
        .as_array()
        .expect("a command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = args
        .iter()
        .position(|a| *a == "--scenario")
        .expect("--scenario");
    let scenario_path = compose::host_path_of(&compose::mounts(&compose, simulator), args[at + 1])
        .expect("the scenario is mounted from the repository");
    let scenario: toml::Value = toml::from_str(&read(scenario_path.trim_start_matches("./")))
        .expect("the scenario is TOML");
    let mut scenario_keys = BTreeSet::new();
    for org in scenario["organizations"].as_array().expect("organizations") {
        for k in org["api_keys"].as_array().into_iter().flatten() {
            let key = k.as_str().or_else(|| k.get("key").and_then(|v| v.as_str()));
            scenario_keys.extend(key.map(str::to_string));
        }
    }
    let keys: Vec<String> = read("deploy/compose/api-keys")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(scenario_keys.contains(k), "deploy/compose/api-keys has {k:?}, which {scenario_path} does not define ({scenario_keys:?})");
    }
    // One key per organization: every organization of the scenario is polled.
    assert_eq!(
        keys.len(),
        scenario["organizations"].as_array().map_or(0, Vec::len)
    );
}

// --- Dockerfile and the health probe ------------------------------------------------

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_working_health_check() {
    let dockerfile = read("Dockerfile");
    let froms = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(froms >= 2, "multi-stage build expected");
    assert!(
        dockerfile.contains("distroless"),
        "small runtime image expected"
    );
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .expect("a numeric USER (runAsNonRoot verifies it)");
    assert_ne!(uid, 0);
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/usr/local/bin/streak-connector"]"#));
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/healthcheck"]"#));
    assert!(
        dockerfile.contains("deploy/healthcheck/main.rs")
            && repo().join("deploy/healthcheck/main.rs").exists()
    );
    let ignore = read(".dockerignore");
    for needed in [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        "deploy/healthcheck",
        "schemas",
    ] {
        assert!(
            !ignore
                .lines()
                .any(|l| l.trim() == needed || l.trim() == format!("{needed}/")),
            ".dockerignore drops {needed}"
        );
    }
}

/// Serves one canned HTTP answer on a port-0 listener; returns the port.
fn one_answer(answer: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn probe_is_healthy_on_200_only() {
    let timeout = Duration::from_secs(5);
    let port = one_answer("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n");
    let t =
        probe::target_from(&[format!("http://127.0.0.1:{port}/healthz")], None).expect("target");
    assert!(probe::check(&t, timeout).is_ok());

    let port = one_answer("HTTP/1.1 503 Service Unavailable\r\n\r\nnot ready\n");
    let t = probe::target_from(&[format!("http://127.0.0.1:{port}/readyz")], None).expect("target");
    let err = probe::check(&t, timeout).expect_err("503 is unhealthy");
    assert!(err.contains("503"), "{err}");

    let port = one_answer("HTTP/1.0 401 Unauthorized\r\n\r\n");
    let t = probe::target_from(
        &[
            "--any-status".into(),
            format!("http://localhost:{port}/api/v1/users/me"),
        ],
        None,
    )
    .expect("target");
    assert!(
        probe::check(&t, timeout).is_ok(),
        "--any-status accepts any HTTP answer"
    );

    let port = one_answer("SSH-2.0-OpenSSH\r\n");
    let t = probe::target_from(
        &["--any-status".into(), format!("http://127.0.0.1:{port}/")],
        None,
    )
    .expect("target");
    assert!(
        probe::check(&t, timeout).is_err(),
        "not HTTP is not healthy"
    );

    // A closed port: bind, learn the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let t =
        probe::target_from(&[format!("http://127.0.0.1:{port}/healthz")], None).expect("target");
    assert!(probe::check(&t, timeout).is_err());
}

#[test]
fn probe_defaults_to_healthz_on_the_metrics_port() {
    let t = probe::target_from(&[], None).expect("target");
    assert_eq!(
        (t.authority.as_str(), t.path.as_str()),
        ("127.0.0.1:9464", "/healthz")
    );
    let t = probe::target_from(&[], Some("[::]:9500")).expect("target");
    assert_eq!(t.authority, "[::1]:9500");
    let t = probe::target_from(&[], Some("10.1.2.3:9000")).expect("target");
    assert_eq!(t.authority, "10.1.2.3:9000");
    assert!(probe::target_from(&[], Some("nonsense")).is_err());
    assert!(probe::target_from(&["https://x/".into()], None).is_err());
    assert!(probe::target_from(&["--bogus".into()], None).is_err());
    assert_eq!(
        probe::parse_url("http://[::1]/x").expect("url"),
        ("[::1]:80".to_string(), "/x".to_string())
    );
    assert_eq!(
        probe::parse_url("http://h:1").expect("url"),
        ("h:1".to_string(), "/".to_string())
    );
    assert_eq!(
        probe::parse_status_line(b"HTTP/1.1 204 No Content\r\n"),
        Ok(204)
    );
    assert!(probe::parse_status_line(b"").is_err());
}
