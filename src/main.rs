//! The `streak-connector` binary: parse the command line, build the parts, run.
//! Wiring only; everything else lives in the library.

use clap::Parser;

/// Change data capture for Streak CRM organization membership into Kafka.
#[derive(Debug, Parser)]
#[command(name = "streak-connector", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
