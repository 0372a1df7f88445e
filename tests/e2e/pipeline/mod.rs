//! End to end through the built binary: the in-process Streak simulator, a Kafka
//! broker (`KAFKA_BOOTSTRAP_SERVERS`, else librdkafka's mock cluster when the binary
//! can use it), and `streak-connector once|run` as separate processes. What the
//! binary wrote is read back read_committed and decoded with the crate's decoder.
//!
//! Every test has its own simulator (port 0), topics, connector name and API keys,
//! so they run in parallel.

use std::collections::BTreeSet;
use std::time::Duration;

use streak_connector::avro::DecodedEvent;
use testkit::topic::{of_org, summary};

/// Bound of a `once` against a local broker (a debug build on a busy machine).
const ONCE_TIMEOUT: Duration = Duration::from_secs(120);

fn users(events: &[&DecodedEvent]) -> BTreeSet<String> {
    events.iter().map(|e| e.event.user_key.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

mod once;
mod run;
mod sigterm;
