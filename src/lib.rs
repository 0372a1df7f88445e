//! streak-connector: change data capture for Streak CRM organization membership.
//!
//! Streak has no webhooks and no SCIM, so this crate polls it. One poll of one
//! organization walks the pipeline once:
//!
//! 1. [`streak`] fetches the organization's members over HTTPS (Basic auth, rate
//!    limited, retried with backoff on transient errors) and parses them leniently
//!    into a [`membership::Listing`], counting every field that drifted.
//! 2. [`membership`] compares the listing with the organization's known state (pure:
//!    no I/O, the clock passed in) and yields the changed members, each once and
//!    compact, from which come the change events and the state records to write, and
//!    the departure guard's verdict.
//! 3. [`avro`] encodes events and state records with the schemas in `schemas/`
//!    (Confluent wire format with a Schema Registry, single-object encoding without),
//!    a chunk of members at a time.
//! 4. [`kafka`] writes the events, the state records and the organization's
//!    checkpoint in one Kafka transaction, chunk by chunk, so that a poll's memory is
//!    bounded by a chunk; at start-up it restores all state from the compacted state
//!    topic, read committed.
//! 5. Only after the commit does the in-memory state move on, so a crash anywhere
//!    replays the poll from the last committed state: exactly once.
//!
//! [`metrics`] holds the Prometheus registry that every stage updates, and
//! [`simulator`] is a Streak API simulator used by the demo, tests and benchmarks.

pub mod app;
pub mod audit;
pub mod avro;
pub mod cli;
pub mod config;
pub mod connector;
pub mod kafka;
pub(crate) mod keypool;
pub mod membership;
pub mod metrics;
pub mod recovery;
pub(crate) mod redact;
pub(crate) mod release;
pub mod scheduler;
pub(crate) mod server;
pub(crate) mod siem;
pub mod simulator;
pub mod streak;
pub mod telemetry;
