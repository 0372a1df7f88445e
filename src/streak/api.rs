//! The seam between the connector and Streak: a small trait the runtime depends on,
//! so tests can drive a poll cycle with an in-memory twin instead of HTTP.
//!
//! Owns only the trait. [`super::StreakClient`] is the real implementation; a twin
//! must keep the same contract (errors as [`ApiError`], listings already parsed).

use async_trait::async_trait;

use super::client::{FetchedListing, StreakClient};
use super::error::ApiError;
use super::wire::{CurrentUser, Organization};

/// What the connector needs from Streak.
#[async_trait]
pub trait StreakApi: Send + Sync + std::fmt::Debug {
    /// `GET /users/me`: the key owner and the organization the key sees.
    async fn me(&self) -> Result<CurrentUser, ApiError>;
    /// `GET /users/me/organization`.
    async fn organization(&self) -> Result<Organization, ApiError>;
    /// `GET /organizations/{orgKey}/users`, parsed leniently.
    async fn org_users(&self, org_key: &str) -> Result<FetchedListing, ApiError>;
    /// The key's fingerprint, to name it in logs and metrics.
    fn key_fingerprint(&self) -> &str;
}

#[async_trait]
impl StreakApi for StreakClient {
    async fn me(&self) -> Result<CurrentUser, ApiError> {
        StreakClient::me(self).await
    }

    async fn organization(&self) -> Result<Organization, ApiError> {
        StreakClient::organization(self).await
    }

    async fn org_users(&self, org_key: &str) -> Result<FetchedListing, ApiError> {
        StreakClient::org_users(self, org_key).await
    }

    fn key_fingerprint(&self) -> &str {
        StreakClient::key_fingerprint(self)
    }
}
