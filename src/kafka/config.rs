//! The validated Kafka settings and how each client (admin, restore consumer,
//! transactional producer) is configured from them.
//!
//! This module owns the librdkafka properties the connector sets itself (they cannot
//! be overridden: exactly-once depends on them), the Kafka settings' defaults and
//! their rules; it must not create clients. `crate::config` only names a setting as
//! the user typed it when one of these rules refuses it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::ClientConfig;

use super::restored::RecordAt;

/// Properties the connector sets itself: a passthrough value for one of them would
/// weaken exactly-once or break restore, so it is refused.
///
/// `allow.auto.create.topics` is among them: no client of the connector may make the
/// broker create a topic behind its back (a state topic auto-created with
/// `cleanup.policy=delete` would be refused, and an auto-created events topic gets
/// the broker's settings instead of the connector's).
pub(crate) const RESERVED_PROPERTIES: [&str; 10] = [
    "bootstrap.servers",
    "transactional.id",
    "transaction.timeout.ms",
    "enable.idempotence",
    "isolation.level",
    "enable.auto.commit",
    "enable.partition.eof",
    "partitioner",
    "group.id",
    "allow.auto.create.topics",
];

/// Default topic of the change events.
pub(crate) const DEFAULT_EVENTS_TOPIC: &str = "streak.membership.events";
/// Default compacted topic of the connector's state.
pub(crate) const DEFAULT_STATE_TOPIC: &str = "streak.membership.state";
/// Partitions and replication factor of created topics by default: `-1`, the
/// broker's `num.partitions` and `default.replication.factor` (KIP-464).
pub(crate) const BROKER_DEFAULT: i32 = -1;
/// Default transaction timeout.
pub(crate) const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// The broker's default `transaction.max.timeout.ms`: the largest transaction
/// timeout accepted.
pub(crate) const MAX_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(900);

/// How [`ensure_topics`](super::ensure_topics) treats the topics at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicPolicy {
    /// Create missing topics, read the state topic's configuration back and refuse
    /// one that is not compacted. The default, for every real cluster.
    #[default]
    CreateAndVerify,
    /// Create nothing, describe nothing: trust that the topics exist (or that the
    /// cluster creates them on first use). For librdkafka's mock cluster, which
    /// implements neither CreateTopics nor DescribeConfigs, and for clusters where
    /// the connector's principal may not create or describe topics. Logged as a
    /// warning at start-up.
    Trust,
}

/// Which consumer reads the state topic at start-up (`kafka.restore_reader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestoreReader {
    /// The connector's own reader of the fetch protocol on a plaintext cluster
    /// (several times faster), librdkafka's consumer on any other, or wherever the
    /// own reader cannot finish (it then says why, and librdkafka reads again).
    #[default]
    Auto,
    /// Always librdkafka's consumer.
    Librdkafka,
}

/// Everything the Kafka layer needs to know, validated. `Debug` redacts the values
/// of secret-bearing properties (`sasl.password`, ...).
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// Extra librdkafka properties applied to every client (security, SASL, client
    /// tuning). The [`RESERVED_PROPERTIES`] are refused.
    pub properties: BTreeMap<String, String>,
    /// Where change events go (created if absent, used as is otherwise).
    pub events_topic: String,
    /// The compacted topic holding each member's last state and each organization's
    /// checkpoint.
    pub state_topic: String,
    /// Where each change event also goes as one OCSF 1.8.0 JSON record, in the
    /// event's transaction (off: `None`); created like the events topic.
    pub ocsf_topic: Option<String>,
    /// Partitions of the topics the connector creates (`-1`: the broker's
    /// `num.partitions`).
    pub partitions: i32,
    /// Replication factor of the topics the connector creates (`-1`: the broker's
    /// `default.replication.factor`).
    pub replication_factor: i32,
    /// The producer's transactional id, derived from the connector's name by the
    /// caller: a second instance with the same name fences the first.
    pub transactional_id: String,
    /// How long the broker lets a transaction stay open before aborting it; also
    /// bounds a delivery (`message.timeout.ms` follows it) and a commit attempt. Must
    /// not exceed the broker's `transaction.max.timeout.ms` (15 min by default).
    pub transaction_timeout: Duration,
    /// Timeout of admin requests, metadata look-ups and `init_transactions`.
    pub request_timeout: Duration,
    /// Consumers the restore runs in parallel (each reads a share of the partitions).
    pub restore_parallelism: usize,
    /// Which consumer the restore uses ([`RestoreReader`]).
    pub restore_reader: RestoreReader,
    /// Transactional producers that commit in parallel (1 to
    /// [`super::pool::MAX_PRODUCERS`]; every id up to that maximum is fenced at
    /// start-up whatever this is). The configuration sets it to
    /// `max_concurrent_polls`.
    pub producers: usize,
    pub topic_policy: TopicPolicy,
    /// State records the restore reads as if they had never been written
    /// (`kafka.skip_state_records`): the way past one undecodable record when no
    /// tombstone can be written for its key. Each skip is logged and counted.
    pub skip_state_records: BTreeSet<RecordAt>,
}

