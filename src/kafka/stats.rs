//! librdkafka's statistics, the few that matter to an operator, as metrics.
//!
//! librdkafka emits a JSON document every `statistics.interval.ms` (the producer's
//! default here is [`DEFAULT_STATISTICS_INTERVAL_MS`]; the passthrough property
//! `statistics.interval.ms` changes it, `0` turns it off). [`StatsContext`] is the
//! producer's client context: it reads only the fields below from the document
//! (robust to fields librdkafka adds or drops) and hands them to
//! [`KafkaStatisticsReceived`], which sets the metrics:
//!
//! - the producer queue: messages and bytes waiting in librdkafka (`msg_cnt`,
//!   `msg_size`);
//! - each broker's round-trip time (p50 and p99 of the interval's requests, for the
//!   brokers learned from the cluster's metadata, not the bootstrap entries);
//! - the transactional producer's state (`eos.txn_state`: `InTransaction`,
//!   `FatalError`, ...) and how long it has been in it.
//!
//! It must not log at each interval: only a document it cannot read is logged. The
//! context's other callbacks (librdkafka's log lines, errors) keep rust-rdkafka's
//! default behaviour.

use std::collections::HashMap;
use std::sync::Arc;

use rdkafka::client::ClientContext;
use serde::Deserialize;

use crate::metrics::{Metrics, RTT_PERCENTILES, TRANSACTION_STATES};
use crate::telemetry::InternalEvent;

/// The producer's `statistics.interval.ms` unless the passthrough properties set it:
/// modest, the document is a few kilobytes per broker.
pub(crate) const DEFAULT_STATISTICS_INTERVAL_MS: &str = "30000";

/// The producer's client context: statistics into metrics.
#[derive(Debug, Clone)]
pub(crate) struct StatsContext {
    metrics: Arc<Metrics>,
    /// The producer's, for the `transactional_id` label.
    transactional_id: Arc<str>,
    /// librdkafka's own log lines, bridged into tracing with the client's name.
    log: super::client_log::ClientLog,
}

impl StatsContext {
    pub(crate) fn new(metrics: Arc<Metrics>, transactional_id: &str) -> Self {
        StatsContext {
            metrics,
            transactional_id: transactional_id.into(),
            log: super::client_log::ClientLog::new("producer"),
        }
    }
}

impl ClientContext for StatsContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, line: &str) {
        self.log.log(level, fac, line);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        match serde_json::from_slice::<Statistics>(statistics) {
            Ok(stats) => KafkaStatisticsReceived {
                transactional_id: &self.transactional_id,
                stats: &stats,
            }
            .emit(&self.metrics),
            Err(error) => KafkaStatisticsUnreadable { error: &error }.emit(&self.metrics),
        }
    }
}

/// The fields of librdkafka's statistics document that the metrics use.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct Statistics {
    /// Messages in the producer queues.
    pub msg_cnt: u64,
    /// Bytes of the messages in the producer queues.
    pub msg_size: u64,
    pub brokers: HashMap<String, BrokerStatistics>,
    /// Present for an idempotent (and so a transactional) producer.
    pub eos: Option<EosStatistics>,
}

/// One broker entry.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct BrokerStatistics {
    /// `-1` for a bootstrap entry not yet matched to a broker.
    pub nodeid: i32,
    /// `learned` (from metadata), `configured` (bootstrap) or `internal`.
    pub source: String,
    pub rtt: Window,
}

/// A latency window over the last interval, in microseconds.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct Window {
    /// Samples in the window: 0 when the broker answered no request in it.
    pub cnt: i64,
    pub p50: i64,
    pub p99: i64,
}

/// The exactly-once section.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct EosStatistics {
    pub txn_state: String,
    /// Milliseconds since the last transaction state change.
    pub txn_stateage: i64,
}

/// librdkafka delivered its statistics.
#[derive(Debug)]
pub(crate) struct KafkaStatisticsReceived<'a> {
    /// The producer's.
    pub transactional_id: &'a str,
    pub stats: &'a Statistics,
}

impl InternalEvent for KafkaStatisticsReceived<'_> {
    fn emit(self, m: &Metrics) {
        let (s, id) = (self.stats, self.transactional_id);
        (m.kafka.producer_queue_messages)
            .with_label_values(&[id])
            .set(clamp(s.msg_cnt));
        (m.kafka.producer_queue_bytes)
            .with_label_values(&[id])
            .set(clamp(s.msg_size));
        for b in s.brokers.values() {
            // Bootstrap entries and the internal broker are not brokers of the
            // cluster; a window without requests says nothing about the latency.
            if b.source != "learned" || b.nodeid < 0 || b.rtt.cnt <= 0 {
                continue;
            }
            let broker = b.nodeid.to_string();
            for (percentile, micros) in RTT_PERCENTILES.iter().zip([b.rtt.p50, b.rtt.p99]) {
                m.kafka
                    .broker_rtt_seconds
                    .with_label_values(&[broker.as_str(), percentile])
                    .set(micros as f64 / 1e6);
            }
        }
        if let Some(eos) = &s.eos {
            let current = TRANSACTION_STATES
                .iter()
                .find(|name| **name == eos.txn_state)
                .copied()
                .unwrap_or("other");
            for state in TRANSACTION_STATES {
                m.kafka
                    .transaction_state
                    .with_label_values(&[id, state])
                    .set(i64::from(state == current));
            }
            m.kafka
                .transaction_state_age_seconds
                .with_label_values(&[id])
                .set(eos.txn_stateage as f64 / 1000.0);
        }
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// librdkafka's statistics document could not be read: the metrics keep their
/// last values.
#[derive(Debug)]
pub(crate) struct KafkaStatisticsUnreadable<'a> {
    pub error: &'a serde_json::Error,
}

