//! The simulator's sense of time: how long it has been running (for timelines and
//! delays) and what time it is (for the epoch-millisecond timestamps it serves).
//!
//! Injectable so tests control time: [`TokioClock`] follows tokio's clock (and so
//! `tokio::time::pause()`), [`ManualClock`] moves only when a test advances it.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::model::duration_ms;

/// A source of elapsed time and wall-clock time for a simulator.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Time since the simulator started.
    fn elapsed(&self) -> Duration;
    /// Wall-clock time at start, epoch milliseconds.
    fn start_ms(&self) -> i64;
    /// Wall-clock time now, epoch milliseconds: start plus elapsed, so a paused or
    /// manual clock moves both together.
    fn now_ms(&self) -> i64 {
        self.start_ms().saturating_add(duration_ms(self.elapsed()))
    }
}

/// The system clock now, in epoch milliseconds.
pub fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or(0)
}

/// Elapsed time from `tokio::time::Instant`: real time, or virtual time under
/// `tokio::time::pause()`.
#[derive(Debug)]
pub(crate) struct TokioClock {
    start: tokio::time::Instant,
    start_ms: i64,
}

impl TokioClock {
    /// Starts now; `start_ms` is the wall-clock time to report at start (`None`: the
    /// system clock's).
    pub(crate) fn new(start_ms: Option<i64>) -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
            start_ms: start_ms.unwrap_or_else(system_now_ms),
        }
    }
}

impl Clock for TokioClock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn start_ms(&self) -> i64 {
        self.start_ms
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    start_ms: i64,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock at elapsed zero whose wall-clock time is `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        ManualClock {
            start_ms,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut e = self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        *e += by;
    }
}

impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_ms(&self) -> i64 {
        self.start_ms
    }
}
