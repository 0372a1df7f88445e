//! The first listing of an organization, fetched while the state topic is restored.
//!
//! The restore reads Kafka and the listing comes from Streak: neither needs the
//! other. Start-up places the keys (their `GET /users/me`, also while the restore
//! runs), then starts the first cycle's fetch of the first organizations, so that a
//! start waits for the longer of the two rather than for both one after the other.
//! The first cycle takes the fetch's outcome as its own: a listing, or the error the
//! fetch would have given it (it is classified and retried like any other). Nothing
//! else changes: the diff, the encoding and the commit still wait for the restored
//! state, in the cycle. A prefetch dropped unused (the start failed, the poller was
//! dropped) is aborted.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::context::Clock;
use super::keys::{FetchError, OrgKeys};
use crate::streak::FetchedListing;

/// A first fetch under way, spawned on the runtime.
#[derive(Debug)]
pub struct Prefetch(JoinHandle<Result<FetchedListing, FetchError>>);

impl Prefetch {
    /// Starts what the first cycle of `keys`' organization would fetch: the standby
    /// keys' checks, then the listing with the polling key.
    pub fn spawn(keys: Arc<OrgKeys>, clock: Clock) -> Self {
        Prefetch(tokio::spawn(async move {
            keys.check_standbys(clock()).await;
            keys.org_users().await
        }))
    }

    /// The fetch's outcome; `None` if its task did not finish (it panicked), in
    /// which case the cycle fetches again itself.
    pub(crate) async fn outcome(&mut self) -> Option<Result<FetchedListing, FetchError>> {
        (&mut self.0).await.ok()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}
