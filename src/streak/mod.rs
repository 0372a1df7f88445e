//! The Streak API client: HTTP, auth, rate limit, retries and lenient wire parsing.
//!
//! [`StreakClient`] makes the three calls the connector needs (`GET /users/me`,
//! `GET /users/me/organization`, `GET /organizations/{orgKey}/users`) with HTTP Basic
//! auth (the [`ApiKey`] as username, empty password), a per-key rate limit, timeouts,
//! a capped streamed body, and retries with full-jitter backoff on 429, 5xx,
//! timeouts and transport errors. Listings are parsed leniently ([`parse_listing`]):
//! what drifts is dropped and counted, never fatal.
//!
//! This module owns talking to Streak and nothing else: it does not decide what a
//! listing means (that is `membership`) and never logs, returns or labels the key.
//! Operator-facing behaviour is documented in `docs/streak-client.md`.

mod api;
mod attempt;
mod client;
mod config;
mod error;
mod key;
mod ratelimit;
mod retry;
mod telemetry;
mod wire;

pub use api::StreakApi;
pub(crate) use attempt::{RETRY_REASONS, STATUS_CLASSES};
pub use client::{FetchedListing, StreakClient};
pub use config::{ClientConfig, USER_AGENT};
pub use error::ApiError;
pub use key::ApiKey;
pub(crate) use wire::drift_fields;
pub use wire::{
    parse_listing, parse_listing_whole, CurrentUser, ListingParser, ListingStats, Organization,
    ParsedListing,
};
