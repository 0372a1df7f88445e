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
pub mod holds;
pub mod keys;
pub mod ocsf;
pub(crate) mod poller;
pub mod reconcile;
pub(crate) mod record_size;
pub mod restore;
pub mod shared;
pub(crate) mod startup;
mod startup_error;
pub(crate) mod state_keys;
pub mod status;
pub mod telemetry;

pub use context::{system_clock, Clock, Mode, PollContext};
pub use holds::{Decision, DecisionRefused, Hold, HoldKind, Holds, InactivityLimits};
pub use ocsf::OcsfOutput;
pub use poller::{CycleError, OrgPoller};
pub use restore::{Restore, StateReader};
pub use shared::{Health, Shared};
pub use startup::{Parts, StartOptions, Started, StartupError};
pub use status::{ConnectorStatus, StatusBoard};
