//! The three jobs of the Streak API guide, as a pure core: the **audit** (every
//! member of an organization), the **inactive review** (the offboarding list) and
//! the **reconciliation** with the company directory by email, one-off or
//! continuous.
//!
//! Pure like [`crate::membership`]: no tokio, no clock read, no logging, no
//! metrics, no I/O except parsing a directory from a reader the caller hands in.
//! Time comes in as an argument, results come out as data for the commands and
//! the runtime to print or publish.
//!
//! - [`roster_from_state`] / [`roster_from_listing`] and [`inactive_review`]: the
//!   audit and the review, with the connector's own inactivity rule;
//! - [`parse_directory`] / [`parse_directory_record`]: the directory, from a CSV or
//!   JSON lines file or a directory topic record, every unusable line reported;
//! - [`reconcile`] / [`reconcile_state`]: the findings of one organization;
//! - [`Reconciler`]: the continuous mode, the finding changes of each poll as
//!   [`FindingRecord`]s, restorable from the findings topic;
//! - [`render_rosters`], [`render_inactive`], [`render_findings`]: table, CSV, JSON;
//! - [`ocsf::finding_record`]: a finding change as an OCSF Detection Finding.
//!
//! `docs/audit.md` is the user's view of all of it.

mod continuous;
mod csv;
mod directory;
mod email;
mod error;
pub mod ocsf;
mod reconcile;
mod render;
mod roster;
mod status;

#[cfg(test)]
mod tests;

pub(crate) use continuous::PendingFindings;
pub use continuous::{FindingRecord, Reconciler};
pub(crate) use directory::{parse_directory, DirectoryFormat, DirectoryUpdate, LoadedDirectory};
pub use directory::{parse_directory_record, Directory, DirectoryOptions};
pub(crate) use email::EmailNormalisation;
pub(crate) use error::DirectoryError;
pub use reconcile::{reconcile, ReconcileOptions, Subject};
pub(crate) use reconcile::{reconcile_state, sort_findings, Finding, FindingKind};
pub(crate) use render::{render_findings, render_inactive, render_rosters, rfc3339, Format};
pub use roster::DAY_MS;
pub(crate) use roster::{
    inactive_review, roster_from_listing, roster_from_state, Roster, REMOVAL_NOTE,
};
