//! The command line: commands and the flags every deployment touches.
//!
//! Each setting flag is also read from `STREAK_CONNECTOR_<FLAG_IN_UPPER_SNAKE>` (clap's
//! `env`), and from the TOML file given by `--config`; [`crate::config`] merges the
//! layers (file < environment < flag) and validates the result. Secrets are never
//! flags: API keys come from `STREAK_CONNECTOR_API_KEYS` or `--api-key-file`, other
//! secrets from environment variables or files.
//!
//! This module only describes the command line; it must not read files or the
//! environment beyond what clap does.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Change data capture for Streak CRM organization membership into Kafka.
///
/// Polls the Streak API for the members of one or more organizations, detects who
/// joined, left, became or stopped being an admin, changed their profile or went
/// inactive, and publishes each change as an Avro record to Kafka, exactly once.
#[derive(Debug, Parser)]
#[command(name = "streak-connector", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll every organization forever (the production mode).
    Run,
    /// Poll every organization once, then exit: 0 if every poll succeeded.
    Once(OnceArgs),
    /// Everything in-process: a Streak simulator, an in-process Kafka cluster, the
    /// real pipeline; prints the decoded events as they happen.
    Demo(DemoArgs),
    /// Validate the configuration and reach Streak (every key), Kafka (topics and
    /// their configs) and the Schema Registry, without writing anything.
    Check,
    /// Consume a topic (read committed) and print its decoded records as JSON lines.
    Tail(TailArgs),
    /// Print the embedded Avro schemas, or write them to a directory.
    Schemas(SchemasArgs),
    /// Serve the Streak API simulator (scenarios, timelines, injected faults).
    Simulate(crate::simulator::cli::SimulateArgs),
}

/// Flags of `once`.
#[derive(Debug, Args)]
pub struct OnceArgs {
    /// Restore state and poll, then print the events that would be published,
    /// writing nothing to Kafka.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop after this many poll cycles (default: run until Ctrl-C).
    #[arg(long)]
    pub cycles: Option<u64>,
    /// Time between polls in the demo.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub demo_interval: std::time::Duration,
}

/// Where `tail` starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TailFrom {
    /// The first retained record of each partition.
    Beginning,
    /// Only records written after `tail` started.
    End,
}

/// Flags of `tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Topic to read: `events` (the events topic), `state` (the state topic), or a
    /// topic name.
    #[arg(long, default_value = "events")]
    pub topic: String,
    /// Where to start.
    #[arg(long, value_enum, default_value_t = TailFrom::Beginning)]
    pub from: TailFrom,
    /// Exit after printing this many records.
    #[arg(long)]
    pub max_records: Option<u64>,
    /// Exit when no record arrived for this long (default: follow forever).
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<std::time::Duration>,
}

/// Flags of `schemas`.
#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// Write the schema files into this directory instead of printing them.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

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
    /// Kubernetes Secret). Alternative: STREAK_CONNECTOR_API_KEYS=key1,key2.
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

    /// Log format [default: text].
    #[arg(long, global = true, value_enum, env = "STREAK_CONNECTOR_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// Parses durations such as `90s`, `15m`, `30d`, `1h 30m` (humantime).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_with_units() {
        let cli = Cli::try_parse_from([
            "streak-connector",
            "once",
            "--poll-interval",
            "90s",
            "--inactive-after",
            "30d",
            "--dry-run",
        ])
        .expect("parses");
        assert_eq!(
            cli.settings.poll_interval,
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            cli.settings.inactive_after,
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        assert!(matches!(
            cli.command,
            Command::Once(OnceArgs { dry_run: true })
        ));
    }

    #[test]
    fn bad_duration_names_the_value() {
        let err = Cli::try_parse_from(["streak-connector", "run", "--poll-interval", "soon"])
            .expect_err("rejected");
        assert!(err.to_string().contains("soon"), "{err}");
    }
}
