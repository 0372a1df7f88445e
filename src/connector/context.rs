//! What every organization's poll cycle shares: the [`PollContext`] built once at
//! start-up (the sink, the encoder, the guard's holds, health and status), the
//! [`Clock`] and the [`Mode`]. A leaf of the cycle: the poller and the guard read
//! it, start-up fills it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::holds::{Holds, InactivityLimits};
use super::ocsf::OcsfOutput;
use super::record_size::RecordLimit;
use super::shared::Health;
use crate::avro::Encoder;
use crate::kafka::TransactionalSink;
use crate::membership::{self, ChangeEvent, OrgState};
use crate::metrics::Metrics;

/// The connector's clock: epoch milliseconds. Injected so tests control time.
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub(crate) fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// Publish for real, or only show what would be published.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Commit every poll to Kafka.
    Publish,
    /// Commit nothing; send the events of each poll here instead.
    DryRun(mpsc::UnboundedSender<ChangeEvent>),
}

/// What every organization's poller shares.
pub struct PollContext {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The guard's holds and the operators' decisions on them.
    pub holds: Arc<Holds>,
    /// The inactivity guard's limits.
    pub inactivity: InactivityLimits,
    /// One permit per transaction the sink can have open (its producers): the
    /// cycles that commit hold one, the others wait here, where shutdown reaches
    /// them, rather than inside the producer.
    pub commit_gate: tokio::sync::Semaphore,
    pub sink: Arc<dyn TransactionalSink>,
    pub encoder: Encoder,
    pub events_topic: String,
    pub state_topic: String,
    /// With an OCSF topic, each event's OCSF record goes into the same transaction.
    pub ocsf: Option<OcsfOutput>,
    pub settings: membership::Settings,
    /// The largest record the producer sends (see [`super::record_size`]).
    pub record_limit: RecordLimit,
    /// Changed members whose records make one chunk of a poll's transaction (see
    /// [`super::records`]; [`super::DEFAULT_CHUNK_MEMBERS`] unless a test wants
    /// many chunks).
    pub chunk_members: usize,
    pub clock: Clock,
    pub mode: Mode,
    /// State restored at start-up, handed to each organization's poller at its
    /// first cycle.
    pub restored: Mutex<HashMap<String, OrgState>>,
    /// The organizations being polled (shown to the admin endpoint).
    pub orgs: Arc<Mutex<Vec<String>>>,
    /// What `/status` shows: written here where health is.
    pub status: Arc<super::status::StatusBoard>,
    /// The continuous reconciliation, when configured: its finding records join
    /// each poll's transaction.
    pub reconcile: Option<Arc<super::reconcile::Continuous>>,
}

impl std::fmt::Debug for PollContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollContext")
            .field("events_topic", &self.events_topic)
            .field("state_topic", &self.state_topic)
            .field("settings", &self.settings)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}
