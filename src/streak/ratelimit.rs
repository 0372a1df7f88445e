//! The per-key request rate limit: a `governor` GCRA limiter driven by tokio's clock.
//!
//! Owns only the pacing of requests. `governor`'s own `until_ready` sleeps with
//! `futures-timer` on the real clock, which `tokio::time::pause()` cannot control;
//! so the limiter here reads `tokio::time::Instant` (a custom `governor` clock) and
//! waits with `tokio::time::sleep`. Under paused time both advance together, and the
//! pacing is testable without real waiting.

use std::num::NonZeroU32;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Nanoseconds since the limiter was built, on tokio's (pausable) clock.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.origin.elapsed())
    }
}

/// Paces one client's (one key's) requests.
#[derive(Debug)]
pub(crate) struct RateLimit {
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>,
    clock: TokioClock,
}

impl RateLimit {
    /// `per_second` requests a second, with a burst of as many.
    pub(crate) fn per_second(per_second: NonZeroU32) -> RateLimit {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        RateLimit {
            limiter: RateLimiter::direct_with_clock(Quota::per_second(per_second), clock),
            clock,
        }
    }

    /// Waits until one more request is allowed, and takes that slot.
    pub(crate) async fn until_ready(&self) {
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces_on_tokio_time() {
        let limit = RateLimit::per_second(NonZeroU32::new(4).unwrap());
        let start = tokio::time::Instant::now();
        for _ in 0..4 {
            limit.until_ready().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "a burst of 4 is free");
        for _ in 0..8 {
            limit.until_ready().await;
        }
        // 8 more at one per 250 ms.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(2000) && elapsed < Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }
}
