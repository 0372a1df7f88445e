//! The `streak-connector` binary: parse the command line, build the parts, run.
//! Wiring only; everything else lives in the library.

use clap::{Parser, Subcommand};
use streak_connector::simulator::cli::SimulateArgs;

/// Change data capture for Streak CRM organization membership into Kafka.
#[derive(Debug, Parser)]
#[command(name = "streak-connector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Streak API simulator (scenarios, timelines, injected faults).
    Simulate(SimulateArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Simulate(args) => runtime.block_on(streak_connector::simulator::cli::run(args)),
    }
}
