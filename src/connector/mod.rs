//! The connector at work: one organization's poll cycle ([`poller`]), the start-up
//! that builds the parts, restores the state and makes the pollers ([`startup`],
//! [`restore`]), the state the cycle shares with the HTTP side door ([`shared`]),
//! and the internal events that log and count what happens ([`telemetry`]).
//!
//! The domain decisions are [`crate::membership`]'s; the I/O is behind
//! [`crate::streak::StreakApi`], [`crate::kafka::TransactionalSink`] and
//! [`Restore`]. This module only orders the steps.

pub(crate) mod context;
mod guarded;
pub(crate) mod hold_events;
pub(crate) mod holds;
pub mod keys;
pub(crate) mod ocsf;
pub(crate) mod poller;
mod prefetch;
pub mod reconcile;
pub(crate) mod record_size;
pub(crate) mod records;
pub(crate) mod restore;
pub(crate) mod shared;
pub(crate) mod startup;
mod startup_error;
pub(crate) mod state_keys;
pub mod status;
pub(crate) mod telemetry;

pub(crate) use context::system_clock;
pub use context::{Mode, PollContext};
pub use holds::{Decision, DecisionRefused, Holds, InactivityLimits};
pub(crate) use holds::{Hold, HoldKind};
pub use ocsf::OcsfOutput;
pub use poller::OrgPoller;
pub use prefetch::Prefetch;
pub use record_size::RecordLimit;
pub use records::DEFAULT_CHUNK_MEMBERS;
pub use restore::{Restore, StateReader};
pub use shared::{Health, Shared};
pub use startup::{Started, StartupError};
