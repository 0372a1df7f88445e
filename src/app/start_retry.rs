//! `run`'s start-up waits for what is not reachable yet.
//!
//! In a deployment the connector often starts before the broker or the Schema
//! Registry (a `docker compose up`, a pod scheduled before the cluster is ready):
//! exiting after the first timeout makes the orchestrator restart it in a loop.
//! `run` therefore retries a start-up whose error says [`Recovery::RetryNow`] (an
//! unreachable cluster or registry, a metadata or restore timeout), with exponential
//! backoff and one WARN line per attempt, while `/readyz` answers 503 (the state is
//! not restored). Every other error (a configuration the cluster refuses, a state
//! topic that is not compacted, a repartitioned or ambiguous state topic) stops at
//! once: waiting would not fix it. `once` does not retry: it fails at the first error,
//! with the same message.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connector::startup::{self, StartOptions, Started, StartupError};
use crate::metrics::Metrics;
use crate::recovery::{Classified, Recovery};
use crate::telemetry::InternalEvent;

/// The waits between start-up attempts: doubling from `first` up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartBackoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for StartBackoff {
    fn default() -> Self {
        StartBackoff {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        }
    }
}

impl StartBackoff {
    /// The wait after failed attempt `attempt` (1 for the first).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.first.saturating_mul(factor).min(self.cap)
    }
}

/// A start-up attempt failed with an error that may go away; the next one follows.
#[derive(Debug)]
pub(crate) struct StartupRetrying<'a> {
    pub attempt: u32,
    pub delay: Duration,
    pub error_code: &'static str,
    pub error: &'a (dyn std::error::Error + 'static),
}

impl InternalEvent for StartupRetrying<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(
            attempt = self.attempt,
            retry_in_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
            error_code = self.error_code,
            error = %chain(self.error),
            "Start-up failed, retrying: Kafka or the Schema Registry is not reachable yet"
        );
        metrics.startup_retries_total.inc();
    }
}

/// The error and its sources, `: `-separated (the error's own message is often
/// only what failed, its source why).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `run`'s start-up (build the parts, restore, make the pollers), retried while the
/// error says [`Recovery::RetryNow`]; `None` when `shutdown` came first.
pub(crate) async fn start_run(
    config: &Config,
    options: StartOptions,
    shutdown: &CancellationToken,
) -> Option<Result<Started, StartupError>> {
    let metrics = options.metrics.clone();
    let attempt = || {
        let options = options.clone();
        async move { startup::start(startup::build(config, options).await?).await }
    };
    until_started(attempt, StartBackoff::default(), shutdown, &metrics).await
}

/// Runs `attempt` until it succeeds, fails with an error that is not
/// [`Recovery::RetryNow`], or `shutdown` is cancelled (`None`).
pub(crate) async fn until_started<T, E, F, Fut>(
    mut attempt: F,
    backoff: StartBackoff,
    shutdown: &CancellationToken,
    metrics: &Metrics,
) -> Option<Result<T, E>>
where
    E: Classified + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n: u32 = 0;
    loop {
        n = n.saturating_add(1);
        let result = tokio::select! {
            r = attempt() => r,
            _ = shutdown.cancelled() => return None,
        };
        let error = match result {
            Ok(v) => return Some(Ok(v)),
            Err(e) if e.recovery() == Recovery::RetryNow => e,
            Err(e) => return Some(Err(e)),
        };
        let delay = backoff.delay(n);
        StartupRetrying {
            attempt: n,
            delay,
            error_code: error.error_code(),
            error: &error,
        }
        .emit(metrics);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0:?}")]
    struct E(Recovery);

    impl Classified for E {
        fn recovery(&self) -> Recovery {
            self.0
        }
        fn error_code(&self) -> &'static str {
            "test"
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let b = StartBackoff::default();
        let secs: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_start_up_succeeds() {
        let metrics = Metrics::new();
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let r = until_started(
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=2 => Err(E(Recovery::RetryNow)),
                    _ => Ok("up"),
                }
            },
            StartBackoff::default(),
            &CancellationToken::new(),
            &metrics,
        )
        .await;
        assert_eq!(r.map(|r| r.ok()), Some(Some("up")));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // 1 + 2 + 4 seconds of backoff.
        assert_eq!(started.elapsed().as_secs(), 7);
        assert_eq!(metrics.startup_retries_total.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_stop_at_once_and_shutdown_ends_the_wait() {
        let metrics = Metrics::new();
        let r: Option<Result<(), E>> = until_started(
            || async { Err(E(Recovery::StopProcess)) },
            StartBackoff::default(),
            &CancellationToken::new(),
            &metrics,
        )
        .await;
        assert!(matches!(r, Some(Err(E(Recovery::StopProcess)))));
        assert_eq!(metrics.startup_retries_total.get(), 0);

        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            stop.cancel();
        });
        let r: Option<Result<(), E>> = until_started(
            || async { Err(E(Recovery::RetryNow)) },
            StartBackoff::default(),
            &shutdown,
            &metrics,
        )
        .await;
        assert!(r.is_none());
    }
}
