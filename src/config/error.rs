//! Configuration errors: always fatal at start-up, always naming the setting as the
//! user typed it, never quoting a secret.

use std::path::PathBuf;

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

pub(super) fn invalid(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_string(),
        message: message.into(),
    }
}

/// A refusal of [`crate::kafka::KafkaConfig::validate`], naming the setting as the
/// user typed it.
pub(super) fn from_kafka(e: crate::kafka::ConfigError) -> ConfigError {
    use crate::kafka::ConfigError as K;
    let setting = match &e {
        K::NoBootstrapServers => "kafka_bootstrap_servers (--kafka-bootstrap-servers)".into(),
        K::ReservedProperty(name) => format!("kafka.properties.{name}"),
        K::InvalidTopicName {
            which: "events", ..
        } => "events_topic (--events-topic)".into(),
        K::InvalidTopicName { which: "OCSF", .. } | K::OcsfTopicReused(_) => {
            "ocsf_topic (--ocsf-topic)".into()
        }
        K::InvalidTopicName { .. } | K::SameTopic(_) => "state_topic (--state-topic)".into(),
        K::Partitions(_) => "kafka.partitions (--kafka-partitions)".into(),
        K::ReplicationFactor(_) => "kafka.replication_factor (--kafka-replication-factor)".into(),
        K::NoTransactionalId => "connector_name (--connector-name)".into(),
        K::TransactionTimeout(_) => "kafka.transaction_timeout".into(),
    };
    invalid(&setting, e.to_string())
}

/// A refusal of [`crate::streak::ClientConfig::validate`], naming the setting as the
/// user typed it. The client's reasons never quote the URL.
pub(super) fn from_streak(e: crate::streak::ApiError) -> ConfigError {
    match e {
        crate::streak::ApiError::Config { setting, reason } => {
            let typed = match setting {
                "base_url" => "streak_base_url (--streak-base-url)",
                "connect_timeout" => "streak.connect_timeout",
                "request_timeout" => "streak.request_timeout",
                "max_body_bytes" => "streak.max_body_bytes",
                "rate_limit_per_sec" => "streak.rate_limit_per_second",
                "retry.max_attempts" => "streak.retry_max_attempts",
                "retry.base" | "retry.cap" => "streak.retry_base",
                "retry.deadline" => "streak.retry_deadline",
                other => other,
            };
            invalid(typed, reason)
        }
        other => invalid("streak", other.to_string()),
    }
}
