//! Typed, validated configuration.
//!
//! Three layers, lowest first: the TOML file given by `--config`, then
//! `STREAK_CONNECTOR_*` environment variables, then flags (clap merges the last two).
//! [`FileConfig`] mirrors what the user typed (`deny_unknown_fields`, durations with
//! units); [`Config::load`] merges the layers, reads secrets from the environment or
//! files, and checks everything at start-up, naming the offending setting.
//!
//! This module reads only the files the configuration names; it never logs a secret
//! (every secret is a [`Secret`], whose `Debug` is redacted).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::cli::{parse_duration, LogFormat, SettingsArgs};

/// Prefix of every environment variable of the connector.
pub const ENV_PREFIX: &str = "STREAK_CONNECTOR_";
/// Prefix of librdkafka passthrough variables: `STREAK_CONNECTOR_KAFKA__SASL_MECHANISM`
/// sets `sasl.mechanism`.
pub const KAFKA_ENV_PREFIX: &str = "STREAK_CONNECTOR_KAFKA__";

/// A configuration error: always fatal at start-up, always naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting {setting}: {message}")]
    Invalid { setting: String, message: String },
    #[error("cannot read {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "no Streak API key: set STREAK_CONNECTOR_API_KEYS (comma-separated) or --api-key-file PATH"
    )]
    NoApiKeys,
}

fn invalid(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_string(),
        message: message.into(),
    }
}

/// A secret string: API keys, passwords. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

// ---------------------------------------------------------------------------
// The raw file layer
// ---------------------------------------------------------------------------

/// The TOML file as typed. Top-level keys are the flag names in snake case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub streak_base_url: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub kafka_bootstrap_servers: Option<String>,
    pub events_topic: Option<String>,
    pub state_topic: Option<String>,
    pub connector_name: Option<String>,
    pub poll_interval: Option<String>,
    pub inactive_after: Option<String>,
    pub schema_registry_url: Option<String>,
    pub metrics_listen: Option<String>,
    pub log_format: Option<LogFormat>,
    /// Fraction of the poll interval used as random jitter (default 0.1 = ±10%).
    pub poll_jitter: Option<f64>,
    /// Organizations polled at the same time at most (default 4).
    pub max_concurrent_polls: Option<usize>,
    /// `/readyz` fails once an organization's polls failed this many times in a row
    /// (default 3).
    pub ready_max_consecutive_failures: Option<u32>,
    #[serde(default)]
    pub streak: StreakFile,
    #[serde(default)]
    pub kafka: KafkaFile,
    #[serde(default)]
    pub guard: GuardFile,
    #[serde(default)]
    pub schema_registry: RegistryFile,
}

/// `[streak]`: the API client's tuning.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreakFile {
    pub connect_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub rate_limit_per_second: Option<u32>,
    pub retry_base: Option<String>,
    pub retry_cap: Option<String>,
    pub retry_max_attempts: Option<u32>,
    pub retry_deadline: Option<String>,
}

/// `[kafka]`: topics and librdkafka passthrough.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaFile {
    /// Partitions of topics the connector creates (default 6 events, 6 state).
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    pub transaction_timeout: Option<String>,
    /// `verify` (default): create missing topics and refuse a state topic that is not
    /// compacted. `trust`: create and describe nothing (clusters where the connector
    /// may not, and librdkafka's mock cluster).
    pub topic_policy: Option<TopicPolicySetting>,
    /// Any librdkafka property, passed through to the producer and consumers.
    #[serde(default)]
    pub properties: BTreeMap<String, toml::Value>,
}

/// How topics are treated at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicPolicySetting {
    /// Create missing topics; refuse a state topic that is not compacted.
    Verify,
    /// Create and check nothing.
    Trust,
}

/// `[guard]`: the departure guard.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardFile {
    pub min_departures: Option<usize>,
    pub max_departure_fraction: Option<f64>,
}

/// `[schema_registry]`: credentials by file (or env, see docs).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

// ---------------------------------------------------------------------------
// The validated configuration
// ---------------------------------------------------------------------------

