//! From the raw layers to the typed [`Config`]: one [`TryFrom`], section by section.
//! Each section starts from its module's own defaults and overrides what the user
//! set (flag, else file, else the module's default); the module's own `validate`
//! then applies its rules, and a refusal is reported under the setting's name as
//! the user typed it. The rules of the connector's own settings are here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::error::{from_kafka, from_streak, invalid, ConfigError};
use super::raw::{FileConfig, LogFormat, RestoreReaderSetting, TopicPolicySetting};
use super::secrets::{admin_token, load_api_key_sources, read_secret_file, Secret};
use super::{
    defaults, Config, Env, GuardSettings, RegistrySettings, SettingsArgs, KAFKA_ENV_PREFIX,
};
use crate::kafka::{KafkaConfig, RecordAt, RestoreReader, TopicPolicy};
use crate::redact::redact_url;
use crate::streak::ClientConfig;

/// The raw layers, lowest precedence first: the file, then the environment
/// (secrets, passthrough properties) and the flags (clap merged flags with their
/// own variables).
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    pub args: &'a SettingsArgs,
    pub file: &'a FileConfig,
    pub env: &'a Env,
}

impl TryFrom<Layers<'_>> for Config {
    type Error = ConfigError;

    fn try_from(layers: Layers<'_>) -> Result<Config, ConfigError> {
        let Layers { args, file, env } = layers;
        let streak = streak_client(args, file)?;
        let api_key_file = args.api_key_file.as_ref().or(file.api_key_file.as_ref());
        let (api_keys, api_keys_from_env) = load_api_key_sources(api_key_file, env)?;
        let connector_name = connector_name(args, file)?;
        let kafka = kafka(args, file, env, &connector_name)?;
        let membership = crate::membership::Settings::default();
        let poll_interval = args
            .poll_interval
            .or(file.poll_interval)
            .unwrap_or(defaults::POLL_INTERVAL);
        if poll_interval < Duration::from_secs(1) {
            return Err(invalid(
                "poll_interval (--poll-interval)",
                "must be at least 1s",
            ));
        }
        let inactive_after =
            args.inactive_after
                .or(file.inactive_after)
                .unwrap_or(Duration::from_millis(
                    membership.inactive_after_ms.unsigned_abs(),
                ));
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
                .unwrap_or(membership.min_departures),
            max_departure_fraction: file
                .guard
                .max_departure_fraction
                .unwrap_or(membership.max_departure_fraction),
            min_inactive: file
                .guard
                .min_inactive
                .unwrap_or(crate::connector::InactivityLimits::default().min_members),
            max_inactive_fraction: file
                .guard
                .max_inactive_fraction
                .unwrap_or(crate::connector::InactivityLimits::default().max_fraction),
        };
        if !(0.0..=1.0).contains(&guard.max_inactive_fraction) {
            return Err(invalid(
                "guard.max_inactive_fraction",
                "must be between 0 and 1",
            ));
        }
        if !(0.0..=1.0).contains(&guard.max_departure_fraction) {
            return Err(invalid(
                "guard.max_departure_fraction",
                "must be between 0 and 1",
            ));
        }
        let max_concurrent_polls = file
            .max_concurrent_polls
            .unwrap_or(defaults::MAX_CONCURRENT_POLLS);
        if max_concurrent_polls == 0 {
            return Err(invalid("max_concurrent_polls", "must be at least 1"));
        }
        let reconcile = super::reconcile::reconcile(args, file, &kafka)?;
        // One transactional producer per organization polled at once, so their
        // commits do not queue behind each other.
        let kafka = KafkaConfig {
            producers: max_concurrent_polls.min(crate::kafka::MAX_PRODUCERS),
            ..kafka
        };
        Ok(Config {
            streak,
            api_keys,
            api_keys_from_env,
            api_key_file: api_key_file.cloned(),
            kafka,
            connector_name,
            poll_interval,
            poll_jitter,
            inactive_after,
            guard,
            schema_registry: registry(args, file, env)?,
            metrics_listen: listen_addr(
                args.metrics_listen.as_deref(),
                file.metrics_listen.as_deref(),
                defaults::METRICS_LISTEN,
                "metrics_listen (--metrics-listen)",
            )?,
            admin_listen: listen_addr(
                args.admin_listen.as_deref(),
                file.admin_listen.as_deref(),
                defaults::ADMIN_LISTEN,
                "admin_listen (--admin-listen)",
            )?,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            max_concurrent_polls,
            ready_max_consecutive_failures: file
                .ready_max_consecutive_failures
                .unwrap_or(defaults::READY_MAX_CONSECUTIVE_FAILURES),
            admin_token: admin_token(env)?,
            reconcile,
            ocsf_severity: file.ocsf.severity,
        })
    }
}

