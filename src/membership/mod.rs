//! The membership domain: detecting changes between what the connector knows of an
//! organization and what the Streak API lists now.
//!
//! Pure: no tokio, no I/O, no clock read. Time comes in as an argument.

mod model;

pub use model::{
    ChangeEvent, Checkpoint, EventType, Listing, Member, MemberState, OrgState, SourceInfo,
    StateRecord,
};
