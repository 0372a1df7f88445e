//! `run`: serve the metrics, start up, poll forever; on SIGTERM let the cycles in
//! flight commit or abort, then exit 0 within a bounded time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connector::startup::{self, StartOptions};
use crate::connector::{system_clock, Mode};
use crate::metrics::Metrics;
use crate::scheduler::{self, Pollable, Schedule};
use crate::server::{self, Health, Releases, ServerState};

/// Extra time after the transaction timeout that shutdown waits for a cycle in
/// flight before giving up on it (the broker aborts it by then anyway).
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// The shared pieces a running connector serves over HTTP.
#[derive(Debug, Clone)]
pub struct Served {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub releases: Arc<Releases>,
    pub orgs: Arc<Mutex<Vec<String>>>,
    pub addr: std::net::SocketAddr,
}

/// Binds and serves `/metrics`, `/healthz`, `/readyz` and the admin endpoint.
pub async fn serve_http(
    config: &Config,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<Served> {
    let health = Arc::new(Health::new(config.ready_max_consecutive_failures));
    let releases = Arc::new(Releases::default());
    let orgs = Arc::new(Mutex::new(Vec::new()));
    let listener = server::bind(config.metrics_listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "metrics listening on http://{addr}");
    let state = ServerState {
        metrics: metrics.clone(),
        health: health.clone(),
        releases: releases.clone(),
        orgs: orgs.clone(),
        admin_token: config.admin_token.clone(),
    };
    tokio::spawn(async move {
        if let Err(e) = server::serve(listener, state, shutdown).await {
            tracing::error!(error = %e, "Metrics server stopped");
        }
    });
    Ok(Served {
        metrics,
        health,
        releases,
        orgs,
        addr,
    })
}

/// The schedule from the configuration.
pub fn schedule(config: &Config) -> Schedule {
    Schedule {
        interval: config.poll_interval,
        jitter: config.poll_jitter,
        max_concurrent: config.max_concurrent_polls,
        retry_base: Duration::from_secs(1),
    }
}

/// Runs until SIGTERM/Ctrl-C (exit 0) or a fatal error (exit non-zero).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone());
    let http_stop = CancellationToken::new();
    let served = serve_http(&config, metrics.clone(), http_stop.clone()).await?;

    let options = StartOptions {
        mode: Mode::Publish,
        topic_policy: config.kafka.topic_policy,
        clock: system_clock(),
    };
    let started = tokio::select! {
        r = startup::start(
            &config,
            metrics,
            served.health.clone(),
            served.releases.clone(),
            served.orgs.clone(),
            options,
        ) => r.context("start-up failed")?,
        _ = shutdown.cancelled() => {
            tracing::info!("Stopped during start-up");
            return Ok(());
        }
    };
    tracing::info!(
        organizations = started.pollers.len(),
        interval = ?config.poll_interval,
        "Polling"
    );
    let tasks: Vec<Box<dyn Pollable>> = started
        .pollers
        .into_iter()
        .map(|p| Box::new(p) as Box<dyn Pollable>)
        .collect();
    let drain = config.kafka.transaction_timeout + DRAIN_MARGIN;
    let sched = scheduler::run_forever(tasks, schedule(&config), shutdown.clone());
    tokio::pin!(sched);
    let result = tokio::select! {
        r = &mut sched => r,
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(drain).await;
        } => {
            tracing::warn!(?drain, "A cycle did not finish within the drain deadline; exiting anyway (the broker aborts its open transaction)");
            Ok(())
        }
    };
    http_stop.cancel();
    match result {
        Ok(()) => {
            tracing::info!("Stopped");
            Ok(())
        }
        Err(fatal) => Err(anyhow::anyhow!(fatal.0)),
    }
}
