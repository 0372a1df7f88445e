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

//!
//! The tests live in `tests/deploy_assets/*_tests.rs`, by asset; the helpers they
//! share are here and in the other files of `tests/deploy_assets/`.

#[path = "deploy_assets/alerts_tests.rs"]
mod alerts_tests;
#[path = "deploy_assets/chart_tests.rs"]
mod chart_tests;
#[path = "deploy_assets/compose.rs"]
mod compose;
#[path = "deploy_assets/compose_tests.rs"]
mod compose_tests;
#[path = "deploy_assets/docker_tests.rs"]
mod docker_tests;
#[path = "deploy_assets/helm_tests.rs"]
mod helm_tests;
#[path = "deploy_assets/helm_values.rs"]
mod helm_values;
#[path = "deploy_assets/metric_names.rs"]
mod metric_names;
#[path = "deploy_assets/metrics_tests.rs"]
mod metrics_tests;
#[path = "../deploy/healthcheck/probe.rs"]
mod probe;
#[path = "deploy_assets/render.rs"]
mod render;
#[path = "deploy_assets/schema.rs"]
mod schema;

use std::path::PathBuf;

use serde_json::Value;

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