/// The Streak API client's settings.
#[derive(Debug, Clone)]
pub struct StreakSettings {
    pub base_url: Url,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
    pub rate_limit_per_second: u32,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub retry_max_attempts: u32,
    pub retry_deadline: Duration,
}

/// Kafka settings.
#[derive(Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// librdkafka properties passed through (may hold secrets: redacted in `Debug`).
    pub properties: BTreeMap<String, String>,
    pub events_topic: String,
    pub state_topic: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub transaction_timeout: Duration,
    pub topic_policy: TopicPolicySetting,
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let props: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("properties", &props)
            .field("events_topic", &self.events_topic)
            .field("state_topic", &self.state_topic)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("transaction_timeout", &self.transaction_timeout)
            .field("topic_policy", &self.topic_policy)
            .finish()
    }
}

/// Whether a librdkafka property holds a secret (passwords, keys, tokens).
pub fn is_secret_property(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "key.pem",
        "token",
        "sasl.jaas",
        "private",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// The departure guard's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardSettings {
    pub min_departures: usize,
    pub max_departure_fraction: f64,
}

/// Schema Registry connection.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub streak: StreakSettings,
    /// One key per organization.
    pub api_keys: Vec<Secret>,
    pub kafka: KafkaSettings,
    pub connector_name: String,
    pub poll_interval: Duration,
    pub poll_jitter: f64,
    pub inactive_after: Duration,
    pub guard: GuardSettings,
    pub schema_registry: Option<RegistrySettings>,
    pub metrics_listen: SocketAddr,
    pub log_format: LogFormat,
    pub max_concurrent_polls: usize,
    pub ready_max_consecutive_failures: u32,
    /// Bearer token for the admin endpoints (departure-guard release); they are off
    /// without one.
    pub admin_token: Option<Secret>,
}

/// Defaults, named so docs and code agree.
pub mod defaults {
    pub const STREAK_BASE_URL: &str = "https://api.streak.com/api/v1";
    pub const KAFKA_BOOTSTRAP_SERVERS: &str = "localhost:9092";
    pub const EVENTS_TOPIC: &str = "streak.membership.events";
    pub const STATE_TOPIC: &str = "streak.membership.state";
    pub const CONNECTOR_NAME: &str = "streak-connector";
    pub const POLL_INTERVAL: &str = "5m";
    pub const INACTIVE_AFTER: &str = "30d";
    pub const METRICS_LISTEN: &str = "0.0.0.0:9464";
    pub const POLL_JITTER: f64 = 0.1;
    pub const MAX_CONCURRENT_POLLS: usize = 4;
    pub const READY_MAX_CONSECUTIVE_FAILURES: u32 = 3;
    pub const CONNECT_TIMEOUT: &str = "30s";
    pub const REQUEST_TIMEOUT: &str = "30s";
    pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
    pub const RATE_LIMIT_PER_SECOND: u32 = 4;
    pub const RETRY_BASE: &str = "500ms";
    pub const RETRY_CAP: &str = "60s";
    pub const RETRY_MAX_ATTEMPTS: u32 = 6;
    pub const RETRY_DEADLINE: &str = "5m";
    pub const PARTITIONS: i32 = 6;
    pub const REPLICATION_FACTOR: i32 = 3;
    pub const TRANSACTION_TIMEOUT: &str = "60s";
    pub const MIN_DEPARTURES: usize = 10;
    pub const MAX_DEPARTURE_FRACTION: f64 = 0.2;
}

/// The environment as a map, so tests can supply their own.
pub type Env = BTreeMap<String, String>;

/// The process environment, restricted to the connector's variables.
pub fn process_env() -> Env {
    std::env::vars()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect()
}

fn duration(setting: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_duration(value).map_err(|e| invalid(setting, e))
}

fn pick_duration(
    setting: &str,
    flag: Option<Duration>,
    file: Option<&String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    match (flag, file) {
        (Some(d), _) => Ok(d),
        (None, Some(s)) => duration(setting, s),
        (None, None) => duration(setting, default),
    }
}

