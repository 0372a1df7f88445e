//! The connector at work: one organization's poll cycle ([`poller`]), the start-up
//! that restores state and builds the pollers ([`startup`]), and the internal events
//! that log and count what happens ([`events`]).
//!
//! The domain decisions are [`crate::membership`]'s; the I/O is behind
//! [`crate::streak::StreakApi`] and [`crate::kafka::TransactionalSink`]. This module
//! only orders the steps.

pub mod events;
pub mod poller;
pub mod record_size;
pub mod startup;
pub mod state_keys;

pub use poller::{system_clock, Clock, CycleError, Mode, OrgPoller, PollContext};
