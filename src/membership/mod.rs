//! The membership domain: detecting changes between what the connector knows of an
//! organization and what the Streak API lists now.
//!
//! Pure: no tokio, no I/O, no clock read, no logging, no metrics. Time comes in as
//! an argument and every decision comes out as data ([`PollOutcome`],
//! [`GuardVerdict`]) for the runtime to publish, log and count. Nothing here can
//! fail, so the module has no error type.
//!
//! - [`diff`] applies the rules of `docs/events-semantics.md` and the departure
//!   guard to one poll; the poll cycle uses its two halves, [`plan`] and
//!   `Plan::changes`, whose [`PollChanges`] hold each changed member once, packed,
//!   and make its events and state record on demand;
//! - [`OrgState`] holds an organization's members compactly (one allocation per
//!   member) and moves on only through [`OrgState::apply`] of a committed outcome,
//!   or through the restore's `insert`/`remove`/`set_checkpoint`;
//! - [`event_id`] derives the deterministic event ids.

mod changes;
mod diff;
mod event_id;
mod fold;
mod guard;
mod model;
mod outcome;
pub(crate) mod owner;
mod packed;
mod settings;
mod state;
mod table;
pub(crate) use table::KeyIndex;

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod proptests;

pub(crate) use changes::PollChanges;
#[cfg(test)]
pub(crate) use diff::diff_changes;
pub(crate) use diff::plan;
pub use diff::{diff, is_inactive};
pub use event_id::event_id;
pub use fold::fold_state;
pub(crate) use fold::{fold_restored, member_counts, RestoredRecord};
pub(crate) use guard::GuardRelease;
pub use guard::GuardVerdict;
pub use model::{
    ChangeEvent, Checkpoint, EventType, Listing, Member, MemberState, SourceInfo, StateRecord,
};
#[cfg(test)]
pub(crate) use outcome::PollOutcome;
pub use owner::owner_risks;
pub(crate) use packed::{MemberParts, PackedMember};
pub use settings::{Settings, DEFAULT_INACTIVE_AFTER_MS};
pub use state::OrgState;
