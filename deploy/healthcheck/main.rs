//! `healthcheck`: the container health probe of the streak-connector image.
//!
//! Built by the Dockerfile with `rustc` alone (no crates), so the distroless runtime
//! image can run a health check without a shell or curl. The logic lives in
//! `probe.rs`, which `tests/deploy_assets.rs` tests against a local server.
//!
//! Exit status: 0 healthy, 1 unhealthy (what Docker's HEALTHCHECK expects), 2 usage.

mod probe;

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = std::env::var("STREAK_CONNECTOR_METRICS_LISTEN").ok();
    let target = match probe::target_from(&args, listen.as_deref()) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match probe::check(&target, Duration::from_secs(3)) {
        Ok(msg) => {
            println!("healthy: {msg}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            println!("unhealthy: {msg}");
            ExitCode::from(1)
        }
    }
}
