//! `run`: serve the metrics, start up, poll forever; on SIGTERM let the cycles in
//! flight commit or abort, then exit 0 within a bounded time.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::telemetry::{
    AdminListening, DrainDeadlinePassed, MetricsListening, MetricsServerStopped, Polling, Stopped,
};
use crate::config::Config;
use crate::connector::startup::{self, StartOptions, Started};
use crate::connector::status::ConnectorInfo;
use crate::connector::{system_clock, Mode, Shared};
use crate::metrics::Metrics;
use crate::scheduler::{self, Pollable, Schedule};
use crate::server::{self, ServerState};
use crate::telemetry::InternalEvent as _;

/// Extra time after the transaction timeout that shutdown waits for the one commit
/// in flight (no other begins after the signal) before giving up on it; the broker
/// aborts it anyway. With the runtime's 2 s exit bound the process is gone within
/// transaction timeout + 12 s: the grace period (docs/operations.md "Stopping", the
/// chart, compose) is transaction timeout + 15 s.
pub(crate) const DRAIN_MARGIN: Duration = Duration::from_secs(10);

/// Binds and serves `/metrics`, `/healthz`, `/readyz` over `shared`, and the admin
/// API on `--admin-listen` when an admin token is set; returns the metrics address.
pub(crate) async fn serve_http(
    config: &Config,
    metrics: Arc<Metrics>,
    shared: Shared,
    shutdown: CancellationToken,
) -> anyhow::Result<std::net::SocketAddr> {
    let started_ms = (system_clock())();
    let info = ConnectorInfo::this_process(&config.connector_name, started_ms);
    shared.status.identify(info);
    let listener = server::bind(config.metrics_listen, "--metrics-listen").await?;
    let addr = listener.local_addr()?;
    MetricsListening { addr }.emit(&metrics);
    let state = ServerState {
        metrics: metrics.clone(),
        shared,
        admin_token: config.admin_token.clone(),
    };
    // The admin API on its own listener, only when a token turns it on.
    if config.admin_token.is_some() {
        let admin = server::bind(config.admin_listen, "--admin-listen").await?;
        AdminListening {
            addr: admin.local_addr()?,
        }
        .emit(&metrics);
        let (router, metrics, shutdown) = (
            server::admin_router(state.clone()),
            metrics.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            if let Err(error) = server::serve(admin, router, shutdown).await {
                MetricsServerStopped { error: &error }.emit(&metrics);
            }
        });
    }
    let router = server::router(state);
    tokio::spawn(async move {
        if let Err(error) = server::serve(listener, router, shutdown).await {
            MetricsServerStopped { error: &error }.emit(&metrics);
        }
    });
    Ok(addr)
}

/// The schedule from the configuration.
pub(crate) fn schedule(config: &Config) -> Schedule {
    Schedule {
        interval: config.poll_interval,
        jitter: config.poll_jitter,
        max_concurrent: config.max_concurrent_polls,
        retry_base: Duration::from_secs(1),
        max_cycles: None,
    }
}

/// Builds the parts and starts up: the same path for `run`, `once` and `demo`.
pub(crate) async fn start(config: &Config, options: StartOptions) -> anyhow::Result<Started> {
    let parts = startup::build(config, options)
        .await
        .context("start-up failed")?;
    startup::start(parts).await.context("start-up failed")
}

/// Hands the pollers to the scheduler and polls until `shutdown` (then drains for
/// at most `drain`) or a fatal error.
pub(crate) async fn poll(
    started: Started,
    schedule: Schedule,
    shutdown: CancellationToken,
    drain: Duration,
    metrics: &Metrics,
) -> Result<(), scheduler::Fatal> {
    let (_, no_new_tasks) = tokio::sync::mpsc::unbounded_channel();
    poll_growing(started, no_new_tasks, schedule, shutdown, drain, metrics).await
}

/// As [`poll`], and every task arriving on `new_tasks` (the key rotation's) joins.
pub(crate) async fn poll_growing(
    started: Started,
    new_tasks: tokio::sync::mpsc::UnboundedReceiver<Box<dyn Pollable>>,
    schedule: Schedule,
    shutdown: CancellationToken,
    drain: Duration,
    metrics: &Metrics,
) -> Result<(), scheduler::Fatal> {
    Polling {
        organizations: started.pollers.len(),
        interval: schedule.interval,
    }
    .emit(metrics);
    let maker = super::rotation::TaskMaker::new(&started);
    let tasks = maker.initial(started.pollers, started.rejected);
    let sched = scheduler::run_growing(tasks, new_tasks, schedule, shutdown.clone());
    tokio::pin!(sched);
    tokio::select! {
        r = &mut sched => r,
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(drain).await;
        } => {
            DrainDeadlinePassed { drain }.emit(metrics);
            Ok(())
        }
    }
}

/// Runs until SIGTERM/Ctrl-C (exit 0) or a fatal error (exit non-zero).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::for_connector(&config.connector_name));
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone(), metrics.clone());
    let shared = Shared::new(config.ready_max_consecutive_failures);
    let http_stop = CancellationToken::new();
    serve_http(&config, metrics.clone(), shared.clone(), http_stop.clone()).await?;

    let options = StartOptions {
        mode: Mode::Publish,
        topic_policy: config.kafka.topic_policy,
        clock: system_clock(),
        metrics: metrics.clone(),
        shared,
    };
    // Waits for a broker or registry that is not reachable yet (`/readyz` says 503).
    let started = match super::start_retry::start_run(&config, options, &shutdown).await {
        Some(r) => r.context("start-up failed")?,
        None => {
            Stopped {
                during_startup: true,
            }
            .emit(&metrics);
            return Ok(());
        }
    };
    let drain = config.kafka.transaction_timeout + DRAIN_MARGIN;
    let new_tasks = super::rotation::start(&config, &started, shutdown.clone());
    let result = poll_growing(
        started,
        new_tasks,
        schedule(&config),
        shutdown,
        drain,
        &metrics,
    )
    .await;
    http_stop.cancel();
    result?;
    Stopped {
        during_startup: false,
    }
    .emit(&metrics);
    Ok(())
}