impl InternalEvent for KafkaStatisticsUnreadable<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(error = %self.error, "Kafka client statistics unreadable");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transactional producer's document, trimmed (librdkafka 2.x field names).
    const DOC: &str = r#"{
      "name": "streak-connector#producer-1", "type": "producer", "ts": 1, "time": 2,
      "msg_cnt": 12, "msg_size": 3456, "msg_max": 1000000,
      "brokers": {
        "localhost:9092/bootstrap": {"nodeid": -1, "source": "configured",
          "rtt": {"cnt": 3, "p50": 900, "p99": 1200}},
        "localhost:9092/1": {"nodeid": 1, "source": "learned", "state": "UP",
          "rtt": {"min": 100, "max": 5000, "avg": 800, "cnt": 4, "p50": 700, "p99": 4800}},
        "localhost:9093/2": {"nodeid": 2, "source": "learned",
          "rtt": {"cnt": 0, "p50": 0, "p99": 0}},
        ":0/internal": {"nodeid": -1, "source": "internal"}
      },
      "eos": {"idemp_state": "Assigned", "idemp_stateage": 10, "txn_state": "InTransaction",
        "txn_stateage": 2500, "txn_may_enq": true, "producer_id": 7, "producer_epoch": 0}
    }"#;

    #[test]
    fn statistics_set_queue_rtt_and_transaction_state() {
        let m = Metrics::new();
        let stats: Statistics = serde_json::from_str(DOC).expect("parses");
        KafkaStatisticsReceived {
            transactional_id: "c.membership.1",
            stats: &stats,
        }
        .emit(&m);
        let text = m.encode_text();
        for line in [
            "streak_connector_kafka_producer_queue_messages{transactional_id=\"c.membership.1\"} 12",
            "streak_connector_kafka_producer_queue_bytes{transactional_id=\"c.membership.1\"} 3456",
            "streak_connector_kafka_broker_rtt_seconds{broker=\"1\",percentile=\"p50\"} 0.0007",
            "streak_connector_kafka_broker_rtt_seconds{broker=\"1\",percentile=\"p99\"} 0.0048",
            "streak_connector_kafka_transaction_state{state=\"InTransaction\",transactional_id=\"c.membership.1\"} 1",
            "streak_connector_kafka_transaction_state{state=\"Ready\",transactional_id=\"c.membership.1\"} 0",
            "streak_connector_kafka_transaction_state_age_seconds{transactional_id=\"c.membership.1\"} 2.5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // No bootstrap entry, no broker without requests in the window.
        assert!(!text.contains("broker=\"-1\""), "{text}");
        assert!(!text.contains("broker=\"2\""), "{text}");
    }

    #[test]
    fn unknown_transaction_state_is_other_and_missing_fields_are_defaults() {
        let m = Metrics::new();
        let stats: Statistics =
            serde_json::from_str(r#"{"eos": {"txn_state": "SomethingNew"}}"#).expect("parses");
        assert_eq!(stats.msg_cnt, 0);
        KafkaStatisticsReceived {
            transactional_id: "c",
            stats: &stats,
        }
        .emit(&m);
        let text = m.encode_text();
        assert!(text.contains(
            "streak_connector_kafka_transaction_state{state=\"other\",transactional_id=\"c\"} 1"
        ));
        assert!(text.contains(
            "streak_connector_kafka_transaction_state{state=\"Init\",transactional_id=\"c\"} 0"
        ));
    }

    #[test]
    fn zero_series_of_a_producer_before_its_first_statistics() {
        let m = Metrics::new();
        m.kafka.zero_producer("c.membership");
        let text = m.encode_text();
        for state in TRANSACTION_STATES {
            let series = format!(
                "streak_connector_kafka_transaction_state{{state=\"{state}\",transactional_id=\"c.membership\"}} 0"
            );
            assert!(text.contains(&series), "{series}");
        }
        for series in [
            "streak_connector_kafka_producer_queue_messages{transactional_id=\"c.membership\"} 0",
            "streak_connector_kafka_producer_queue_bytes{transactional_id=\"c.membership\"} 0",
            "streak_connector_kafka_transaction_state_age_seconds{transactional_id=\"c.membership\"} 0",
        ] {
            assert!(text.contains(series), "{series}");
        }
    }
}
