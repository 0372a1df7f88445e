//! The Helm chart rendered by helm: what reaches the cluster.

use std::collections::BTreeSet;

use serde_json::Value;

use super::render::{container, documents, helm_or_skip, object, render, run_helm};
use super::{alert_rules, read, yaml, ALERTS, CHART, DASHBOARD};

#[test]
fn helm_lint_and_template_where_helm_exists() {
    let Some(helm) = helm_or_skip("helm_lint_and_template") else {
        return;
    };
    let mut value_files: Vec<String> = std::fs::read_dir(super::repo().join(CHART).join("ci"))
        .expect("the chart's ci/ directory")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    value_files.sort();
    assert!(value_files.len() >= 3, "{value_files:?}");
    for values in &value_files {
        let f = format!("{CHART}/ci/{values}");
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
    let docs = documents(&rendered);
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

/// The `--set`s of a minimal install.
const MINIMAL: [&str; 2] = ["config.kafkaBootstrapServers=k:9092", "apiKeys.keys[0]=k1"];

fn minimal_with<'a>(more: &[&'a str]) -> Vec<&'a str> {
    MINIMAL
        .iter()
        .copied()
        .chain(more.iter().copied())
        .collect()
}

#[test]
fn api_keys_mount_only_the_listed_secret_entries() {
    let Some(helm) = helm_or_skip("api_keys_mount_only_the_listed_secret_entries") else {
        return;
    };
    let volume = |docs: &[Value]| -> Value {
        object(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == "api-keys").cloned())
            .expect("the api-keys volume")
    };
    let docs = render(&helm, Some("full-values.yaml"), &[]).expect("renders");
    let v = volume(&docs);
    assert_eq!(v["secret"]["secretName"], "streak-api-keys");
    assert_eq!(
        v["secret"]["items"],
        serde_json::json!([{"key": "acme", "path": "acme"}, {"key": "globex", "path": "globex"}])
    );
    // The chart-made Secret: its one entry.
    let docs = render(&helm, Some("default-values.yaml"), &[]).expect("renders");
    assert_eq!(
        volume(&docs)["secret"]["items"],
        serde_json::json!([{"key": "api-keys", "path": "api-keys"}])
    );
    // An existing Secret without secretKeys: every entry, and NOTES say so.
    let docs = render(
        &helm,
        None,
        &[
            "config.kafkaBootstrapServers=k:9092",
            "apiKeys.existingSecret=s",
        ],
    )
    .expect("renders");
    assert!(volume(&docs)["secret"].get("items").is_none());
    let notes = read(&format!("{CHART}/templates/NOTES.txt"));
    assert!(
        notes.contains("(not .Values.apiKeys.secretKeys)")
            && notes.contains("is mounted and read as Streak API keys"),
        "NOTES.txt warns about a Secret mounted whole"
    );
    let err =
        render(&helm, None, &minimal_with(&["apiKeys.secretKeys[0]=x"])).expect_err("refused");
    assert!(err.contains("apiKeys.secretKeys"), "{err}");
}

#[test]
fn admin_listener_has_its_own_port_and_the_service_only_if_asked() {
    let Some(helm) = helm_or_skip("admin_listener_has_its_own_port") else {
        return;
    };
    let env = |docs: &[Value], name: &str| -> Option<Value> {
        container(docs)["env"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["name"] == name).cloned())
    };
    let port_names = |v: &Value| -> Vec<String> {
        v["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect()
    };
    // Off without a token: no listener, no port.
    let docs = render(&helm, Some("default-values.yaml"), &[]).expect("renders");
    assert!(env(&docs, "STREAK_CONNECTOR_ADMIN_LISTEN").is_none());
    assert_eq!(port_names(container(&docs)), ["http-metrics"]);
    // With a token: loopback, a container port, not on the Service.
    let docs = render(&helm, Some("loopback-admin-values.yaml"), &[]).expect("renders");
    assert_eq!(
        env(&docs, "STREAK_CONNECTOR_ADMIN_LISTEN").expect("listen")["value"],
        "127.0.0.1:9465"
    );
    assert_eq!(port_names(container(&docs)), ["http-metrics", "http-admin"]);
    assert_eq!(
        port_names(&object(&docs, "Service")["spec"]),
        ["http-metrics"]
    );
    // Asked for: all addresses and the Service.
    let docs = render(&helm, Some("full-values.yaml"), &[]).expect("renders");
    assert_eq!(
        env(&docs, "STREAK_CONNECTOR_ADMIN_LISTEN").expect("listen")["value"],
        "0.0.0.0:9465"
    );
    assert_eq!(
        port_names(&object(&docs, "Service")["spec"]),
        ["http-metrics", "http-admin"]
    );
}