/// A setting that cannot work. Recovery: stop, fix the configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("kafka.bootstrap_servers is empty; set it to the broker list, e.g. `broker1:9092,broker2:9092`")]
    NoBootstrapServers,
    #[error("Kafka property `{0}` is set by the connector itself (exactly-once depends on it); remove it from the passthrough properties")]
    ReservedProperty(String),
    #[error("the {which} topic name `{name}` is not a valid Kafka topic name (1-249 characters among a-z A-Z 0-9 . _ -)")]
    InvalidTopicName { which: &'static str, name: String },
    #[error("the events topic and the state topic must differ (both are `{0}`): the state topic is compacted")]
    SameTopic(String),
    #[error("the OCSF topic `{0}` must differ from the events topic and the state topic: it holds JSON records of its own")]
    OcsfTopicReused(String),
    #[error("kafka.partitions must be -1 (broker default) or at least 1 (got {0})")]
    Partitions(i32),
    #[error("kafka.replication_factor must be -1 (broker default) or at least 1 (got {0})")]
    ReplicationFactor(i32),
    #[error("the transactional id is empty; it is derived from the connector name, which must not be empty")]
    NoTransactionalId,
    #[error("the transaction timeout must be between 1 s and 15 min (got {0:?})")]
    TransactionTimeout(Duration),
}

