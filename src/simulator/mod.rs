//! The Streak API simulator: scenarios, timelines and injected faults, served over HTTP.
//!
//! It serves Streak's membership endpoints (`GET /api/v1/users/me`,
//! `/api/v1/users/me/organization`, `/api/v1/organizations/{orgKey}/users`) with HTTP
//! Basic auth, from a [`Scenario`] (TOML or JSON): organizations with their API keys
//! and members (written out or generated from a seed), a timeline of changes (by
//! elapsed time or by request count, optionally looping), and faults injected into
//! chosen requests (error statuses, delays, broken bodies, odd entries). The demo, the
//! docker-compose set-up, the benchmarks and the tests all run it; the
//! `streak-connector simulate` command serves it on its own.
//!
//! ```no_run
//! # async fn demo() -> Result<(), streak_connector::simulator::SimError> {
//! use streak_connector::simulator::{Change, Scenario, Simulator};
//! let sim = Simulator::start(Scenario::lively(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("{}", sim.base_url()); // http://127.0.0.1:PORT/api/v1
//! sim.apply("org-lively", Change::Leave { key: "u-bob".into() })?;
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Layout: `model` data types, `generate` deterministic members, `org` one organization's members, `scenario`
//! the file format and its validation, `faults` what faults do, `world` the live
//! state and per-request decisions (no I/O), `reply` and `stats` their outputs, `server` the axum side, `clock` time,
//! `cli` the command. The simulator is a product surface, not a test helper, but it
//! must never be mistaken for the connector: it imports nothing from the client and
//! the connector imports nothing from it.

pub mod cli;
mod clock;
mod faults;
mod generate;
mod model;
mod org;
mod reply;
mod scenario;
mod server;
mod stats;
mod world;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use clock::{system_now_ms, ManualClock};
pub use generate::generate_members_at;
pub use model::{Change, Endpoint, MemberSpec, ProfilePatch, SimMember, Stamp, GO_QUIET_FOR};
pub use scenario::Scenario;
pub use server::{RunningSimulator, Simulator};

/// What can go wrong with the simulator. None is worth retrying as is: each says what
/// to fix.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Stop: the scenario file cannot be read; check the path.
    #[error("cannot read scenario file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Stop: the scenario is not valid TOML/JSON or does not fit the format.
    #[error("scenario does not parse as {0}")]
    Parse(String),
    /// Stop: the scenario parses but is inconsistent; fix every problem listed.
    #[error("invalid scenario ({} problem(s)):\n  - {}", problems.len(), problems.join("\n  - "))]
    Invalid { problems: Vec<String> },
    /// Stop: the listen address is taken or not allowed; pick another (port 0 works).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Stop: the server failed while serving.
    #[error("simulator server failed: {0}")]
    Serve(std::io::Error),
    /// Caller error: no organization with this key in the scenario.
    #[error("no organization `{0}` in the scenario")]
    UnknownOrganization(String),
    /// Caller error: the organization has no member with this key (now).
    #[error("organization `{org}` has no member `{key}`")]
    UnknownMember { org: String, key: String },
    /// Caller error: a member with this key is already listed.
    #[error("organization `{org}` already has a member `{key}`")]
    DuplicateMember { org: String, key: String },
    /// Caller error: the API key is not one of this organization's (the key itself
    /// is not repeated here).
    #[error("organization `{org}` has no such API key")]
    UnknownApiKey { org: String },
    /// Caller error: no organization of the scenario has this API key.
    #[error("the scenario has no such API key")]
    NoSuchApiKey,
}

#[cfg(test)]
mod key_tests;
