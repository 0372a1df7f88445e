//! Configuration: what the user typed, then the typed configuration the program
//! runs on.
//!
//! Three layers, lowest first: the TOML file given by `--config` ([`raw`]), then
//! `STREAK_CONNECTOR_*` environment variables, then flags (clap merges the last two
//! into [`SettingsArgs`], the flag layer, in [`flags`]). One [`TryFrom`] ([`typed`]) turns the layers
//! into [`Config`], which hands each module its own config type
//! ([`crate::streak::ClientConfig`], [`crate::kafka::KafkaConfig`]): each default and
//! each rule has one place, the module's own config type for its settings, this
//! module for the connector's. Secrets come from the environment or files
//! ([`secrets`]).
//!
//! This module reads only the files the configuration names; it never logs or
//! prints a secret: every secret is a [`Secret`] (redacted `Debug`), and errors quote
//! URLs through [`crate::redact`].

pub(crate) mod defaults;
mod error;
mod flags;
mod raw;
mod reconcile;
mod secrets;
mod typed;

#[cfg(test)]
mod ocsf_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

pub(crate) use error::ConfigError;
pub(crate) use flags::SettingsArgs;
pub use raw::LogFormat;
pub(crate) use raw::{parse_duration, read_file_config, FileConfig, KafkaFile};
pub use secrets::Secret;
pub use typed::passthrough;
pub(crate) use typed::Layers;

/// Prefix of every environment variable of the connector.
pub const ENV_PREFIX: &str = "STREAK_CONNECTOR_";
/// Prefix of librdkafka passthrough variables: `STREAK_CONNECTOR_KAFKA__SASL_MECHANISM`
/// sets `sasl.mechanism`. Two underscores: the connector's own Kafka settings
/// (`STREAK_CONNECTOR_KAFKA_PARTITIONS`, ...) have one.
pub const KAFKA_ENV_PREFIX: &str = "STREAK_CONNECTOR_KAFKA__";

/// The departure guard's thresholds (defaults: [`crate::membership::Settings`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardSettings {
    pub min_departures: usize,
    pub max_departure_fraction: f64,
    /// The inactivity guard: held when at least `min_inactive` members would turn
    /// inactive at once and more than `max_inactive_fraction` of the known members.
    pub min_inactive: usize,
    pub max_inactive_fraction: f64,
}

/// Schema Registry connection. `Debug` shows the URL without credentials.
#[derive(Clone)]
pub struct RegistrySettings {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("url", &crate::redact::redact_url(self.url.as_str()))
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// The whole typed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Streak client's settings (one client per API key).
    pub streak: crate::streak::ClientConfig,
    /// One key per organization.
    pub api_keys: Vec<Secret>,
    /// How many of `api_keys` (the first ones) come from `STREAK_CONNECTOR_API_KEYS`:
    /// fixed for the life of the process.
    pub api_keys_from_env: usize,
    /// The key file or directory (`--api-key-file`), re-read by `run`.
    pub api_key_file: Option<std::path::PathBuf>,
    /// The Kafka layer's settings, with the transactional id derived from
    /// `connector_name` and the topic policy.
    pub kafka: crate::kafka::KafkaConfig,
    pub connector_name: String,
    pub poll_interval: Duration,
    pub poll_jitter: f64,
    pub inactive_after: Duration,
    pub guard: GuardSettings,
    pub schema_registry: Option<RegistrySettings>,
    pub metrics_listen: SocketAddr,
    /// The admin API's own listener (served only with an admin token).
    pub admin_listen: SocketAddr,
    pub log_format: LogFormat,
    pub max_concurrent_polls: usize,
    pub ready_max_consecutive_failures: u32,
    /// Bearer token for the admin endpoints (departure-guard release); they are off
    /// without one.
    pub admin_token: Option<Secret>,
    /// The continuous reconciliation (`--directory-topic`, `--findings-topic`),
    /// off when neither is set.
    pub reconcile: Option<crate::connector::reconcile::ReconcileSettings>,
    /// Severity of each kind of change in OCSF and ECS records (`[ocsf.severity]`);
    /// the OCSF topic itself is `kafka.ocsf_topic`.
    pub ocsf_severity: crate::siem::Severities,
}

/// The environment as a map, so tests can supply their own.
pub type Env = BTreeMap<String, String>;

/// The process environment, restricted to the connector's variables.
pub fn process_env() -> Env {
    std::env::vars()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect()
}

impl Config {
    /// Reads the config file (if any), merges it with the environment and flags,
    /// reads secrets, validates.
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
        Config::try_from(Layers { args, file, env })
    }
}