#[test]
fn admin_token_bound_is_the_binarys() {
    let Some(helm) = helm_or_skip("admin_token_bound_is_the_binarys") else {
        return;
    };
    // Schema: helm refuses a token shorter than 16 characters before rendering.
    let err = render(
        &helm,
        None,
        &minimal_with(&["adminToken.value=short-token"]),
    )
    .expect_err("refused");
    assert!(err.contains("adminToken"), "{err}");
    // The binary trims: 16 characters with padding are refused by the template.
    let err = render(
        &helm,
        None,
        &minimal_with(&["adminToken.value=   fifteen-chars  "]),
    )
    .expect_err("refused");
    assert!(err.contains("at least 16 characters once trimmed"), "{err}");
    let docs = render(
        &helm,
        None,
        &minimal_with(&["adminToken.value=exactly-16-chars"]),
    )
    .expect("renders");
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret" && d["stringData"].get("admin-token").is_some())
        .expect("the admin token Secret");
    assert_eq!(secret["stringData"]["admin-token"], "exactly-16-chars");
}

#[test]
fn network_policy_selects_the_pod_and_opens_only_its_ports() {
    let Some(helm) = helm_or_skip("network_policy_selects_the_pod") else {
        return;
    };
    let docs = render(&helm, Some("default-values.yaml"), &[]).expect("renders");
    assert!(
        !docs.iter().any(|d| d["kind"] == "NetworkPolicy"),
        "off by default"
    );
    let docs = render(&helm, Some("full-values.yaml"), &[]).expect("renders");
    let np = &object(&docs, "NetworkPolicy")["spec"];
    let pod_labels = &object(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"];
    for (k, v) in np["podSelector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(&pod_labels[k], v, "podSelector {k} does not match the pod");
    }
    assert_eq!(np["policyTypes"], serde_json::json!(["Ingress", "Egress"]));
    let ingress_ports: Vec<String> = np["ingress"]
        .as_array()
        .expect("ingress")
        .iter()
        .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["port"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ingress_ports, ["http-metrics", "http-admin"]);
    let egress = np["egress"].as_array().expect("egress");
    assert!(egress.iter().any(|r| r["ports"][0]["port"] == 53), "DNS");
    assert!(
        egress.iter().any(|r| r["ports"][0]["port"] == 443),
        "Streak over HTTPS"
    );
    assert!(
        egress.iter().any(|r| r["ports"][0]["port"] == 9093),
        "the given Kafka rule"
    );
    // With the admin port on loopback, the policy does not open it.
    let docs = render(&helm, Some("loopback-admin-values.yaml"), &[]).expect("renders");
    let np = &object(&docs, "NetworkPolicy")["spec"];
    assert_eq!(np["ingress"].as_array().map(Vec::len), Some(1));
    assert_eq!(np["policyTypes"], serde_json::json!(["Ingress"]));
    let err = render(
        &helm,
        None,
        &minimal_with(&[
            "networkPolicy.enabled=true",
            "networkPolicy.egress.enabled=true",
        ]),
    )
    .expect_err("refused");
    assert!(err.contains("networkPolicy.egress.rules"), "{err}");
}

#[test]
fn probes_and_grace_period_follow_start_up_and_the_drain() {
    let Some(helm) = helm_or_skip("probes_and_grace_period") else {
        return;
    };
    let grace = |docs: &[Value]| {
        object(docs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("a grace period")
    };
    let docs = render(&helm, Some("default-values.yaml"), &[]).expect("renders");
    let c = container(&docs);
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    // The binary drains for the transaction timeout + 10 s and exits within 2 s more:
    // the grace period is the transaction timeout + the margin (15 s), whatever the
    // timeout.
    assert_eq!(grace(&docs), 60 + 15);
    let docs = render(&helm, Some("full-values.yaml"), &[]).expect("renders");
    assert_eq!(grace(&docs), 90 + 15);
    for (timeout, expected) in [("2m", 135), ("1m30s", 105), ("1500ms", 17)] {
        let set = format!("config.transactionTimeout={timeout}");
        let docs = render(&helm, None, &minimal_with(&[&set])).expect("renders");
        assert_eq!(grace(&docs), expected, "{timeout}");
        let toml = object(&docs, "ConfigMap")["data"]["config.toml"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            toml.contains(&format!("[kafka]\ntransaction_timeout = \"{timeout}\"")),
            "{toml}"
        );
    }
    let docs = render(
        &helm,
        None,
        &minimal_with(&["terminationGracePeriodSeconds=300"]),
    )
    .expect("renders");
    assert_eq!(grace(&docs), 300, "an explicit value wins");
    for bad in [
        "config.transactionTimeout=1 minute",
        "config.pollInterval=5min",
    ] {
        let err = render(&helm, None, &minimal_with(&[bad])).expect_err("refused");
        assert!(err.contains("the chart reads durations"), "{bad}: {err}");
    }
    let err = render(
        &helm,
        None,
        &minimal_with(&["config.extraToml=[kafka]\npartitions = 3"]),
    )
    .expect_err("refused");
    assert!(err.contains("config.kafkaSettings"), "{err}");
}

#[test]
fn stale_alert_threshold_follows_the_poll_interval_and_links_are_absolute() {
    let Some(helm) = helm_or_skip("stale_alert_threshold") else {
        return;
    };
    let stale = |docs: &[Value]| -> (String, String) {
        let rule = alert_rules(&object(docs, "PrometheusRule")["spec"])
            .into_iter()
            .find(|r| r["alert"] == "StreakConnectorPollsStale")
            .expect("the stale rule");
        (
            rule["expr"].as_str().unwrap_or_default().to_string(),
            rule["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let on = [
        "prometheusRule.enabled=true",
        "prometheusRule.runbookBaseUrl=https://git.example/r/blob/main/",
    ];
    for (interval, threshold) in [("5m", 900), ("90s", 900), ("15m", 2700), ("1h", 10800)] {
        let set = format!("config.pollInterval={interval}");
        let mut sets = minimal_with(&on);
        sets.push(&set);
        let (expr, url) = stale(&render(&helm, None, &sets).expect("renders"));
        assert!(
            expr.contains(&format!(
                "streak_connector_last_success_timestamp_seconds > {threshold}\n"
            )),
            "{interval}: {expr}"
        );
        assert_eq!(
            url,
            "https://git.example/r/blob/main/docs/operations.md#streakconnectorpollsstale"
        );
    }
    // Without a base URL and without a chart home, no relative link ships.
    let err =
        render(&helm, None, &minimal_with(&["prometheusRule.enabled=true"])).expect_err("refused");
    assert!(err.contains("prometheusRule.runbookBaseUrl"), "{err}");
    let err = render(
        &helm,
        None,
        &minimal_with(&[
            "prometheusRule.enabled=true",
            "prometheusRule.runbookBaseUrl=git.example/r",
        ]),
    )
    .expect_err("refused");
    assert!(err.contains("not an http(s) URL"), "{err}");
}
