//! The flag layer: the settings every deployment touches, as typed on the command
//! line or in their `STREAK_CONNECTOR_*` variables (clap's `env`). Durations are
//! typed when parsed; nothing else is checked here. [`crate::cli`] flattens these
//! into every command.

use std::path::PathBuf;

use clap::Args;

use super::raw::{parse_duration, LogFormat};

/// The settings every deployment touches. Each is optional here: unset means "take
/// it from the config file, else the default" (see `docs/configuration.md`).
#[derive(Debug, Args, Default)]
pub struct SettingsArgs {
    /// TOML configuration file (lowest precedence: environment and flags override it).
    #[arg(long, global = true, env = "STREAK_CONNECTOR_CONFIG")]
    pub config: Option<PathBuf>,

    /// Streak API base URL [default: https://api.streak.com/api/v1]. HTTPS only,
    /// except for loopback addresses.
    #[arg(long, global = true, env = "STREAK_CONNECTOR_STREAK_BASE_URL")]
    pub streak_base_url: Option<String>,

    /// File with one Streak API key per line, or a directory of key files (a mounted
    /// Kubernetes Secret). `run` re-reads it when it changes, on SIGHUP and every 30 s
    /// (keys of one organization form its pool). Alternative:
    /// STREAK_CONNECTOR_API_KEYS=key1,key2, read once: fixed for the life of the
    /// process.
    #[arg(long, global = true, env = "STREAK_CONNECTOR_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Kafka bootstrap servers, comma-separated [default: localhost:9092].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap_servers: Option<String>,

    /// Topic of the change events [default: streak.membership.events].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_EVENTS_TOPIC")]
    pub events_topic: Option<String>,

    /// Compacted topic of the connector's state [default: streak.membership.state].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_STATE_TOPIC")]
    pub state_topic: Option<String>,

    /// Compacted directory topic (keyed by email, JSON values with a status) for the
    /// continuous reconciliation of `run` and `once`; needs --findings-topic.
    #[arg(long, global = true, env = "STREAK_CONNECTOR_DIRECTORY_TOPIC")]
    pub directory_topic: Option<String>,

    /// Compacted topic of the reconciliation's finding records (created when
    /// absent); needs --directory-topic.
    #[arg(long, global = true, env = "STREAK_CONNECTOR_FINDINGS_TOPIC")]
    pub findings_topic: Option<String>,

    /// Also write every change event to this topic as one OCSF 1.8.0 JSON record, in
    /// the event's transaction (docs/siem.md) [default: off].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_OCSF_TOPIC")]
    pub ocsf_topic: Option<String>,

    /// Partitions of the topics the connector creates: -1 (the broker's
    /// num.partitions) or at least 1 [default: -1].
    #[arg(
        long,
        global = true,
        env = "STREAK_CONNECTOR_KAFKA_PARTITIONS",
        allow_negative_numbers = true
    )]
    pub kafka_partitions: Option<i32>,

    /// Replication factor of the topics the connector creates: -1 (the broker's
    /// default.replication.factor) or at least 1 [default: -1].
    #[arg(
        long,
        global = true,
        env = "STREAK_CONNECTOR_KAFKA_REPLICATION_FACTOR",
        allow_negative_numbers = true
    )]
    pub kafka_replication_factor: Option<i32>,

    /// A state record to read as if it had never been written, as
    /// `<partition>@<offset>` (repeatable; the variable takes a comma-separated
    /// list): the way past an undecodable state record (docs/kafka.md).
    #[arg(
        long = "skip-state-record",
        global = true,
        env = "STREAK_CONNECTOR_SKIP_STATE_RECORDS",
        value_delimiter = ','
    )]
    pub skip_state_records: Vec<String>,

    /// Connector name: the root of the transactional id, so a second instance with
    /// the same name fences the first [default: streak-connector].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_CONNECTOR_NAME")]
    pub connector_name: Option<String>,

    /// Time between polls of one organization, ±10% jitter [default: 5m].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_POLL_INTERVAL", value_parser = parse_duration)]
    pub poll_interval: Option<std::time::Duration>,

    /// A member not seen for longer than this is inactive [default: 30d].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_INACTIVE_AFTER", value_parser = parse_duration)]
    pub inactive_after: Option<std::time::Duration>,

    /// Confluent Schema Registry URL; without one, records use Avro single-object
    /// encoding.
    #[arg(long, global = true, env = "STREAK_CONNECTOR_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,

    /// Address of the HTTP server for /metrics, /healthz and /readyz
    /// [default: 0.0.0.0:9464].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Address of the admin API (guard status, release, reject), on a listener of
    /// its own; off unless STREAK_CONNECTOR_ADMIN_TOKEN is set [default:
    /// 127.0.0.1:9465].
    #[arg(long, global = true, env = "STREAK_CONNECTOR_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,

    /// Log format [default: text].
    #[arg(long, global = true, value_enum, env = "STREAK_CONNECTOR_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}