impl KafkaConfig {
    /// Settings with the defaults for everything but the broker list and the
    /// transactional id.
    pub fn new(bootstrap_servers: impl Into<String>, transactional_id: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            properties: BTreeMap::new(),
            events_topic: DEFAULT_EVENTS_TOPIC.into(),
            state_topic: DEFAULT_STATE_TOPIC.into(),
            ocsf_topic: None,
            partitions: BROKER_DEFAULT,
            replication_factor: BROKER_DEFAULT,
            transactional_id: transactional_id.into(),
            transaction_timeout: DEFAULT_TRANSACTION_TIMEOUT,
            request_timeout: Duration::from_secs(30),
            restore_parallelism: 4,
            restore_reader: RestoreReader::Auto,
            // One per organization polled at once, by default 4 (the
            // configuration's `max_concurrent_polls`, which sets it).
            producers: 4,
            topic_policy: TopicPolicy::CreateAndVerify,
            skip_state_records: BTreeSet::new(),
        }
    }

    /// Cross-field checks; run once at start-up.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(ConfigError::NoBootstrapServers);
        }
        if let Some(k) = self
            .properties
            .keys()
            .find(|k| RESERVED_PROPERTIES.contains(&k.trim()))
        {
            return Err(ConfigError::ReservedProperty(k.clone()));
        }
        let ocsf = self.ocsf_topic.iter().map(|t| ("OCSF", t));
        for (which, name) in [("events", &self.events_topic), ("state", &self.state_topic)]
            .into_iter()
            .chain(ocsf)
        {
            if !valid_topic_name(name) {
                return Err(ConfigError::InvalidTopicName {
                    which,
                    name: name.clone(),
                });
            }
        }
        if self.events_topic == self.state_topic {
            return Err(ConfigError::SameTopic(self.state_topic.clone()));
        }
        if let Some(t) = &self.ocsf_topic {
            if *t == self.events_topic || *t == self.state_topic {
                return Err(ConfigError::OcsfTopicReused(t.clone()));
            }
        }
        if !broker_default_or_positive(self.partitions) {
            return Err(ConfigError::Partitions(self.partitions));
        }
        if !broker_default_or_positive(self.replication_factor) {
            return Err(ConfigError::ReplicationFactor(self.replication_factor));
        }
        if self.transactional_id.trim().is_empty() {
            return Err(ConfigError::NoTransactionalId);
        }
        if self.transaction_timeout < Duration::from_secs(1)
            || self.transaction_timeout > MAX_TRANSACTION_TIMEOUT
        {
            return Err(ConfigError::TransactionTimeout(self.transaction_timeout));
        }
        Ok(())
    }

    /// Passthrough properties, then the broker list; never topic auto-creation
    /// (librdkafka's producer, and so rust-rdkafka's admin client, allows it by
    /// default: a metadata request for a missing topic would create it on a broker
    /// with `auto.create.topics.enable=true`, Kafka's stock setting).
    pub(crate) fn base_client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("allow.auto.create.topics", "false");
        // librdkafka connects a new client to a broker for its first request at most
        // once per half of reconnect.backoff.ms (its "sparse connections" interval,
        // at least 11 ms): with the default 100 ms, the first metadata request of
        // every short-lived client (the admin client, each restore consumer) waited
        // about 50 ms for it. 20 ms gives 11 ms; a broker that is down is still
        // retried with backoff doubling up to reconnect.backoff.max.ms (10 s).
        // Measured in docs/benchmarks.md.
        set_default(&mut c, "reconnect.backoff.ms", DEFAULT_RECONNECT_BACKOFF_MS);
        c
    }

    /// The transactional producer: idempotent, acks=all (implied), Java-compatible
    /// key partitioning.
    pub(crate) fn producer_config(&self) -> ClientConfig {
        let mut c = self.base_client_config();
        c.set("transactional.id", &self.transactional_id)
            .set(
                "transaction.timeout.ms",
                self.transaction_timeout.as_millis().to_string(),
            )
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random");
        set_default(&mut c, "client.id", "streak-connector");
        // A poll is written chunk by chunk with at most
        // chunked::MAX_IN_FLIGHT_BYTES awaiting delivery (about 30k records), so the
        // producer's queue never needs to hold a whole organization: bound its
        // copies well below the chart's memory limit (librdkafka's default is
        // 1 GiB). QueueFull, should it happen, only makes the writer wait.
        set_default(&mut c, "queue.buffering.max.messages", "100000");
        set_default(&mut c, "queue.buffering.max.kbytes", "32768");
        set_default(&mut c, "linger.ms", "10");
        // Producer queue, broker round-trip times, transaction state as metrics
        // (kafka::stats); the passthrough property changes the interval, 0 turns it off.
        set_default(
            &mut c,
            "statistics.interval.ms",
            super::stats::DEFAULT_STATISTICS_INTERVAL_MS,
        );
        c
    }

    /// The restore consumer: assigned partitions (no group, nothing committed), read
    /// committed, end-of-partition events on.
    pub(crate) fn restore_consumer_config(&self) -> ClientConfig {
        let mut c = self.base_client_config();
        c.set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            // librdkafka's assign() needs a group handle; the consumer only assigns
            // partitions: it never joins the group nor commits offsets.
            .set("group.id", format!("{}-restore", self.transactional_id));
        set_default(&mut c, "client.id", "streak-connector-restore");
        // The restore reads to a known end: no long polling. With librdkafka's
        // default (500 ms) a fetch that includes caught-up partitions waits, which
        // measured here cut the restore rate by 40% and added up to 0.5 s at the
        // end; 10 ms doubled it (docs/benchmarks.md). Larger fetch sizes than the
        // defaults measured slower.
        set_default(&mut c, "fetch.wait.max.ms", "10");
        // When the local queue is full (decoding is slower than fetching), the
        // next fetch waits fetch.queue.backoff.ms (default 1 s), long enough for
        // the queue to run dry: the restore then idles. Resume quickly instead.
        set_default(&mut c, "fetch.queue.backoff.ms", "10");
        c
    }

    /// The admin client (topic creation and checks).
    pub(crate) fn admin_config(&self) -> ClientConfig {
        let mut c = self.base_client_config();
        set_default(&mut c, "client.id", "streak-connector-admin");
        c
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), crate::redact::property_value(k, v)))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("properties", &properties)
            .field("events_topic", &self.events_topic)
            .field("state_topic", &self.state_topic)
            .field("ocsf_topic", &self.ocsf_topic)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("transactional_id", &self.transactional_id)
            .field("transaction_timeout", &self.transaction_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("restore_parallelism", &self.restore_parallelism)
            .field("restore_reader", &self.restore_reader)
            .field("producers", &self.producers)
            .field("topic_policy", &self.topic_policy)
            .field("skip_state_records", &self.skip_state_records)
            .finish()
    }
}

/// `-1` (the broker's default, KIP-464) or a positive count.
fn broker_default_or_positive(n: i32) -> bool {
    n == BROKER_DEFAULT || n >= 1
}

/// The first reconnect backoff of every client (see [`KafkaConfig::base_client_config`]).
const DEFAULT_RECONNECT_BACKOFF_MS: &str = "20";

fn set_default(c: &mut ClientConfig, key: &str, value: &str) {
    if c.get(key).is_none() {
        c.set(key, value);
    }
}

