//! The Streak API client: typed calls over one HTTP attempt loop with rate limiting,
//! retries, capped body reads and telemetry.
//!
//! Owns the request side (URL building, Basic auth, timeouts, status handling,
//! retries). It leaves parsing to `wire` and the arithmetic of waiting to `retry`,
//! and must never put the key anywhere but the `Authorization` header: not in a URL,
//! a log field, an error or a metric label.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use tokio::time::Instant;
use url::Url;

use super::attempt::{
    read_capped, read_listing, read_prefix, status_class, Body, Outcome, Read, ReadError,
    Transient, TransientKind,
};
use super::config::{base_is_loopback, ClientConfig, USER_AGENT};
use super::error::ApiError;
use super::key::ApiKey;
use super::ratelimit::RateLimit;
use super::retry::{backoff_delay, parse_retry_after, RetryPolicy};
use super::telemetry::{
    ApiCallFailed, ApiFieldsDrifted, ApiKeyAccepted, ApiKeyConfigured, ApiKeyRejected,
    ApiRequestCompleted, ApiRequestRetrying, ListingFetched,
};
use super::wire::{
    error_detail, parse_current_user, parse_listing, parse_organization, snippet, CurrentUser,
    FieldDrift, ListingStats, Organization, Oversized, OversizedMemo, WireError,
};
use crate::membership::Listing;
use crate::metrics::{endpoint, Metrics};
use crate::telemetry::InternalEvent as _;

/// Bytes of an error response read for its message; the rest is not read.
const ERROR_BODY_BYTES: usize = 64 * 1024;
/// Longest header value (content type, location) quoted in an error.
const HEADER_CHARS: usize = 200;

/// One organization's members as fetched, with what parsing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedListing {
    pub listing: Listing,
    pub stats: ListingStats,
}

/// A client of the Streak API for one key (so one organization).
///
/// Cheap to share behind an `Arc`; calls may run concurrently and share the key's
/// rate limit.
pub struct StreakClient {
    http: reqwest::Client,
    config: ClientConfig,
    key: ApiKey,
    metrics: Arc<Metrics>,
    limit: RateLimit,
    /// Oversized fields already logged, by organization (or endpoint).
    oversized: Mutex<OversizedMemo>,
}

