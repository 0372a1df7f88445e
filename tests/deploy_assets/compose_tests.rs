//! `docker-compose.yml`: official pinned images, this repository's files, the wiring.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{compose, read, repo, yaml, ALERTS, COMPOSE, DASHBOARD};

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

/// Seconds of a compose duration such as `75s`, `1m30s`.
fn compose_seconds(text: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .unwrap_or_else(|_| panic!("duration {text:?}"));
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => panic!("unit {c:?} in {text:?}"),
        };
    }
    assert!(number.is_empty(), "duration {text:?} without a unit");
    total
}

#[test]
fn compose_grace_period_fits_the_drain_and_healthchecks_need_no_curl() {
    let compose = yaml(COMPOSE);
    // The drain waits the transaction timeout + 10 s (DRAIN_MARGIN, src/app/run.rs),
    // then the runtime's exit takes at most 2 s; the stack keeps the default
    // transaction timeout (60 s) unless its connector.toml sets one.
    let toml: toml::Value =
        toml::from_str(&read("deploy/compose/connector.toml")).expect("connector.toml");
    assert!(
        toml.get("kafka")
            .and_then(|k| k.get("transaction_timeout"))
            .is_none(),
        "connector.toml sets a transaction timeout: derive the grace period from it here"
    );
    let grace = compose_seconds(
        compose["services"]["connector"]["stop_grace_period"]
            .as_str()
            .expect("a stop_grace_period"),
    );
    assert!(
        grace >= 60 + 10 + 2,
        "stop_grace_period {grace}s does not fit the drain"
    );
    // The Schema Registry image has no curl: its check must not rely on one.
    let test = compose["services"]["schema-registry"]["healthcheck"]["test"].to_string();
    for tool in ["curl", "wget"] {
        assert!(
            !test.contains(tool),
            "schema-registry healthcheck uses {tool}: {test}"
        );
    }
    assert!(test.contains("/dev/tcp/127.0.0.1/8081"), "{test}");
    assert_eq!(compose_seconds("1m30s"), 90);
}
