//! Telemetry of the connector itself (not the product's change events, which live in
//! [`crate::membership`]): logging set-up and the one trait every internal event
//! implements.
//!
//! An internal event is one struct per thing that happens (`PollSucceeded`,
//! `ApiRequestFailed`, `TransactionAborted`, ...). Its [`InternalEvent::emit`] both
//! logs through `tracing` and updates the Prometheus metric, so a call site is one
//! line and no metric write or operator-facing log line lives anywhere else. Each
//! module keeps its own events in a `telemetry.rs` of its own.

#[cfg(test)]
pub(crate) mod captured;
mod logging;
mod text_fields;

pub use logging::init_logging;

use crate::metrics::Metrics;

/// Something that happened inside the connector, worth a log line and a metric.
pub trait InternalEvent {
    /// Logs the event and updates its metrics.
    fn emit(self, metrics: &Metrics);
}