impl Config {
    /// Merges file, environment and flags; reads secrets; validates.
    ///
    /// `env` holds the `STREAK_CONNECTOR_*` variables; flags that clap already
    /// merged with their own variables arrive in `args`.
    pub fn load(args: &SettingsArgs, env: &Env) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file_config(path)?,
            None => FileConfig::default(),
        };
        Self::from_layers(args, &file, env)
    }

    /// The merge and validation, without touching the config file.
    pub fn from_layers(
        args: &SettingsArgs,
        file: &FileConfig,
        env: &Env,
    ) -> Result<Config, ConfigError> {
        let base_url_text = args
            .streak_base_url
            .clone()
            .or_else(|| file.streak_base_url.clone())
            .unwrap_or_else(|| defaults::STREAK_BASE_URL.into());
        let base_url = validate_base_url("streak_base_url (--streak-base-url)", &base_url_text)?;

        let s = &file.streak;
        let streak = StreakSettings {
            base_url,
            connect_timeout: pick_duration(
                "streak.connect_timeout",
                None,
                s.connect_timeout.as_ref(),
                defaults::CONNECT_TIMEOUT,
            )?,
            request_timeout: pick_duration(
                "streak.request_timeout",
                None,
                s.request_timeout.as_ref(),
                defaults::REQUEST_TIMEOUT,
            )?,
            max_body_bytes: s.max_body_bytes.unwrap_or(defaults::MAX_BODY_BYTES),
            rate_limit_per_second: s
                .rate_limit_per_second
                .unwrap_or(defaults::RATE_LIMIT_PER_SECOND),
            retry_base: pick_duration(
                "streak.retry_base",
                None,
                s.retry_base.as_ref(),
                defaults::RETRY_BASE,
            )?,
            retry_cap: pick_duration(
                "streak.retry_cap",
                None,
                s.retry_cap.as_ref(),
                defaults::RETRY_CAP,
            )?,
            retry_max_attempts: s.retry_max_attempts.unwrap_or(defaults::RETRY_MAX_ATTEMPTS),
            retry_deadline: pick_duration(
                "streak.retry_deadline",
                None,
                s.retry_deadline.as_ref(),
                defaults::RETRY_DEADLINE,
            )?,
        };
        if streak.max_body_bytes < 1024 {
            return Err(invalid("streak.max_body_bytes", "must be at least 1024"));
        }
        if streak.rate_limit_per_second == 0 || streak.rate_limit_per_second > 10 {
            return Err(invalid(
                "streak.rate_limit_per_second",
                "must be between 1 and 10 (Streak asks to be told before anyone exceeds 10 requests a second)",
            ));
        }
        if streak.retry_max_attempts == 0 {
            return Err(invalid("streak.retry_max_attempts", "must be at least 1"));
        }
        if streak.retry_base.is_zero() || streak.retry_cap < streak.retry_base {
            return Err(invalid(
                "streak.retry_base",
                "must be positive and not above streak.retry_cap",
            ));
        }

        let api_keys = load_api_keys(
            args.api_key_file.as_ref().or(file.api_key_file.as_ref()),
            env,
        )?;

        let mut properties = BTreeMap::new();
        for (k, v) in &file.kafka.properties {
            let value = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(invalid(
                        &format!("kafka.properties.{k}"),
                        "must be a string, number or boolean",
                    ))
                }
            };
            properties.insert(k.clone(), value);
        }
        for (k, v) in env {
            if let Some(rest) = k.strip_prefix(KAFKA_ENV_PREFIX) {
                if rest.is_empty() {
                    continue;
                }
                properties.insert(rest.to_ascii_lowercase().replace('_', "."), v.clone());
            }
        }
        for reserved in ["transactional.id", "bootstrap.servers", "isolation.level"] {
            if properties.contains_key(reserved) {
                return Err(invalid(
                    &format!("kafka.properties.{reserved}"),
                    "is set by the connector itself and cannot be passed through",
                ));
            }
        }

        let bootstrap_servers = args
            .kafka_bootstrap_servers
            .clone()
            .or_else(|| file.kafka_bootstrap_servers.clone())
            .unwrap_or_else(|| defaults::KAFKA_BOOTSTRAP_SERVERS.into());
        if bootstrap_servers.trim().is_empty() {
            return Err(invalid(
                "kafka_bootstrap_servers (--kafka-bootstrap-servers)",
                "is empty",
            ));
        }
        let events_topic = args
            .events_topic
            .clone()
            .or_else(|| file.events_topic.clone())
            .unwrap_or_else(|| defaults::EVENTS_TOPIC.into());
        let state_topic = args
            .state_topic
            .clone()
            .or_else(|| file.state_topic.clone())
            .unwrap_or_else(|| defaults::STATE_TOPIC.into());
        validate_topic("events_topic (--events-topic)", &events_topic)?;
        validate_topic("state_topic (--state-topic)", &state_topic)?;
        if events_topic == state_topic {
            return Err(invalid(
                "state_topic (--state-topic)",
                "must differ from the events topic",
            ));
        }
        let partitions = file.kafka.partitions.unwrap_or(defaults::PARTITIONS);
        if partitions < 1 {
            return Err(invalid("kafka.partitions", "must be at least 1"));
        }
        let replication_factor = file
            .kafka
            .replication_factor
            .unwrap_or(defaults::REPLICATION_FACTOR);
        if replication_factor < 1 {
            return Err(invalid("kafka.replication_factor", "must be at least 1"));
        }
        let transaction_timeout = pick_duration(
            "kafka.transaction_timeout",
            None,
            file.kafka.transaction_timeout.as_ref(),
            defaults::TRANSACTION_TIMEOUT,
        )?;
        if transaction_timeout < Duration::from_secs(1) {
            return Err(invalid("kafka.transaction_timeout", "must be at least 1s"));
        }

        let connector_name = args
            .connector_name
            .clone()
            .or_else(|| file.connector_name.clone())
            .unwrap_or_else(|| defaults::CONNECTOR_NAME.into());
        if connector_name.is_empty()
            || connector_name.len() > 200
            || !connector_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(invalid(
                "connector_name (--connector-name)",
                "must be 1 to 200 characters of letters, digits, '.', '_' or '-'",
            ));
        }

        let poll_interval = pick_duration(
            "poll_interval (--poll-interval)",
            args.poll_interval,
            file.poll_interval.as_ref(),
            defaults::POLL_INTERVAL,
        )?;
        if poll_interval < Duration::from_secs(1) {
            return Err(invalid(
                "poll_interval (--poll-interval)",
                "must be at least 1s",
            ));
        }
        let inactive_after = pick_duration(
            "inactive_after (--inactive-after)",
            args.inactive_after,
            file.inactive_after.as_ref(),
            defaults::INACTIVE_AFTER,
        )?;
        if inactive_after.is_zero() {
            return Err(invalid(
                "inactive_after (--inactive-after)",
                "must be positive",
            ));
        }
        let poll_jitter = file.poll_jitter.unwrap_or(defaults::POLL_JITTER);
        if !(0.0..=0.5).contains(&poll_jitter) {
            return Err(invalid("poll_jitter", "must be between 0 and 0.5"));
        }

        let guard = GuardSettings {
            min_departures: file
                .guard
                .min_departures
                .unwrap_or(defaults::MIN_DEPARTURES),
            max_departure_fraction: file
                .guard
                .max_departure_fraction
                .unwrap_or(defaults::MAX_DEPARTURE_FRACTION),
        };
        if !(0.0..=1.0).contains(&guard.max_departure_fraction) {
            return Err(invalid(
                "guard.max_departure_fraction",
                "must be between 0 and 1",
            ));
        }

        let schema_registry = match args
            .schema_registry_url
            .clone()
            .or_else(|| file.schema_registry_url.clone())
        {
            None => None,
            Some(u) if u.trim().is_empty() => None,
            Some(u) => {
                let url = Url::parse(u.trim()).map_err(|e| {
                    invalid(
                        "schema_registry_url (--schema-registry-url)",
                        format!("{u:?}: {e}"),
                    )
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(
                        "schema_registry_url (--schema-registry-url)",
                        "must be an http or https URL",
                    ));
                }
                let username = env
                    .get("STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME")
                    .cloned()
                    .or_else(|| file.schema_registry.username.clone());
                let password = match env.get("STREAK_CONNECTOR_SCHEMA_REGISTRY_PASSWORD") {
                    Some(p) => Some(Secret::new(p.clone())),
                    None => match &file.schema_registry.password_file {
                        Some(path) => Some(Secret::new(read_secret_file(
                            "schema registry password file",
                            path,
                        )?)),
                        None => None,
                    },
                };
                if username.is_some() != password.is_some() {
                    return Err(invalid(
                        "schema registry credentials",
                        "set both the username (STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME or schema_registry.username) and the password (STREAK_CONNECTOR_SCHEMA_REGISTRY_PASSWORD or schema_registry.password_file), or neither",
                    ));
                }
                Some(RegistrySettings {
                    url,
                    username,
                    password,
                })
            }
        };

        let listen_text = args
            .metrics_listen
            .clone()
            .or_else(|| file.metrics_listen.clone())
            .unwrap_or_else(|| defaults::METRICS_LISTEN.into());
        let metrics_listen: SocketAddr = listen_text.parse().map_err(|e| {
            invalid(
                "metrics_listen (--metrics-listen)",
                format!("{listen_text:?} is not an address such as 0.0.0.0:9464: {e}"),
            )
        })?;

        let max_concurrent_polls = file
            .max_concurrent_polls
            .unwrap_or(defaults::MAX_CONCURRENT_POLLS);
        if max_concurrent_polls == 0 {
            return Err(invalid("max_concurrent_polls", "must be at least 1"));
        }
        let ready_max_consecutive_failures = file
            .ready_max_consecutive_failures
            .unwrap_or(defaults::READY_MAX_CONSECUTIVE_FAILURES);

        let admin_token = env
            .get("STREAK_CONNECTOR_ADMIN_TOKEN")
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret::new(t.trim()));
        if let Some(t) = &admin_token {
            if t.expose().len() < 16 {
                return Err(invalid(
                    "STREAK_CONNECTOR_ADMIN_TOKEN",
                    "must be at least 16 characters",
                ));
            }
        }

        Ok(Config {
            streak,
            api_keys,
            kafka: KafkaSettings {
                bootstrap_servers,
                properties,
                events_topic,
                state_topic,
                partitions,
                replication_factor,
                transaction_timeout,
                topic_policy: file
                    .kafka
                    .topic_policy
                    .unwrap_or(TopicPolicySetting::Verify),
            },
            connector_name,
            poll_interval,
            poll_jitter,
            inactive_after,
            guard,
            schema_registry,
            metrics_listen,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            max_concurrent_polls,
            ready_max_consecutive_failures,
            admin_token,
        })
    }
}

