//! The command line: commands and the flags every deployment touches.
//!
//! The setting flags ([`SettingsArgs`]) belong to the configuration's raw layer
//! ([`crate::config`]): each is also read from `STREAK_CONNECTOR_<FLAG_IN_UPPER_SNAKE>`
//! (clap's `env`), and from the TOML file given by `--config`; the configuration
//! merges the layers (file < environment < flag) and validates the result. Secrets are never
//! flags: API keys come from `STREAK_CONNECTOR_API_KEYS` or `--api-key-file`, other
//! secrets from environment variables or files.
//!
//! This module only describes the command line; it must not read files or the
//! environment beyond what clap does.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{parse_duration, SettingsArgs};

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
    /// Print every organization's members (the audit), or with --inactive the
    /// offboarding review, from the state topic (read only) or --live from Streak.
    Audit(crate::app::AuditArgs),
    /// Compare each organization's members with a directory file by email; exits 3
    /// when there are findings (0 with --report-only).
    Reconcile(crate::app::ReconcileArgs),
    /// Print the embedded Avro schemas, or write them to a directory.
    Schemas(SchemasArgs),
    /// Ask a running connector for its status (`/status` on its metrics listener)
    /// and print it: each organization's state, last success, poll sequence,
    /// members and keys.
    Status(crate::app::StatusArgs),
    /// Serve the Streak API simulator (scenarios, timelines, injected faults).
    Simulate(crate::simulator::cli::SimulateArgs),
    /// The guard's holds on a running connector (through its admin API).
    #[command(subcommand)]
    Guard(GuardCommand),
}

/// `guard`: talks to the admin API of a running connector (`--admin-listen`, the
/// token in STREAK_CONNECTOR_ADMIN_TOKEN).
#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Show every hold: organization, kind, poll, count, the members concerned.
    Status,
    /// Let the held poll of ORG through once, if it concerns exactly N members.
    Release {
        #[arg(long)]
        org: String,
        /// The count `guard status` shows.
        #[arg(long)]
        expect: usize,
    },
    /// Keep the members of ORG as they are; stop holding until the listing changes.
    Reject {
        #[arg(long)]
        org: String,
    },
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
    /// How to print the events: the decoded Avro as JSON, or OCSF 1.8.0 or ECS
    /// records (docs/siem.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::app::OutputFormat,
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
    /// How to print each record: JSON with its topic, partition, offset, key and
    /// decoded value; or, for the events topic, each event as one OCSF 1.8.0 record
    /// or one ECS document a line (docs/siem.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::app::OutputFormat,
}

/// Flags of `schemas`.
#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// Write the schema files into this directory instead of printing them.
    #[arg(long)]
    pub dir: Option<PathBuf>,
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
    fn topic_counts_accept_the_broker_default() {
        let cli = Cli::try_parse_from([
            "streak-connector",
            "once",
            "--kafka-partitions",
            "-1",
            "--kafka-replication-factor",
            "3",
        ])
        .expect("parses");
        assert_eq!(cli.settings.kafka_partitions, Some(-1));
        assert_eq!(cli.settings.kafka_replication_factor, Some(3));
    }

    /// No setting's variable falls under the librdkafka passthrough prefix
    /// (`STREAK_CONNECTOR_KAFKA__`), and the two topic counts have their own.
    #[test]
    fn setting_variables_never_clash_with_the_passthrough() {
        let cmd = Cli::command();
        let envs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        for name in [
            "STREAK_CONNECTOR_KAFKA_PARTITIONS",
            "STREAK_CONNECTOR_KAFKA_REPLICATION_FACTOR",
            "STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS",
        ] {
            assert!(envs.iter().any(|e| e == name), "{name} in {envs:?}");
        }
        for e in &envs {
            assert!(e.starts_with(crate::config::ENV_PREFIX), "{e}");
            assert!(!e.starts_with(crate::config::KAFKA_ENV_PREFIX), "{e}");
        }
    }

    #[test]
    fn bad_duration_names_the_value() {
        let err = Cli::try_parse_from(["streak-connector", "run", "--poll-interval", "soon"])
            .expect_err("rejected");
        assert!(err.to_string().contains("soon"), "{err}");
    }
}
