//! The client's settings, their defaults, and the checks that refuse a dangerous or
//! meaningless configuration at start-up.
//!
//! This is the validated form the client runs on, and the one place of its defaults
//! and rules; parsing what the user typed (flags, environment, files) belongs to
//! `crate::config`, which only names the setting as the user typed it when a rule
//! here refuses it. It must not hold the API key: that is an [`super::ApiKey`],
//! passed separately.

use std::net::IpAddr;
use std::time::Duration;

use url::{Host, Url};

use super::error::ApiError;
use super::retry::RetryPolicy;

/// Streak's current API root.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.streak.com/api/v1";

/// The smallest body limit accepted: below it, even an error answer is cut off.
const MIN_MAX_BODY_BYTES: u64 = 1024;

/// The highest request rate accepted: Streak asks to be told before anyone exceeds
/// 10 requests a second.
const MAX_RATE_LIMIT_PER_SEC: u32 = 10;

/// The `User-Agent` of every request: the product and its version.
pub const USER_AGENT: &str = concat!("streak-connector/", env!("CARGO_PKG_VERSION"));

/// The listing cap: 512 MiB, about 1.4M members at the ~375 bytes a member of a
/// typical listing. The listing is parsed as it arrives (its memory is the members,
/// not the body), so the cap bounds the transfer, not the memory.
pub(crate) const DEFAULT_MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

/// Settings of one [`super::StreakClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// API root, e.g. `https://api.streak.com/api/v1`. HTTPS, except for loopback
    /// addresses (the simulator), so the key never travels in clear.
    pub base_url: Url,
    /// Budget to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Budget for one request, from sending it to the last byte of the body.
    pub request_timeout: Duration,
    /// Largest body read; a larger one is an error, never an out-of-memory.
    pub max_body_bytes: u64,
    /// Requests per second for this key (a burst of as many is allowed). Streak asks
    /// to be told before anyone exceeds 10.
    pub rate_limit_per_sec: u32,
    /// Backoff and budget for transient failures.
    pub retry: RetryPolicy,
    /// Longest `Retry-After` honoured; a longer one is cut down to this.
    pub retry_after_cap: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL is a valid URL"),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit_per_sec: 4,
            retry: RetryPolicy::default(),
            retry_after_cap: Duration::from_secs(300),
        }
    }
}

impl ClientConfig {
    /// The default settings with another API root, validated.
    pub fn with_base_url(base_url: &str) -> Result<ClientConfig, ApiError> {
        let base_url = Url::parse(base_url).map_err(|e| ApiError::Config {
            setting: "base_url",
            reason: format!("not a URL ({e})"),
        })?;
        let config = ClientConfig {
            base_url,
            ..ClientConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings that would leak the key or cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), ApiError> {
        let bad = |setting: &'static str, reason: &str| {
            Err(ApiError::Config {
                setting,
                reason: reason.to_string(),
            })
        };
        let url = &self.base_url;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(url) => {}
            "http" => {
                return bad(
                    "base_url",
                    "plain http:// would send the API key in clear; use https:// \
                     (http:// is allowed only for loopback addresses such as the simulator)",
                )
            }
            other => return bad("base_url", &format!("unsupported scheme `{other}`")),
        }
        if url.cannot_be_a_base() || url.host().is_none() {
            return bad(
                "base_url",
                "needs a host, like https://api.streak.com/api/v1",
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad(
                "base_url",
                "must not carry credentials; the API key is configured separately",
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return bad("base_url", "must not have a query or a fragment");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be more than zero");
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must be more than zero");
        }
        if self.max_body_bytes < MIN_MAX_BODY_BYTES {
            return bad("max_body_bytes", "must be at least 1024");
        }
        if self.rate_limit_per_sec == 0 || self.rate_limit_per_sec > MAX_RATE_LIMIT_PER_SEC {
            return bad(
                "rate_limit_per_sec",
                "must be between 1 and 10 (Streak asks to be told before anyone exceeds 10 requests a second)",
            );
        }
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            return bad(
                "retry.max_attempts",
                "must be at least 1 (1 disables retries)",
            );
        }
        if retry.base.is_zero() {
            return bad("retry.base", "must be more than zero");
        }
        if retry.cap < retry.base {
            return bad("retry.cap", "must not be less than retry.base");
        }
        if retry.deadline.is_zero() {
            return bad("retry.deadline", "must be more than zero");
        }
        Ok(())
    }
}

/// Loopback by address (127.0.0.0/8, ::1) or by the name `localhost`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// True when the configured API root is on this machine (no proxy can reach it).
pub(crate) fn base_is_loopback(config: &ClientConfig) -> bool {
    is_loopback(&config.base_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(r: Result<ClientConfig, ApiError>) -> &'static str {
        match r {
            Err(ApiError::Config { setting, .. }) => setting,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let c = ClientConfig::default();
        c.validate().unwrap();
        assert_eq!(c.base_url.as_str(), "https://api.streak.com/api/v1");
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.max_body_bytes, 512 << 20);
        assert_eq!(c.rate_limit_per_sec, 4);
        assert!(USER_AGENT.starts_with("streak-connector/"));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080/api/v1",
            "http://127.1.2.3/",
            "http://[::1]:9/",
            "http://localhost:3000",
            "https://streak.example.com/api/v1",
        ] {
            ClientConfig::with_base_url(ok).unwrap();
        }
        for refused in [
            "http://api.streak.com/api/v1",
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
        ] {
            let err = ClientConfig::with_base_url(refused).unwrap_err();
            assert!(err.to_string().contains("`base_url`"), "{err}");
            assert!(err.to_string().contains("in clear"), "{err}");
        }
        for refused in [
            "ftp://api.streak.com/",
            "https://user:pw@api.streak.com/",
            "https://api.streak.com/?x=1",
            "mailto:ops@example.com",
            "not a url",
        ] {
            assert_eq!(setting_of(ClientConfig::with_base_url(refused)), "base_url");
        }
    }

    #[test]
    fn refuses_zero_and_inconsistent_limits() {
        type Spoil = fn(&mut ClientConfig);
        let cases: [(&str, Spoil); 10] = [
            ("connect_timeout", |c| c.connect_timeout = Duration::ZERO),
            ("request_timeout", |c| c.request_timeout = Duration::ZERO),
            ("max_body_bytes", |c| c.max_body_bytes = 0),
            ("max_body_bytes", |c| c.max_body_bytes = 1023),
            ("rate_limit_per_sec", |c| c.rate_limit_per_sec = 0),
            ("rate_limit_per_sec", |c| c.rate_limit_per_sec = 11),
            ("retry.max_attempts", |c| c.retry.max_attempts = 0),
            ("retry.base", |c| c.retry.base = Duration::ZERO),
            ("retry.cap", |c| c.retry.cap = Duration::from_millis(1)),
            ("retry.deadline", |c| c.retry.deadline = Duration::ZERO),
        ];
        for (setting, spoil) in cases {
            let mut c = ClientConfig::default();
            spoil(&mut c);
            assert_eq!(setting_of(c.validate().map(|()| c.clone())), setting);
        }
    }
}
