//! The producer's librdkafka statistics as metrics, `streak_connector_kafka_*`, and
//! the label sets they are zeroed with. [`crate::kafka::stats`] reads the
//! statistics and writes these handles.

use prometheus::{Gauge, GaugeVec, IntGauge, IntGaugeVec, Registry};

use super::builders::{float_gauge, gauge, int_gauge, plain_gauge};

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

/// The producer's librdkafka statistics ([`crate::kafka::stats`]), `streak_connector_kafka_*`.
#[derive(Debug, Clone)]
pub struct KafkaStatsMetrics {
    /// Messages waiting in the producer's queues.
    pub producer_queue_messages: IntGauge,
    /// Bytes of the messages waiting in the producer's queues.
    pub producer_queue_bytes: IntGauge,
    /// Round-trip time to each broker (`broker`: node id), p50 and p99 of the last
    /// statistics interval with requests.
    pub broker_rtt_seconds: GaugeVec,
    /// 1 for the transactional producer's current state, 0 for the others.
    pub transaction_state: IntGaugeVec,
    /// Time since the transactional producer's last state change.
    pub transaction_state_age_seconds: Gauge,
}

impl KafkaStatsMetrics {
    /// Registers them, with a zero series for every transaction state.
    pub(super) fn register(r: &Registry) -> Self {
        let broker_rtt_seconds = float_gauge(
            r,
            "kafka_broker_rtt_seconds",
            "Round-trip time to the broker (node id), p50 and p99 over the last librdkafka statistics interval with requests.",
            &["broker", "percentile"],
        );
        let k = KafkaStatsMetrics {
            producer_queue_messages: int_gauge(
                r,
                "kafka_producer_queue_messages",
                "Messages waiting in the Kafka producer's queues (librdkafka statistics).",
            ),
            producer_queue_bytes: int_gauge(
                r,
                "kafka_producer_queue_bytes",
                "Bytes of the messages waiting in the Kafka producer's queues (librdkafka statistics).",
            ),
            broker_rtt_seconds,
            transaction_state: gauge(
                r,
                "kafka_transaction_state",
                "1 for the transactional producer's current librdkafka state, 0 for the others.",
                &["state"],
            ),
            transaction_state_age_seconds: plain_gauge(
                r,
                "kafka_transaction_state_age_seconds",
                "Time since the transactional producer's last state change (librdkafka statistics).",
            ),
        };
        for state in TRANSACTION_STATES {
            k.transaction_state.with_label_values(&[state]);
        }
        k
    }
}