/// The Streak client's settings: its defaults, what the user set, its rules.
fn streak_client(args: &SettingsArgs, file: &FileConfig) -> Result<ClientConfig, ConfigError> {
    let base_url = match args
        .streak_base_url
        .as_ref()
        .or(file.streak_base_url.as_ref())
    {
        Some(text) => validate_base_url("streak_base_url (--streak-base-url)", text)?,
        None => ClientConfig::default().base_url,
    };
    let s = &file.streak;
    let mut c = ClientConfig {
        base_url,
        ..ClientConfig::default()
    };
    c.connect_timeout = s.connect_timeout.unwrap_or(c.connect_timeout);
    c.request_timeout = s.request_timeout.unwrap_or(c.request_timeout);
    c.max_body_bytes = s.max_body_bytes.unwrap_or(c.max_body_bytes);
    c.rate_limit_per_sec = s.rate_limit_per_second.unwrap_or(c.rate_limit_per_sec);
    c.retry.base = s.retry_base.unwrap_or(c.retry.base);
    c.retry.cap = s.retry_cap.unwrap_or(c.retry.cap);
    c.retry.max_attempts = s.retry_max_attempts.unwrap_or(c.retry.max_attempts);
    c.retry.deadline = s.retry_deadline.unwrap_or(c.retry.deadline);
    c.validate().map_err(from_streak)?;
    Ok(c)
}

/// The Streak base URL: the client's rule (HTTPS, or plain HTTP to a loopback
/// address only), reported under `setting`. The URL is quoted without credentials.
pub(crate) fn validate_base_url(setting: &str, text: &str) -> Result<Url, ConfigError> {
    ClientConfig::with_base_url(text.trim())
        .map(|c| c.base_url)
        .map_err(|e| match from_streak(e) {
            ConfigError::Invalid { message, .. } => {
                invalid(setting, format!("{:?}: {message}", redact_url(text.trim())))
            }
            other => other,
        })
}

/// The transactional id: derived from the connector name only, so a second
/// instance with the same name fences the first.
fn transactional_id(connector_name: &str) -> String {
    format!("{connector_name}.membership")
}

