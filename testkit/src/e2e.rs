//! One end-to-end test's world ([`Setup`]): the tests in `tests/e2e/` drive the
//! BUILT `streak-connector` binary as an operator would (flags, environment, a
//! config file) through [`crate::process`], read what it wrote with
//! [`crate::topic`] and scrape it with [`crate::metrics`]; a running `run` is a
//! [`Running`]. Also the scenario, JSON and `check`-output helpers they share.
//!
//! Running them: `cargo test --test e2e` works with nothing installed (the Kafka
//! tests then use librdkafka's mock cluster in the test process, with
//! `[kafka] topic_policy = "trust"` and topics created by the test; the tests that
//! need a real broker say "skipped"). With a real broker,
//! `eval $(scripts/kafka.sh env)` first; in CI also set
//! `STREAK_E2E_REQUIRE_REAL_BROKER=1` so those skips become failures. The metrics
//! test runs `promtool check metrics` when `promtool` is on the PATH.

use std::path::PathBuf;
use std::time::Duration;

use crate::broker::{self, skip_without_real_broker, Broker};
use crate::process;
use crate::unique;

mod running;
pub use running::Running;

/// The fingerprint by which the connector names an API key in logs and metrics.
pub fn fingerprint(api_key: &str) -> String {
    streak_connector::streak::ApiKey::new(api_key.to_owned())
        .expect("a valid test API key")
        .fingerprint()
        .to_owned()
}

/// How the binary is told that topics exist already and must not be created or
/// described (a line of the `[kafka]` table): librdkafka's mock cluster implements
/// neither CreateTopics nor DescribeConfigs, so on the mock the tests create the
/// topics themselves and the binary trusts them. `None` would make the tests that
/// need Kafka skip without a real broker.
pub const MOCK_TOPIC_POLICY_TOML: Option<&str> = Some("topic_policy = \"trust\"");

/// The broker for an end-to-end test that needs Kafka, or `None` (after saying why)
/// when only the mock cluster is available and the binary cannot be told to trust
/// pre-created topics on it.
pub async fn broker_for(test: &str) -> Option<Broker> {
    let broker = Broker::start().await;
    if !broker.is_real() && MOCK_TOPIC_POLICY_TOML.is_none() {
        skip_without_real_broker(&format!(
            "{test} (the binary has no setting yet to use pre-created topics on librdkafka's mock cluster)"
        ));
        return None;
    }
    Some(broker)
}

/// Make the topics exist on the mock cluster (which cannot create them through the
/// admin API); nothing on a real broker, where the binary creates them.
pub fn prepare_mock_topics(broker: &Broker, topics: &[&str]) {
    if let Some(mock) = broker.mock_cluster() {
        for t in topics {
            mock.create_topic(t, 3, 1)
                .expect("the mock cluster creates the topic");
        }
    }
}

/// One end-to-end test's world.
#[derive(Debug)]
pub struct Setup {
    /// Keeps the config file (and anything else the test writes) alive.
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub streak_base_url: String,
    pub bootstrap: String,
    pub events_topic: String,
    pub state_topic: String,
    pub connector_name: String,
    pub api_keys: Vec<String>,
    /// Extra environment variables for every command.
    pub env: Vec<(String, String)>,
}

