//! Retry policy and the arithmetic of waiting: exponential backoff with full jitter
//! and `Retry-After` parsing.
//!
//! Pure functions only: no clock read (the caller passes "now"), no sleeping, no I/O,
//! so every rule here is unit-tested exactly. The request loop in `client.rs` owns
//! the sleeping (with `tokio::time`, so tests can pause time).
//!
//! Why not `backon`: its jitter adds `random(0, delay)` on top of the delay (so the
//! wait lies in `[delay, 2*delay)`), which is not full jitter, and its total-delay
//! budget counts only sleeps, not the requests between them. Full jitter is one line
//! (`random(0, min(cap, base * 2^n))`); the loop also needs `Retry-After` to replace
//! the computed delay, and a deadline across requests and sleeps.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// How the client retries transient failures (429, 5xx, timeouts, transport errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry waits up to this long; each further retry doubles the ceiling.
    pub base: Duration,
    /// The ceiling of any one backoff delay.
    pub cap: Duration,
    /// Attempts per call, the first one included (1 disables retries).
    pub max_attempts: u32,
    /// Budget for a whole call, requests and waits included: no retry starts (and no
    /// wait begins) that would end after it.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
            max_attempts: 6,
            deadline: Duration::from_secs(300),
        }
    }
}

/// The ceiling of the backoff before retry number `retry` (0 for the first retry):
/// `min(cap, base * 2^retry)`, without overflow.
pub(crate) fn backoff_ceiling(retry: u32, policy: &RetryPolicy) -> Duration {
    let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
    policy
        .base
        .checked_mul(factor)
        .map_or(policy.cap, |d| d.min(policy.cap))
}

/// Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): a delay
/// drawn uniformly from `[0, min(cap, base * 2^retry)]`. Spreading retries over the
/// whole window keeps many connectors from hammering Streak in lockstep.
pub(crate) fn backoff_delay<R: Rng + ?Sized>(
    retry: u32,
    policy: &RetryPolicy,
    rng: &mut R,
) -> Duration {
    let ceiling = backoff_ceiling(retry, policy);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=nanos))
}

/// Reads a `Retry-After` value: delay seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now` (wall clock, since HTTP dates
/// are). A date in the past means "now" (zero). Anything unreadable is `None`, and
/// the caller falls back to backoff. The result is not capped here.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: seconds. Too many digits to fit is "very long", which the cap
        // will bring down.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn ceiling_doubles_from_base_up_to_cap() {
        let p = policy();
        let ms = |n| backoff_ceiling(n, &p).as_millis();
        assert_eq!(
            [ms(0), ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7)],
            [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000]
        );
        // Huge retry numbers neither overflow nor exceed the cap.
        assert_eq!(backoff_ceiling(40, &p), p.cap);
        assert_eq!(backoff_ceiling(u32::MAX, &p), p.cap);
        let huge = RetryPolicy {
            base: Duration::from_secs(u64::MAX / 4),
            cap: Duration::MAX,
            ..policy()
        };
        assert_eq!(backoff_ceiling(10, &huge), Duration::MAX);
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 0..10 {
            let ceiling = backoff_ceiling(retry, &p);
            let samples: Vec<Duration> = (0..2000)
                .map(|_| backoff_delay(retry, &p, &mut rng))
                .collect();
            assert!(samples.iter().all(|d| *d <= ceiling));
            let min = samples.iter().min().copied().unwrap_or_default();
            let max = samples.iter().max().copied().unwrap_or_default();
            // Full jitter: the low end reaches near zero (not `ceiling/2` as with
            // "equal jitter", not `ceiling` as with none) and the high end near the
            // ceiling.
            assert!(min < ceiling / 20, "retry {retry}: min {min:?}");
            assert!(max > ceiling * 19 / 20, "retry {retry}: max {max:?}");
            let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
            assert!(
                mean > ceiling * 2 / 5 && mean < ceiling * 3 / 5,
                "retry {retry}: mean {mean:?}"
            );
        }
    }

    #[test]
    fn zero_base_never_waits() {
        let p = RetryPolicy {
            base: Duration::ZERO,
            ..policy()
        };
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(backoff_delay(3, &p, &mut rng), Duration::ZERO);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21T07:28:00Z
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::from_secs(0)));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for junk in ["", "-5", "1.5", "soon", "Wed, 99 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }
}