fn connector_name(args: &SettingsArgs, file: &FileConfig) -> Result<String, ConfigError> {
    let name = args
        .connector_name
        .clone()
        .or_else(|| file.connector_name.clone())
        .unwrap_or_else(|| defaults::CONNECTOR_NAME.into());
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(invalid(
            "connector_name (--connector-name)",
            "must be 1 to 200 characters of letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(name)
}

/// The Kafka layer's settings: its defaults, what the user set, its rules.
fn kafka(
    args: &SettingsArgs,
    file: &FileConfig,
    env: &Env,
    connector_name: &str,
) -> Result<KafkaConfig, ConfigError> {
    let bootstrap = args
        .kafka_bootstrap_servers
        .clone()
        .or_else(|| file.kafka_bootstrap_servers.clone())
        .unwrap_or_else(|| defaults::KAFKA_BOOTSTRAP_SERVERS.into());
    let k = &file.kafka;
    let mut c = KafkaConfig::new(bootstrap, transactional_id(connector_name));
    c.properties = passthrough(file, env)?;
    if let Some(t) = args.events_topic.as_ref().or(file.events_topic.as_ref()) {
        c.events_topic = t.clone();
    }
    if let Some(t) = args.state_topic.as_ref().or(file.state_topic.as_ref()) {
        c.state_topic = t.clone();
    }
    c.ocsf_topic = args
        .ocsf_topic
        .clone()
        .or_else(|| file.ocsf_topic.clone())
        .filter(|t| !t.trim().is_empty());
    c.partitions = args
        .kafka_partitions
        .or(k.partitions)
        .unwrap_or(c.partitions);
    c.replication_factor = args
        .kafka_replication_factor
        .or(k.replication_factor)
        .unwrap_or(c.replication_factor);
    c.transaction_timeout = k.transaction_timeout.unwrap_or(c.transaction_timeout);
    c.topic_policy = match k.topic_policy {
        None | Some(TopicPolicySetting::Verify) => TopicPolicy::CreateAndVerify,
        Some(TopicPolicySetting::Trust) => TopicPolicy::Trust,
    };
    c.restore_reader = match k.restore_reader {
        None | Some(RestoreReaderSetting::Auto) => RestoreReader::Auto,
        Some(RestoreReaderSetting::Librdkafka) => RestoreReader::Librdkafka,
    };
    c.skip_state_records = skip_state_records(args, k)?;
    c.validate().map_err(from_kafka)?;
    Ok(c)
}

/// `--skip-state-record` (or its variable) if given, else `kafka.skip_state_records`.
fn skip_state_records(
    args: &SettingsArgs,
    k: &super::raw::KafkaFile,
) -> Result<BTreeSet<RecordAt>, ConfigError> {
    const SETTING: &str = "kafka.skip_state_records (--skip-state-record)";
    let typed: &[String] = if args.skip_state_records.is_empty() {
        k.skip_state_records.as_deref().unwrap_or_default()
    } else {
        &args.skip_state_records
    };
    typed
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.parse::<RecordAt>().map_err(|m| invalid(SETTING, m)))
        .collect()
}

/// librdkafka properties from `[kafka.properties]`, then from
/// `STREAK_CONNECTOR_KAFKA__*` (`..._SASL_MECHANISM` sets `sasl.mechanism`). The
/// double underscore keeps them apart from the connector's own `STREAK_CONNECTOR_KAFKA_*`
/// settings.
pub fn passthrough(file: &FileConfig, env: &Env) -> Result<BTreeMap<String, String>, ConfigError> {
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
    Ok(properties)
}

fn registry(
    args: &SettingsArgs,
    file: &FileConfig,
    env: &Env,
) -> Result<Option<RegistrySettings>, ConfigError> {
    const SETTING: &str = "schema_registry_url (--schema-registry-url)";
    let text = match args
        .schema_registry_url
        .as_ref()
        .or(file.schema_registry_url.as_ref())
    {
        Some(u) if !u.trim().is_empty() => u.trim(),
        _ => return Ok(None),
    };
    let url =
        Url::parse(text).map_err(|e| invalid(SETTING, format!("{:?}: {e}", redact_url(text))))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(SETTING, "must be an http or https URL"));
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
    Ok(Some(RegistrySettings {
        url,
        username,
        password,
    }))
}

/// A listen address: the flag (or its variable), else the file, else `default`.
fn listen_addr(
    flag: Option<&str>,
    file: Option<&str>,
    default: &str,
    setting: &'static str,
) -> Result<SocketAddr, ConfigError> {
    let text = flag.or(file).unwrap_or(default);
    text.parse().map_err(|e| {
        invalid(
            setting,
            format!("{text:?} is not an address such as {default}: {e}"),
        )
    })
}
