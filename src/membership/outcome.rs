//! What one poll of one organization produces: the change events, the state records
//! to write and the departure guard's verdict. Made by [`super::diff()`], applied to
//! the state by [`super::OrgState::apply`] once committed.

use super::guard::GuardVerdict;
use super::model::{ChangeEvent, StateRecord};

/// What one poll of one organization produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOutcome {
    /// In the documented order; empty when the guard holds.
    pub events: Vec<ChangeEvent>,
    /// One record per member with events (its new state, or a tombstone after
    /// LEFT), then the checkpoint; empty when the guard holds.
    pub state_writes: Vec<StateRecord>,
    pub verdict: GuardVerdict,
}
