//! The `simulate` command: serve a scenario until Ctrl-C or SIGTERM.
//!
//! Edge code (anyhow is fine here); it must only parse, start and wait.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use super::{Scenario, Simulator};

/// Serve the Streak API simulator (a scenario file, or the built-in lively one).
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Scenario file, TOML or JSON (`.json`); without it, the built-in "lively"
    /// scenario (examples/scenario-lively.toml).
    #[arg(long, value_name = "FILE", env = "STREAK_CONNECTOR_SIMULATE_SCENARIO")]
    pub scenario: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8089",
        env = "STREAK_CONNECTOR_SIMULATE_LISTEN"
    )]
    pub listen: SocketAddr,
}

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully. Prints
/// `simulator listening on http://ADDR/api/v1` on stdout once bound.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::from_path(path)
            .with_context(|| format!("loading scenario {}", path.display()))?,
        None => Scenario::lively(),
    };
    let orgs = scenario.organizations();
    // Handlers first: a SIGTERM right after the address is printed must already
    // mean "shut down gracefully".
    let stop = shutdown_signal()?;
    let sim = Simulator::start(scenario, args.listen).await?;
    println!("simulator listening on {}", sim.base_url());
    for o in &orgs {
        tracing::info!(
            org = %o.key,
            name = %o.name,
            members = o.initial_members,
            api_keys = o.api_keys.len(),
            "Serving organization"
        );
    }
    stop.await;
    tracing::info!("Simulator stopping");
    sim.shutdown().await?;
    Ok(())
}

/// Registers the SIGINT/SIGTERM handlers now; the future completes on either.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Ctrl-C elsewhere.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
