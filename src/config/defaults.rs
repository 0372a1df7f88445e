//! The defaults of the settings the connector itself owns, named so docs and code
//! agree. The defaults of a module's settings live with that module's config type
//! ([`crate::streak::ClientConfig::default`], [`crate::kafka::KafkaConfig::new`],
//! [`crate::membership::Settings::default`]); the typed configuration starts from
//! those and overrides only what the user set. The re-exports below only name them.

use std::time::Duration;

pub(crate) use crate::kafka::config::{
    DEFAULT_EVENTS_TOPIC as EVENTS_TOPIC, DEFAULT_STATE_TOPIC as STATE_TOPIC,
};

pub(crate) const KAFKA_BOOTSTRAP_SERVERS: &str = "localhost:9092";
pub(crate) const CONNECTOR_NAME: &str = "streak-connector";
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub(crate) const METRICS_LISTEN: &str = "0.0.0.0:9464";
/// The admin API: loopback only unless the operator says otherwise.
pub(crate) const ADMIN_LISTEN: &str = "127.0.0.1:9465";
pub(crate) const POLL_JITTER: f64 = 0.1;
pub(crate) const MAX_CONCURRENT_POLLS: usize = 4;
pub(crate) const READY_MAX_CONSECUTIVE_FAILURES: u32 = 3;