impl std::fmt::Debug for StreakClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreakClient")
            .field("base_url", &self.config.base_url.as_str())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl StreakClient {
    /// Builds a client; refuses an invalid configuration (see
    /// [`ClientConfig::validate`]). No request is made.
    pub fn new(
        config: ClientConfig,
        key: ApiKey,
        metrics: Arc<Metrics>,
    ) -> Result<StreakClient, ApiError> {
        config.validate()?;
        let per_second =
            NonZeroU32::new(config.rate_limit_per_sec).ok_or_else(|| ApiError::Config {
                setting: "rate_limit_per_sec",
                reason: "must be at least 1".into(),
            })?;
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            // A redirect could carry the key to another host: never follow one.
            .redirect(reqwest::redirect::Policy::none());
        if base_is_loopback(&config) {
            // No proxy can reach this machine's loopback address.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| ApiError::Config {
            setting: "base_url",
            reason: format!("cannot build the HTTP client: {e}"),
        })?;
        ApiKeyConfigured {
            key_fingerprint: key.fingerprint(),
        }
        .emit(&metrics);
        Ok(StreakClient {
            http,
            limit: RateLimit::per_second(per_second),
            config,
            key,
            metrics,
            oversized: Mutex::new(OversizedMemo::default()),
        })
    }

    /// The oversized values of `drift` not seen by the previous response of
    /// `scope` (an organization's listing, or an endpoint).
    fn fresh_oversized<'a>(&self, scope: &str, drift: &'a FieldDrift) -> Vec<&'a Oversized> {
        match self.oversized.lock() {
            Ok(mut memo) => memo.fresh(scope, drift.oversized()),
            // A panic elsewhere poisoned the memory: log everything rather than nothing.
            Err(_) => drift.oversized().iter().collect(),
        }
    }

    /// The key's fingerprint (first 8 hex digits of its SHA-256), to name it in logs.
    pub fn key_fingerprint(&self) -> &str {
        self.key.fingerprint()
    }

    /// `GET /users/me`: the key's owner and the organization the key sees.
    #[tracing::instrument(level = "debug", skip(self), fields(key_fingerprint = %self.key.fingerprint()))]
    pub async fn me(&self) -> Result<CurrentUser, ApiError> {
        let ep = endpoint::USERS_ME;
        let result = async {
            let body = self.get(ep, &["users", "me"], Read::Bytes).await?;
            let (user, drift) =
                parse_current_user(&body.bytes).map_err(|e| self.invalid(ep, &body, e))?;
            ApiFieldsDrifted {
                endpoint: ep,
                drift: &drift,
                fresh_oversized: self.fresh_oversized(ep, &drift),
            }
            .emit(&self.metrics);
            Ok(user)
        }
        .await;
        self.finish(ep, result)
    }

    /// `GET /users/me/organization`: the key owner's organization.
    #[tracing::instrument(level = "debug", skip(self), fields(key_fingerprint = %self.key.fingerprint()))]
    pub async fn organization(&self) -> Result<Organization, ApiError> {
        let ep = endpoint::ORGANIZATION;
        let result = async {
            let body = (self.get(ep, &["users", "me", "organization"], Read::Bytes)).await?;
            let (org, drift) =
                parse_organization(&body.bytes).map_err(|e| self.invalid(ep, &body, e))?;
            ApiFieldsDrifted {
                endpoint: ep,
                drift: &drift,
                fresh_oversized: self.fresh_oversized(ep, &drift),
            }
            .emit(&self.metrics);
            Ok(org)
        }
        .await;
        self.finish(ep, result)
    }

    /// `GET /organizations/{orgKey}/users`: every member, parsed leniently.
    ///
    /// `org_key` is percent-encoded as one path segment, and is the `org` label of
    /// the invalid and duplicate entry counters: pass the configured key.
    #[tracing::instrument(level = "debug", skip(self), fields(key_fingerprint = %self.key.fingerprint()))]
    pub async fn org_users(&self, org_key: &str) -> Result<FetchedListing, ApiError> {
        let ep = endpoint::ORG_USERS;
        let result = async {
            // Parsed as it arrives: the members are kept, never the body.
            let mut body =
                (self.get(ep, &["organizations", org_key, "users"], Read::Listing)).await?;
            // `Read::Listing` always sets `listing`; a body read whole is parsed whole.
            let parsed = match body.listing.take() {
                Some(parsed) => parsed,
                None => parse_listing(&body.bytes),
            };
            let parsed = parsed.map_err(|e| self.invalid(ep, &body, e))?;
            drop(body);
            ApiFieldsDrifted {
                endpoint: ep,
                drift: &parsed.drift,
                fresh_oversized: self.fresh_oversized(&format!("{ep}/{org_key}"), &parsed.drift),
            }
            .emit(&self.metrics);
            ListingFetched {
                org: org_key,
                members: parsed.listing.members.len(),
                stats: parsed.stats,
            }
            .emit(&self.metrics);
            Ok(FetchedListing {
                listing: parsed.listing,
                stats: parsed.stats,
            })
        }
        .await;
        self.finish(ep, result)
    }

    fn finish<T>(
        &self,
        endpoint: &'static str,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        if let Err(error) = &result {
            ApiCallFailed { endpoint, error }.emit(&self.metrics);
        }
        result
    }

    fn invalid(&self, endpoint: &'static str, body: &Body, e: WireError) -> ApiError {
        ApiError::InvalidResponse {
            endpoint,
            status: body.status,
            content_type: body.content_type.clone(),
            reason: self.key.scrub(&e.reason),
            snippet: snippet(&body.bytes, &self.key),
        }
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.config.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Config {
                setting: "base_url",
                reason: "cannot be a base for API paths".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// GETs `segments` under the base URL: rate limited, retried on transient
    /// failures within the policy's attempts and deadline.
    async fn get(
        &self,
        endpoint: &'static str,
        segments: &[&str],
        read: Read,
    ) -> Result<Body, ApiError> {
        let url = self.url(segments)?;
        let policy = &self.config.retry;
        let deadline = Instant::now() + policy.deadline;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.limit.until_ready().await;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = self
                .config
                .request_timeout
                .min(remaining)
                .max(Duration::from_millis(1));
            let transient = match self.attempt(endpoint, &url, timeout, attempt, read).await {
                Outcome::Done(body) => {
                    ApiKeyAccepted {
                        key_fingerprint: self.key.fingerprint(),
                    }
                    .emit(&self.metrics);
                    return Ok(body);
                }
                Outcome::Fail(error) => {
                    if let Some(status) = error.status().filter(|_| error.is_key_rejected()) {
                        ApiKeyRejected {
                            key_fingerprint: self.key.fingerprint(),
                            status,
                        }
                        .emit(&self.metrics);
                    }
                    return Err(error);
                }
                Outcome::Retry(transient) => transient,
            };
            if attempt >= policy.max_attempts {
                return Err(transient.into_error(endpoint, attempt));
            }
            let (delay, from_server) = match transient.retry_after {
                Some(d) => (d.min(self.config.retry_after_cap), true),
                None => (jittered(attempt - 1, policy), false),
            };
            if Instant::now() + delay >= deadline {
                return Err(transient.into_error(endpoint, attempt));
            }
            ApiRequestRetrying {
                endpoint,
                reason: transient.reason,
                attempt,
                delay,
                retry_after: from_server,
            }
            .emit(&self.metrics);
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP request: send, classify the status, read the body.
    async fn attempt(
        &self,
        endpoint: &'static str,
        url: &Url,
        timeout: Duration,
        attempt: u32,
        read: Read,
    ) -> Outcome {
        let started = Instant::now();
        let completed = |status_class, status| ApiRequestCompleted {
            endpoint,
            status_class,
            status,
            attempt,
            duration: started.elapsed(),
        };
        let sent = self
            .http
            .get(url.clone())
            .basic_auth(self.key.expose(), None::<&str>)
            .header(ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                let transient = self.request_failure(&e);
                completed(transient.reason, None).emit(&self.metrics);
                return Outcome::Retry(transient);
            }
        };
        let status = response.status().as_u16();
        let class = status_class(status);
        let headers = response.headers().clone();
        if (200..300).contains(&status) {
            let limit = self.config.max_body_bytes;
            let read = match read {
                Read::Bytes => read_capped(response, limit).await.map(|b| (b, None)),
                Read::Listing => (read_listing(response, limit).await)
                    .map(|(prefix, parsed)| (prefix, Some(parsed))),
            };
            completed(class, Some(status)).emit(&self.metrics);
            return match read {
                Ok((bytes, listing)) => Outcome::Done(Body {
                    status,
                    content_type: self.header_text(&headers, CONTENT_TYPE),
                    bytes,
                    listing,
                }),
                Err(ReadError::TooLarge { content_length }) => {
                    Outcome::Fail(ApiError::BodyTooLarge {
                        endpoint,
                        limit: self.config.max_body_bytes,
                        content_length,
                    })
                }
                Err(ReadError::Failed(e)) => Outcome::Retry(self.request_failure(&e)),
            };
        }
        let body = read_prefix(response, ERROR_BODY_BYTES).await;
        completed(class, Some(status)).emit(&self.metrics);
        let detail = error_detail(&body, &self.key);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Outcome::Fail(match status {
            400 => ApiError::BadRequest { endpoint, detail },
            401 => ApiError::Unauthorized { endpoint, detail },
            403 => ApiError::Forbidden { endpoint, detail },
            404 => ApiError::NotFound { endpoint, detail },
            410 => ApiError::Gone { endpoint, detail },
            408 => return Outcome::Retry(Transient::new(retry_after, TransientKind::Timeout)),
            429 => return Outcome::Retry(Transient::new(retry_after, TransientKind::RateLimited)),
            500..=599 => {
                return Outcome::Retry(Transient::new(
                    retry_after,
                    TransientKind::Server { status, detail },
                ))
            }
            300..=399 => ApiError::Redirect {
                endpoint,
                status,
                location: self.header_text(&headers, LOCATION),
            },
            _ => ApiError::UnexpectedStatus {
                endpoint,
                status,
                detail,
            },
        })
    }

    /// A request that got no status (or whose body broke off): timeout or transport.
    /// The reason doubles as the `status_class` of the attempt.
    fn request_failure(&self, e: &reqwest::Error) -> Transient {
        if e.is_timeout() {
            return Transient::new(None, TransientKind::Timeout);
        }
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        let detail = self.key.scrub(&detail);
        Transient::new(None, TransientKind::Transport { detail })
    }

    /// A header's value for quoting in an error: text only, scrubbed, short.
    fn header_text(
        &self,
        headers: &HeaderMap,
        name: reqwest::header::HeaderName,
    ) -> Option<String> {
        let value = headers.get(name)?.to_str().ok()?;
        Some(self.key.scrub(value).chars().take(HEADER_CHARS).collect())
    }
}

fn jittered(retry: u32, policy: &RetryPolicy) -> Duration {
    backoff_delay(retry, policy, &mut rand::rng())
}