/// Kafka's own rule for topic names.
fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KafkaConfig {
        KafkaConfig::new("localhost:9092", "streak-connector-test")
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn refuses_reserved_properties() {
        let mut c = config();
        c.properties
            .insert("isolation.level".into(), "read_uncommitted".into());
        assert_eq!(
            c.validate(),
            Err(ConfigError::ReservedProperty("isolation.level".into()))
        );
    }

    #[test]
    fn refuses_bad_topics_and_numbers() {
        let mut c = config();
        c.state_topic = "bad topic".into();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::InvalidTopicName { which: "state", .. })
        ));
        let mut c = config();
        c.state_topic = c.events_topic.clone();
        assert!(matches!(c.validate(), Err(ConfigError::SameTopic(_))));
        for reused in [c.events_topic.clone(), config().state_topic] {
            let mut c = config();
            c.ocsf_topic = Some(reused);
            assert!(matches!(c.validate(), Err(ConfigError::OcsfTopicReused(_))));
        }
        let mut c = config();
        c.ocsf_topic = Some("bad topic".into());
        assert!(matches!(
            c.validate(),
            Err(ConfigError::InvalidTopicName { which: "OCSF", .. })
        ));
        c.ocsf_topic = Some("streak.membership.ocsf".into());
        assert_eq!(c.validate(), Ok(()));
        let mut c = config();
        c.partitions = 0;
        assert_eq!(c.validate(), Err(ConfigError::Partitions(0)));
        let mut c = config();
        c.partitions = -2;
        assert_eq!(c.validate(), Err(ConfigError::Partitions(-2)));
        let mut c = config();
        c.replication_factor = 0;
        assert_eq!(c.validate(), Err(ConfigError::ReplicationFactor(0)));
        let mut c = config();
        c.replication_factor = -2;
        assert_eq!(c.validate(), Err(ConfigError::ReplicationFactor(-2)));
        let mut c = config();
        c.transaction_timeout = Duration::from_secs(901);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TransactionTimeout(_))
        ));
        let mut c = config();
        c.transaction_timeout = Duration::from_millis(10);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TransactionTimeout(_))
        ));
        let mut c = config();
        c.bootstrap_servers = " ".into();
        assert_eq!(c.validate(), Err(ConfigError::NoBootstrapServers));
    }

    #[test]
    fn created_topics_default_to_the_brokers_settings() {
        let c = config();
        assert_eq!((c.partitions, c.replication_factor), (-1, -1));
        let mut c = config();
        c.partitions = 6;
        c.replication_factor = 3;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn no_client_allows_topic_auto_creation() {
        let c = config();
        for (client, props) in [
            ("producer", c.producer_config()),
            ("restore consumer", c.restore_consumer_config()),
            ("admin", c.admin_config()),
            ("base", c.base_client_config()),
        ] {
            assert_eq!(
                props.get("allow.auto.create.topics"),
                Some("false"),
                "{client}"
            );
        }
        let mut c = config();
        c.properties
            .insert("allow.auto.create.topics".into(), "true".into());
        assert_eq!(
            c.validate(),
            Err(ConfigError::ReservedProperty(
                "allow.auto.create.topics".into()
            ))
        );
    }

    #[test]
    fn debug_redacts_secret_properties() {
        let mut c = config();
        c.properties
            .insert("sasl.password".into(), "hunter2hunter2".into());
        c.properties
            .insert("sasl.username".into(), "svc-user".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("svc-user"), "{shown}");
        assert!(shown.contains("sasl.password"), "{shown}");
    }

    #[test]
    fn connector_properties_win_over_passthrough_defaults() {
        let mut c = config();
        c.properties.insert("linger.ms".into(), "50".into());
        c.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        let p = c.producer_config();
        assert_eq!(p.get("linger.ms"), Some("50"));
        assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(p.get("transaction.timeout.ms"), Some("60000"));
        assert_eq!(p.get("transactional.id"), Some("streak-connector-test"));
        let r = c.restore_consumer_config();
        assert_eq!(r.get("isolation.level"), Some("read_committed"));
        assert_eq!(r.get("security.protocol"), Some("SASL_SSL"));
    }

    #[test]
    fn every_client_connects_quickly_unless_told_otherwise() {
        let c = config();
        for client in [
            c.producer_config(),
            c.restore_consumer_config(),
            c.admin_config(),
            c.base_client_config(),
        ] {
            assert_eq!(client.get("reconnect.backoff.ms"), Some("20"));
        }
        let mut c = config();
        c.properties
            .insert("reconnect.backoff.ms".into(), "250".into());
        assert_eq!(
            c.restore_consumer_config().get("reconnect.backoff.ms"),
            Some("250")
        );
        assert_eq!(c.producer_config().get("reconnect.backoff.ms"), Some("250"));
    }
}
