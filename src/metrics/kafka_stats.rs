//! The producer's librdkafka statistics as metrics, `streak_connector_kafka_*`, and
//! the label sets they are zeroed with. [`crate::kafka::stats`] reads the
//! statistics and writes these handles.

use prometheus::{GaugeVec, IntGaugeVec, Registry};

use super::builders::{float_gauge, gauge};

/// The states of librdkafka's transactional producer (`rd_kafka_txn_state2str`),
/// plus `other` for a state a later librdkafka may add: the `state` label of
/// `streak_connector_kafka_transaction_state`.
pub(crate) const TRANSACTION_STATES: [&str; 14] = [
    "Init",
    "WaitPID",
    "ReadyNotAcked",
    "Ready",
    "InTransaction",
    "BeginCommit",
    "CommittingTransaction",
    "CommitNotAcked",
    "BeginAbort",
    "AbortingTransaction",
    "AbortedNotAcked",
    "AbortableError",
    "FatalError",
    "other",
];

/// The `percentile` label of `streak_connector_kafka_broker_rtt_seconds`.
pub(crate) const RTT_PERCENTILES: [&str; 2] = ["p50", "p99"];

/// The producers' librdkafka statistics ([`crate::kafka::stats`]),
/// `streak_connector_kafka_*`. Each producer's series carry its
/// `transactional_id` (the pool has up to [`crate::kafka::MAX_PRODUCERS`]).
#[derive(Debug, Clone)]
pub struct KafkaStatsMetrics {
    /// Messages waiting in the producer's queues.
    pub producer_queue_messages: IntGaugeVec,
    /// Bytes of the messages waiting in the producer's queues.
    pub producer_queue_bytes: IntGaugeVec,
    /// Round-trip time to each broker (`broker`: node id), p50 and p99 of the last
    /// statistics interval with requests (any producer's).
    pub broker_rtt_seconds: GaugeVec,
    /// 1 for the transactional producer's current state, 0 for the others.
    pub transaction_state: IntGaugeVec,
    /// Time since the transactional producer's last state change.
    pub transaction_state_age_seconds: GaugeVec,
}

impl KafkaStatsMetrics {
    /// Registers them; a producer's zero series come with
    /// [`zero_producer`](Self::zero_producer).
    pub(super) fn register(r: &Registry) -> Self {
        KafkaStatsMetrics {
            producer_queue_messages: gauge(
                r,
                "kafka_producer_queue_messages",
                "Messages waiting in the Kafka producer's queues (librdkafka statistics).",
                &["transactional_id"],
            ),
            producer_queue_bytes: gauge(
                r,
                "kafka_producer_queue_bytes",
                "Bytes of the messages waiting in the Kafka producer's queues (librdkafka statistics).",
                &["transactional_id"],
            ),
            broker_rtt_seconds: float_gauge(
                r,
                "kafka_broker_rtt_seconds",
                "Round-trip time to the broker (node id), p50 and p99 over the last librdkafka statistics interval with requests.",
                &["broker", "percentile"],
            ),
            transaction_state: gauge(
                r,
                "kafka_transaction_state",
                "1 for the transactional producer's current librdkafka state, 0 for the others.",
                &["transactional_id", "state"],
            ),
            transaction_state_age_seconds: float_gauge(
                r,
                "kafka_transaction_state_age_seconds",
                "Time since the transactional producer's last state change (librdkafka statistics).",
                &["transactional_id"],
            ),
        }
    }

    /// The zero series of one producer that commits: its queue, its age and every
    /// transaction state, before its first statistics.
    pub fn zero_producer(&self, transactional_id: &str) {
        self.producer_queue_messages
            .with_label_values(&[transactional_id]);
        self.producer_queue_bytes
            .with_label_values(&[transactional_id]);
        self.transaction_state_age_seconds
            .with_label_values(&[transactional_id]);
        for state in TRANSACTION_STATES {
            self.transaction_state
                .with_label_values(&[transactional_id, state]);
        }
    }
}