/// Parses the TOML config file.
pub fn read_file_config(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        what: "config file",
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The Streak base URL: HTTPS, or plain HTTP to a loopback address only (anything
/// else would send the API key in clear). The rule is the client's own
/// ([`crate::streak::ClientConfig::validate`]); this names the setting as the user
/// typed it.
pub fn validate_base_url(setting: &str, text: &str) -> Result<Url, ConfigError> {
    crate::streak::ClientConfig::with_base_url(text.trim())
        .map(|c| c.base_url)
        .map_err(|e| {
            let reason = match e {
                crate::streak::ApiError::Config { reason, .. } => reason,
                other => other.to_string(),
            };
            invalid(setting, format!("{text:?}: {reason}"))
        })
}

fn validate_topic(setting: &str, topic: &str) -> Result<(), ConfigError> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            setting,
            format!("{topic:?} is not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"),
        ))
    }
}

fn read_secret_file(what: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| ConfigError::Io {
            what,
            path: path.to_path_buf(),
            source,
        })
}

/// API keys from `STREAK_CONNECTOR_API_KEYS` and/or the key file or directory.
/// Blank lines and `#` comments are skipped; duplicates are dropped.
pub fn load_api_keys(file: Option<&PathBuf>, env: &Env) -> Result<Vec<Secret>, ConfigError> {
    let mut keys: Vec<String> = Vec::new();
    if let Some(list) = env.get("STREAK_CONNECTOR_API_KEYS") {
        keys.extend(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from),
        );
    }
    if let Some(path) = file {
        let meta = std::fs::metadata(path).map_err(|source| ConfigError::Io {
            what: "API key file",
            path: path.clone(),
            source,
        })?;
        let mut files = Vec::new();
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| ConfigError::Io {
                what: "API key directory",
                path: path.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                // Kubernetes mounts secrets through `..data` symlinks and hidden
                // timestamped folders: only the visible entries are keys.
                if name.starts_with('.') {
                    continue;
                }
                if std::fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false) {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.clone());
        }
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| ConfigError::Io {
                what: "API key file",
                path: f.clone(),
                source,
            })?;
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    for (i, k) in keys.iter().enumerate() {
        if k.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(
                "API keys",
                format!("key #{} contains whitespace or control characters", i + 1),
            ));
        }
    }
    if keys.is_empty() {
        return Err(ConfigError::NoApiKeys);
    }
    Ok(keys.into_iter().map(Secret::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn keys_env() -> Env {
        env(&[("STREAK_CONNECTOR_API_KEYS", "k1,k2")])
    }

    #[test]
    fn defaults_apply() {
        let c = Config::from_layers(
            &SettingsArgs::default(),
            &FileConfig::default(),
            &keys_env(),
        )
        .expect("valid");
        assert_eq!(c.streak.base_url.as_str(), "https://api.streak.com/api/v1");
        assert_eq!(c.kafka.events_topic, "streak.membership.events");
        assert_eq!(c.kafka.state_topic, "streak.membership.state");
        assert_eq!(c.connector_name, "streak-connector");
        assert_eq!(c.poll_interval, Duration::from_secs(300));
        assert_eq!(c.inactive_after, Duration::from_secs(30 * 86_400));
        assert_eq!(c.metrics_listen.to_string(), "0.0.0.0:9464");
        assert_eq!(c.api_keys.len(), 2);
        assert_eq!(c.guard.min_departures, 10);
    }

    #[test]
    fn flags_beat_file() {
        let file: FileConfig = toml::from_str(
            "events_topic = \"from-file\"\nstate_topic = \"state-file\"\npoll_interval = \"10m\"",
        )
        .expect("toml");
        let args = SettingsArgs {
            events_topic: Some("from-flag".into()),
            ..Default::default()
        };
        let c = Config::from_layers(&args, &file, &keys_env()).expect("valid");
        assert_eq!(c.kafka.events_topic, "from-flag");
        assert_eq!(c.kafka.state_topic, "state-file");
        assert_eq!(c.poll_interval, Duration::from_secs(600));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let err = toml::from_str::<FileConfig>("pol_interval = \"5m\"").expect_err("refused");
        assert!(err.to_string().contains("pol_interval"), "{err}");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080/api/v1",
            "http://localhost/api/v1",
            "http://[::1]:1/api/v1",
        ] {
            validate_base_url("s", ok).expect(ok);
        }
        let err = validate_base_url("streak_base_url", "http://api.streak.com/api/v1")
            .expect_err("refused");
        assert!(err.to_string().contains("streak_base_url"), "{err}");
        assert!(err.to_string().contains("in clear"), "{err}");
    }

    #[test]
    fn kafka_passthrough_from_file_and_env_redacted() {
        let file: FileConfig = toml::from_str(
            "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"linger.ms\" = 5",
        )
        .expect("toml");
        let mut e = keys_env();
        e.insert(
            "STREAK_CONNECTOR_KAFKA__SASL_PASSWORD".into(),
            "hunter2hunter2".into(),
        );
        e.insert(
            "STREAK_CONNECTOR_KAFKA__SASL_MECHANISM".into(),
            "SCRAM-SHA-512".into(),
        );
        let c = Config::from_layers(&SettingsArgs::default(), &file, &e).expect("valid");
        assert_eq!(c.kafka.properties["security.protocol"], "SASL_SSL");
        assert_eq!(c.kafka.properties["linger.ms"], "5");
        assert_eq!(c.kafka.properties["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(c.kafka.properties["sasl.password"], "hunter2hunter2");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("k1"), "{dbg}");
    }

    #[test]
    fn reserved_kafka_property_refused() {
        let mut e = keys_env();
        e.insert(
            "STREAK_CONNECTOR_KAFKA__TRANSACTIONAL_ID".into(),
            "x".into(),
        );
        let err = Config::from_layers(&SettingsArgs::default(), &FileConfig::default(), &e)
            .expect_err("refused");
        assert!(err.to_string().contains("transactional.id"), "{err}");
    }

    #[test]
    fn registry_credentials_come_in_pairs() {
        let mut e = keys_env();
        e.insert(
            "STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME".into(),
            "svc".into(),
        );
        let args = SettingsArgs {
            schema_registry_url: Some("http://127.0.0.1:8081".into()),
            ..Default::default()
        };
        let err = Config::from_layers(&args, &FileConfig::default(), &e).expect_err("half");
        assert!(err.to_string().contains("PASSWORD"), "{err}");
    }

    #[test]
    fn no_keys_is_an_error_saying_where_keys_come_from() {
        let err = Config::from_layers(
            &SettingsArgs::default(),
            &FileConfig::default(),
            &Env::new(),
        )
        .expect_err("no keys");
        assert!(err.to_string().contains("STREAK_CONNECTOR_API_KEYS"));
    }

    #[test]
    fn keys_from_file_and_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("org-a"), "keyA\n").expect("write");
        std::fs::write(dir.path().join("org-b"), "# comment\nkeyB\n\n").expect("write");
        std::fs::create_dir(dir.path().join("..2026_11_29")).expect("mkdir");
        let keys = load_api_keys(Some(&dir.path().to_path_buf()), &Env::new()).expect("keys");
        let keys: Vec<&str> = keys.iter().map(Secret::expose).collect();
        assert_eq!(keys, ["keyA", "keyB"]);
        let single = dir.path().join("org-a");
        let keys = load_api_keys(Some(&single), &keys_env()).expect("keys");
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let cases = [
            ("metrics_listen = \"nope\"", "metrics_listen"),
            ("poll_interval = \"0s\"", "poll_interval"),
            ("inactive_after = \"a while\"", "inactive_after"),
            ("events_topic = \"bad topic\"", "events_topic"),
            (
                "[guard]\nmax_departure_fraction = 2.0",
                "guard.max_departure_fraction",
            ),
            (
                "[streak]\nrate_limit_per_second = 50",
                "streak.rate_limit_per_second",
            ),
            ("connector_name = \"a b\"", "connector_name"),
            ("schema_registry_url = \"ftp://x\"", "schema_registry_url"),
        ];
        for (text, setting) in cases {
            let file: FileConfig = toml::from_str(text).expect(text);
            let err =
                Config::from_layers(&SettingsArgs::default(), &file, &keys_env()).expect_err(text);
            assert!(err.to_string().contains(setting), "{text}: {err}");
        }
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// The documented example must stay valid.
    #[test]
    fn example_config_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.toml");
        let mut file = read_file_config(&path).expect("example parses");
        // The example names a key directory that does not exist here.
        file.api_key_file = None;
        let env: Env = [("STREAK_CONNECTOR_API_KEYS".to_string(), "k".to_string())]
            .into_iter()
            .collect();
        let c = Config::from_layers(&SettingsArgs::default(), &file, &env).expect("valid");
        assert_eq!(c.kafka.properties["linger.ms"], "20");
    }
}
