//! Internal events of the commands: the lines an operator reads when the process
//! starts, serves, drains and stops.

use std::net::SocketAddr;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::telemetry::InternalEvent;

/// The HTTP side door is listening.
#[derive(Debug)]
pub(crate) struct MetricsListening {
    pub(crate) addr: SocketAddr,
}

impl InternalEvent for MetricsListening {
    fn emit(self, _: &Metrics) {
        let addr = self.addr;
        tracing::info!(%addr, "metrics listening on http://{addr}");
    }
}

/// The admin API is listening (its own listener, with a token).
#[derive(Debug)]
pub(crate) struct AdminListening {
    pub(crate) addr: SocketAddr,
}

impl InternalEvent for AdminListening {
    fn emit(self, _: &Metrics) {
        let addr = self.addr;
        tracing::info!(%addr, "admin API listening on http://{addr}");
    }
}

/// The HTTP side door stopped on an error.
#[derive(Debug)]
pub(crate) struct MetricsServerStopped<'a> {
    pub(crate) error: &'a std::io::Error,
}

impl InternalEvent for MetricsServerStopped<'_> {
    fn emit(self, _: &Metrics) {
        tracing::error!(error = %self.error, "Metrics server stopped");
    }
}

/// Start-up is over: the scheduler polls.
#[derive(Debug)]
pub(crate) struct Polling {
    pub(crate) organizations: usize,
    pub(crate) interval: Duration,
}

impl InternalEvent for Polling {
    fn emit(self, _: &Metrics) {
        tracing::info!(
            organizations = self.organizations,
            interval = ?self.interval,
            "Polling"
        );
    }
}

/// A signal asked the process to stop.
#[derive(Debug)]
pub(crate) struct StopRequested {
    /// `Ctrl-C` or `SIGTERM`.
    pub(crate) signal: &'static str,
}

impl InternalEvent for StopRequested {
    fn emit(self, _: &Metrics) {
        tracing::info!(
            "{}: finishing the cycle in flight, then stopping",
            self.signal
        );
    }
}

/// A second signal: the process ends now, without draining.
#[derive(Debug)]
pub(crate) struct StoppedAtOnce {
    pub(crate) signal: &'static str,
}

impl InternalEvent for StoppedAtOnce {
    fn emit(self, _: &Metrics) {
        tracing::warn!(
            "{} again: stopping at once; a transaction in flight is aborted by the broker",
            self.signal
        );
    }
}

/// SIGTERM cannot be watched: only Ctrl-C stops the process gracefully.
#[derive(Debug)]
pub(crate) struct SigtermUnwatched<'a> {
    pub(crate) error: &'a std::io::Error,
}

impl InternalEvent for SigtermUnwatched<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(error = %self.error, "Cannot watch SIGTERM; only Ctrl-C stops");
    }
}

/// The process stopped as asked: during start-up, or after the drain.
#[derive(Debug)]
pub(crate) struct Stopped {
    pub(crate) during_startup: bool,
}

impl InternalEvent for Stopped {
    fn emit(self, _: &Metrics) {
        if self.during_startup {
            tracing::info!("Stopped during start-up");
        } else {
            tracing::info!("Stopped");
        }
    }
}

/// A cycle in flight outlived the drain deadline; the process exits anyway.
#[derive(Debug)]
pub(crate) struct DrainDeadlinePassed {
    pub(crate) drain: Duration,
}

impl InternalEvent for DrainDeadlinePassed {
    fn emit(self, _: &Metrics) {
        tracing::warn!(drain = ?self.drain, "A cycle did not finish within the drain deadline; exiting anyway (the broker aborts its open transaction)");
    }
}
