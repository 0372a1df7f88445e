//! The raw layer: the TOML file as the user typed it. Unknown keys are refused,
//! durations are typed when parsed (`"90s"`, `"30d"`, `"1h 30m"`), and nothing is
//! checked beyond the shape: the rules live with the typed configuration
//! ([`super::typed`]) and the modules' own config types.
//!
//! Flags and their `STREAK_CONNECTOR_*` variables are the other raw layer, parsed by
//! clap into [`crate::cli::SettingsArgs`] with the same duration parser.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::error::ConfigError;

/// Parses durations such as `90s`, `15m`, `30d`, `1h 30m` (humantime).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// A TOML duration: a string with units, parsed by [`parse_duration`].
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The TOML file as typed. Top-level keys are the flag names in snake case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub streak_base_url: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub kafka_bootstrap_servers: Option<String>,
    pub events_topic: Option<String>,
    pub state_topic: Option<String>,
    /// Topic of the OCSF records of the change events (default: none, off).
    pub ocsf_topic: Option<String>,
    pub connector_name: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub inactive_after: Option<Duration>,
    pub schema_registry_url: Option<String>,
    pub metrics_listen: Option<String>,
    pub admin_listen: Option<String>,
    pub log_format: Option<LogFormat>,
    /// Fraction of the poll interval used as random jitter (default 0.1 = ±10%).
    pub poll_jitter: Option<f64>,
    /// Organizations polled at the same time at most (default 4).
    pub max_concurrent_polls: Option<usize>,
    /// `/readyz` fails once an organization's polls failed this many times in a row
    /// (default 3).
    pub ready_max_consecutive_failures: Option<u32>,
    /// Compacted directory topic of the continuous reconciliation (issue 17).
    pub directory_topic: Option<String>,
    /// Compacted topic the continuous reconciliation publishes findings to.
    pub findings_topic: Option<String>,
    #[serde(default)]
    pub reconcile: ReconcileFile,
    #[serde(default)]
    pub streak: StreakFile,
    #[serde(default)]
    pub kafka: KafkaFile,
    #[serde(default)]
    pub guard: GuardFile,
    #[serde(default)]
    pub schema_registry: RegistryFile,
    #[serde(default)]
    pub ocsf: OcsfFile,
}

/// `[ocsf]`: the SIEM formats (OCSF topic, `tail`/`demo --format`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcsfFile {
    /// `[ocsf.severity]`: the severity of each kind of change (docs/siem.md);
    /// fields left out keep their defaults.
    #[serde(default)]
    pub severity: crate::siem::Severities,
}

/// `[streak]`: the API client's tuning.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreakFile {
    #[serde(default, deserialize_with = "duration")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub request_timeout: Option<Duration>,
    pub max_body_bytes: Option<u64>,
    pub rate_limit_per_second: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub retry_base: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub retry_cap: Option<Duration>,
    pub retry_max_attempts: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub retry_deadline: Option<Duration>,
}

/// `[kafka]`: topics and librdkafka passthrough.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaFile {
    /// Partitions of topics the connector creates (default -1: the broker's).
    pub partitions: Option<i32>,
    /// Replication factor of topics the connector creates (default -1: the
    /// broker's).
    pub replication_factor: Option<i32>,
    #[serde(default, deserialize_with = "duration")]
    pub transaction_timeout: Option<Duration>,
    /// `verify` (default): create missing topics and refuse a state topic that is not
    /// compacted. `trust`: create and describe nothing (clusters where the connector
    /// may not, and librdkafka's mock cluster).
    pub topic_policy: Option<TopicPolicySetting>,
    /// State records to read as never written, `"<partition>@<offset>"` each.
    pub skip_state_records: Option<Vec<String>>,
    /// `auto` (default): the connector's own reader of the state topic on a
    /// plaintext cluster, librdkafka's consumer otherwise. `librdkafka`: always it.
    pub restore_reader: Option<RestoreReaderSetting>,
    /// Any librdkafka property, passed through to the producer and consumers.
    #[serde(default)]
    pub properties: BTreeMap<String, toml::Value>,
}

/// How topics are treated at start-up, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicPolicySetting {
    /// Create missing topics; refuse a state topic that is not compacted.
    Verify,
    /// Create and check nothing.
    Trust,
}

/// Which consumer reads the state topic, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestoreReaderSetting {
    Auto,
    Librdkafka,
}

/// `[reconcile]`: the continuous reconciliation's options (see `docs/audit.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileFile {
    /// Also report active directory entries that are not members (default false).
    pub directory_only: Option<bool>,
    /// Drop the `+tag` of emails on both sides (default false).
    pub strip_plus_tags: Option<bool>,
    /// The email field of directory records (default `email`).
    pub email_field: Option<String>,
    /// The status field of directory records (default `status`).
    pub status_field: Option<String>,
    /// How long start-up waits for the directory topic's end (default 2m).
    #[serde(default, deserialize_with = "duration")]
    pub catch_up_timeout: Option<Duration>,
}

/// `[guard]`: the departure guard.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardFile {
    pub min_departures: Option<usize>,
    pub max_departure_fraction: Option<f64>,
    pub min_inactive: Option<usize>,
    pub max_inactive_fraction: Option<f64>,
}

/// `[schema_registry]`: credentials by file (or env, see docs).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// Reads and parses the TOML config file.
pub(crate) fn read_file_config(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        what: "config file",
        path: path.to_path_buf(),
        source,
    })?;
    parse_file_config(path, &text)
}

/// Parses the TOML text of the file at `path`. The error names the line and the key
/// but never quotes the file: a passthrough property may hold a password.
pub(crate) fn parse_file_config(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        message: describe_toml_error(text, &e),
    })
}

/// `line N (key): message`, the key with its `[table]`, from the error's span.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return message.to_string();
    };
    let before = &text[..span.start.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (table, key) {
        (Some(t), Some(k)) => format!("line {line_no} ({t}.{k}): {message}"),
        (None, Some(k)) => format!("line {line_no} ({k}): {message}"),
        _ => format!("line {line_no}: {message}"),
    }
}