impl Setup {
    /// Fresh topics and connector name; `extra_toml` starts the config file (top-level
    /// keys, then tables other than the `[kafka]`/`[streak]` written here).
    pub fn new(
        test: &str,
        streak_base_url: &str,
        broker: &broker::Broker,
        api_keys: &[&str],
        extra_toml: &str,
    ) -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config_path = dir.path().join("config.toml");
        let mut kafka_table = String::from(
            "[kafka]\npartitions = 3\nreplication_factor = 1\ntransaction_timeout = \"10s\"\n",
        );
        if let Some(line) = MOCK_TOPIC_POLICY_TOML {
            if !broker.is_real() {
                kafka_table.push_str(line);
                kafka_table.push('\n');
            }
        }
        let text = format!(
            "# written by an end-to-end test\n{extra_toml}\n\
             [streak]\nretry_base = \"100ms\"\nretry_cap = \"1s\"\nretry_max_attempts = 3\n\
             request_timeout = \"10s\"\n\n{kafka_table}"
        );
        std::fs::write(&config_path, text).expect("config file written");
        Setup {
            dir,
            config_path,
            streak_base_url: streak_base_url.to_owned(),
            bootstrap: broker.bootstrap().to_owned(),
            events_topic: unique(&format!("e2e-events-{test}")),
            state_topic: unique(&format!("e2e-state-{test}")),
            connector_name: unique(&format!("e2e-{test}")),
            api_keys: api_keys.iter().map(|k| (*k).to_owned()).collect(),
            env: Vec::new(),
        }
    }

    /// [`Setup::new`], with the two topics made on the mock cluster
    /// ([`prepare_mock_topics`]; nothing on a real broker, where the binary makes
    /// them).
    pub fn with_topics(
        test: &str,
        streak_base_url: &str,
        broker: &broker::Broker,
        api_keys: &[&str],
        extra_toml: &str,
    ) -> Setup {
        let setup = Setup::new(test, streak_base_url, broker, api_keys, extra_toml);
        prepare_mock_topics(broker, &[&setup.events_topic, &setup.state_topic]);
        setup
    }

    /// The binary with `args` (the command first) and every setting of this test:
    /// the settings as flags, the API keys from the environment (secrets never go in
    /// argv), metrics on a free port.
    pub fn command(&self, args: &[&str]) -> process::Cmd {
        let mut cmd = process::Cmd::new(args);
        cmd.args(["--config", &self.config_path.display().to_string()])
            .args(["--streak-base-url", &self.streak_base_url])
            .args(["--kafka-bootstrap-servers", &self.bootstrap])
            .args(["--events-topic", &self.events_topic])
            .args(["--state-topic", &self.state_topic])
            .args(["--connector-name", &self.connector_name])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .env("STREAK_CONNECTOR_API_KEYS", &self.api_keys.join(","));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `timeout`.
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A scenario member written out in TOML, active (seen an hour ago).
pub fn member_toml(key: &str, admin: bool) -> String {
    format!(
        "[[organizations.members]]\nkey = \"{key}\"\nemail = \"{key}@e2e.example.com\"\n\
         displayName = \"{key} Example\"\nfirstName = \"{key}\"\nlastName = \"Example\"\n\
         isOrgAdmin = {admin}\nlastSeenTimestamp = \"now-1h\"\ncreationTimestamp = \"now-400d\"\n"
    )
}

/// An organization of a scenario in TOML: `members` as `(key, admin)`, the first one
/// owning the API key.
pub fn org_toml(org: &str, api_key: &str, members: &[(&str, bool)], extra: &str) -> String {
    let mut s = format!(
        "[[organizations]]\nkey = \"{org}\"\nname = \"{org} Inc\"\napi_keys = [\"{api_key}\"]\n{extra}\n"
    );
    for (key, admin) in members {
        s.push_str(&member_toml(key, *admin));
    }
    s
}

/// A fresh API key for a simulator scenario.
pub fn api_key(label: &str) -> String {
    unique(&format!("e2e-{label}-key"))
}

/// Every JSON line of `text` (other lines are ignored).
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `(event_type, user_key)` of every JSON line of `stdout` that has both, sorted:
/// the events `tail` or a dry run printed.
pub fn event_lines(stdout: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = json_lines(stdout)
        .iter()
        .filter_map(|j| {
            Some((
                json_str(j, "event_type")?.to_owned(),
                json_str(j, "user_key")?.to_owned(),
            ))
        })
        .collect();
    v.sort();
    v
}

/// The first value of `field` in `v`, searching objects depth first but not inside
/// `before`/`after` (an event's own fields win over its members').
pub fn json_field<'a>(v: &'a serde_json::Value, field: &str) -> Option<&'a serde_json::Value> {
    let obj = v.as_object()?;
    if let Some(found) = obj.get(field) {
        return Some(found);
    }
    obj.iter()
        .filter(|(k, _)| k.as_str() != "before" && k.as_str() != "after")
        .find_map(|(_, inner)| json_field(inner, field))
}

/// `field` of `v` as a string, if it is one.
pub fn json_str<'a>(v: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    json_field(v, field).and_then(|f| f.as_str())
}

/// The verdict line of `check` (`[ok] ...` or `[FAIL] ...`) that mentions `needle`
/// (case-insensitive) and, if `also` is given, also one of those words.
pub fn line_with<'a>(text: &'a str, needle: &str, also: &[&str]) -> Option<&'a str> {
    let needle = needle.to_ascii_lowercase();
    text.lines()
        .filter(|l| is_failure(l) || is_success(l))
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains(&needle) && (also.is_empty() || also.iter().any(|a| l.contains(a)))
        })
}

/// Whether a verdict line of `check` says the item failed.
pub fn is_failure(line: &str) -> bool {
    line.trim_start().starts_with("[FAIL]")
}

/// Whether a verdict line of `check` says the item is fine.
pub fn is_success(line: &str) -> bool {
    line.trim_start().starts_with("[ok]")
}

/// Starts the in-process simulator on a free port with the scenario in `toml`.
pub async fn start_simulator(toml: &str) -> streak_connector::simulator::RunningSimulator {
    let scenario = streak_connector::simulator::Scenario::from_toml_str(toml)
        .unwrap_or_else(|e| panic!("test scenario: {e}\n{toml}"));
    streak_connector::simulator::Simulator::start(
        scenario,
        "127.0.0.1:0".parse().expect("an address"),
    )
    .await
    .expect("the simulator starts")
}

/// A member joining now, active, with an email.
pub fn joiner(key: &str) -> streak_connector::simulator::MemberSpec {
    use streak_connector::simulator::{MemberSpec, Stamp};
    MemberSpec {
        email: Some(format!("{key}@e2e.example.com")),
        display_name: Some(format!("{key} Example")),
        is_org_admin: Some(false),
        last_seen_timestamp: Some(Stamp::NOW),
        creation_timestamp: Some(Stamp::NOW),
        ..MemberSpec::new(key)
    }
}
