//! Key pools: several personal API keys that see the same organization, one polling
//! and the others standing by, so that one person leaving does not stop the
//! organization (issue 12, "the personal-key trap").
//!
//! - [`KeyPool`] is the state of one organization's pool: which key polls, which
//!   stand by, which were rejected; failover to the next healthy key when the polling
//!   key is rejected; "every key rejected" as its own outcome ([`AllKeysRejected`]);
//!   when each standby key is due for its cheap `GET /users/me` check; the counts
//!   behind `streak_connector_api_keys{org,state}`. Pure: no I/O, no clock read
//!   (time comes in as epoch milliseconds), no logging, no metrics; every decision
//!   comes out as data for the runtime to act on, log and count.
//! - [`watch`] re-reads `--api-key-file` (a file, or a directory as a mounted
//!   Kubernetes Secret gives) and yields the keys added and removed; [`file`] holds
//!   the key-file format itself.
//!
//! Keys are named here only by their fingerprint ([`crate::streak::ApiKey::fingerprint`]);
//! the pool never holds a secret.

pub(crate) mod file;
mod pool;
pub(crate) mod watch;

#[cfg(test)]
mod proptests;

pub(crate) use file::{read_key_path, KeyFileError};
#[cfg(test)]
pub(crate) use pool::DEFAULT_STANDBY_CHECK_EVERY_MS;
pub(crate) use pool::{
    AddOutcome, AllKeysRejected, CheckOutcome, KeyCounts, KeyPool, KeyState, PoolSettings,
    RejectOutcome, RemoveOutcome,
};
pub(crate) use watch::{KeyChanges, KeyFileWatcher, WatchSettings};
