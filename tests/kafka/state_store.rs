//! The state store contract, written once and run against the in-memory twin
//! (`MemoryStore`) and against Kafka (`TransactionalPublisher` + `KafkaStateSource`
//! on the fixture's broker: a real one when `KAFKA_BOOTSTRAP_SERVERS` is set, the
//! mock cluster otherwise).
//!
//! What a restore must give back: exactly the committed records, last value per
//! key, tombstones deleting, aborted transactions invisible, an end even when the
//! tail of a partition is a transaction marker or an aborted batch, and a clear
//! error (with coordinates) on a record that does not decode.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use streak_connector::kafka::{
    InjectedFailure, KafkaConfig, KafkaStateSource, MemoryStore, OutRecord, RestoreError,
    RestoreReader, Restored, StateDecoder, StateSource, TransactionalPublisher, TransactionalSink,
};
use streak_connector::metrics::Metrics;
use streak_connector::recovery::{Classified as _, Recovery};
use testkit::broker::Broker;

/// Values are `v:<text>`; keys must be UTF-8. Anything else does not decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadRecord(String);

fn decode(key: &[u8], value: Option<&[u8]>) -> Result<String, BadRecord> {
    std::str::from_utf8(key).map_err(|_| BadRecord("key is not UTF-8".into()))?;
    match value {
        None => Ok(String::new()),
        Some(v) => match v.strip_prefix(b"v:") {
            Some(text) => {
                String::from_utf8(text.to_vec()).map_err(|_| BadRecord("value is not UTF-8".into()))
            }
            None => Err(BadRecord("value does not start with `v:`".into())),
        },
    }
}

fn put(topic: &str, key: &str, value: &str) -> OutRecord {
    OutRecord::new(topic, key, format!("v:{value}"))
}

/// Everything the contract needs from one backend.
#[async_trait(?Send)]
trait Harness {
    fn sink(&self) -> &dyn TransactionalSink;
    fn state_topic(&self) -> &str;
    fn metrics(&self) -> &Metrics;
    async fn restore<D: StateDecoder>(&self, d: D) -> Result<Restored<D::Value>, RestoreError>;
    /// Write `records` in a transaction that is then aborted.
    async fn write_aborted(&self, records: Vec<OutRecord>);
    /// Whether read-committed readers of this backend skip aborted records (the
    /// mock cluster does not); `None` to run, `Some(reason)` to skip.
    fn hides_aborted(&self) -> bool;
    /// Partition and offset of the last record with `key` in the state topic.
    async fn coordinates_of(&self, key: &str) -> (i32, i64);
}

// ---------------------------------------------------------------------------------
// The contract, once.
// ---------------------------------------------------------------------------------

#[allow(unreachable_pub)]
mod contract {
    use super::*;

    fn as_map(r: &Restored<String>) -> HashMap<String, String> {
        r.entries
            .iter()
            .map(|(k, v)| (String::from_utf8(k.clone()).unwrap(), v.clone()))
            .collect()
    }

    fn expected(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    async fn restore_within(h: &impl Harness) -> Restored<String> {
        tokio::time::timeout(Duration::from_secs(60), h.restore(decode))
            .await
            .expect("the restore ends")
            .expect("the restore succeeds")
    }

    pub async fn empty_topic_restores_empty(h: &impl Harness) {
        let r = restore_within(h).await;
        assert!(r.entries.is_empty());
        assert_eq!(r.stats.records, 0);
        assert_eq!(h.metrics().state_restore_records.get(), 0);
    }

    pub async fn restore_returns_exactly_what_was_committed(h: &impl Harness) {
        let t = h.state_topic();
        let first: Vec<_> = (0..20)
            .map(|i| put(t, &format!("org/u{i}"), &format!("a{i}")))
            .collect();
        h.sink()
            .commit_batch(first)
            .await
            .expect("first batch commits");
        // Overwrite some keys, add others.
        let second: Vec<_> = (10..30)
            .map(|i| put(t, &format!("org/u{i}"), &format!("b{i}")))
            .collect();
        let stats = h
            .sink()
            .commit_batch(second)
            .await
            .expect("second batch commits");
        assert_eq!(stats.records, 20);

        let r = restore_within(h).await;
        let mut want: HashMap<String, String> = HashMap::new();
        for i in 0..10 {
            want.insert(format!("org/u{i}"), format!("a{i}"));
        }
        for i in 10..30 {
            want.insert(format!("org/u{i}"), format!("b{i}"));
        }
        assert_eq!(as_map(&r), want);
        assert_eq!(r.stats.records, 40);
        assert_eq!(r.stats.tombstones, 0);
        // Telemetry: the restore is exported, the commits counted.
        assert_eq!(h.metrics().state_restore_records.get(), 40);
        assert_eq!(
            h.metrics()
                .transactions_total
                .with_label_values(&["committed"])
                .get(),
            2
        );
    }

    pub async fn tombstones_delete(h: &impl Harness) {
        let t = h.state_topic();
        h.sink()
            .commit_batch(vec![
                put(t, "o/a", "1"),
                put(t, "o/b", "2"),
                put(t, "o/c", "3"),
            ])
            .await
            .expect("commit");
        h.sink()
            .commit_batch(vec![OutRecord::tombstone(t, "o/a"), put(t, "o/c", "3'")])
            .await
            .expect("commit");
        // A key deleted then written again is alive.
        h.sink()
            .commit_batch(vec![OutRecord::tombstone(t, "o/b"), put(t, "o/b", "2'")])
            .await
            .expect("commit");
        let r = restore_within(h).await;
        assert_eq!(as_map(&r), expected(&[("o/b", "2'"), ("o/c", "3'")]));
        assert_eq!(r.stats.tombstones, 2);
        assert_eq!(r.stats.records, 7);
    }

    pub async fn aborted_transactions_are_invisible(h: &impl Harness) {
        if !h.hides_aborted() {
            testkit::broker::skip_without_real_broker(
                "aborted_transactions_are_invisible (the mock cluster shows aborted records to read-committed consumers)",
            );
            return;
        }
        let t = h.state_topic();
        h.sink()
            .commit_batch(vec![put(t, "o/a", "committed"), put(t, "o/b", "committed")])
            .await
            .expect("commit");
        h.write_aborted(vec![
            put(t, "o/a", "aborted"),
            OutRecord::tombstone(t, "o/b"),
            put(t, "o/z", "aborted"),
        ])
        .await;
        h.sink()
            .commit_batch(vec![put(t, "o/c", "committed")])
            .await
            .expect("commit");
        let r = restore_within(h).await;
        assert_eq!(
            as_map(&r),
            expected(&[
                ("o/a", "committed"),
                ("o/b", "committed"),
                ("o/c", "committed")
            ])
        );
        assert_eq!(r.stats.records, 3);
    }

    /// The last thing in the log is an aborted batch and its marker: no record
    /// arrives at the end, the position must carry the restore to its end.
    pub async fn restore_ends_when_the_tail_is_an_aborted_batch(h: &impl Harness) {
        let t = h.state_topic();
        h.sink()
            .commit_batch(vec![put(t, "o/a", "1")])
            .await
            .expect("commit");
        h.write_aborted(vec![put(t, "o/a", "2"), put(t, "o/b", "2")])
            .await;
        let r = restore_within(h).await;
        if h.hides_aborted() {
            assert_eq!(as_map(&r), expected(&[("o/a", "1")]));
        }
    }

    /// Every committed transaction ends with a commit marker: the offset after the
    /// last record is the marker's, and the restore must not wait for a record there.
    pub async fn restore_ends_when_the_tail_is_a_commit_marker(h: &impl Harness) {
        let t = h.state_topic();
        for round in 0..3 {
            h.sink()
                .commit_batch(vec![put(t, "o/a", &round.to_string())])
                .await
                .expect("commit");
        }
        let r = restore_within(h).await;
        assert_eq!(as_map(&r), expected(&[("o/a", "2")]));
        assert_eq!(r.stats.records, 3);
    }

    pub async fn undecodable_record_stops_restore_with_its_coordinates(h: &impl Harness) {
        let t = h.state_topic();
        h.sink()
            .commit_batch(vec![
                put(t, "o/good", "1"),
                OutRecord::new(t, "o/bad", b"\x00garbage".to_vec()),
                put(t, "o/other", "1"),
            ])
            .await
            .expect("commit");
        let (partition, offset) = h.coordinates_of("o/bad").await;
        let err = h.restore(decode).await.expect_err("the restore refuses");
        match &err {
            RestoreError::Undecodable {
                topic,
                partition: p,
                offset: o,
                key,
                ..
            } => {
                assert_eq!(topic, t);
                assert_eq!((*p, *o), (partition, offset));
                assert_eq!(key, "o/bad");
            }
            other => panic!("expected Undecodable, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&format!("{t}/{partition}@{offset}")), "{msg}");
        assert!(msg.contains("does not start with `v:`"), "{msg}");
        assert_eq!(err.recovery(), Recovery::StopProcess);
    }
}

/// One `#[tokio::test]` per contract scenario for a backend.
macro_rules! contract_tests {
    ($make:path) => {
        #[tokio::test]
        async fn empty_topic_restores_empty() {
            let h = $make().await;
            contract::empty_topic_restores_empty(&h).await;
        }
        #[tokio::test]
        async fn restore_returns_exactly_what_was_committed() {
            let h = $make().await;
            contract::restore_returns_exactly_what_was_committed(&h).await;
        }
        #[tokio::test]
        async fn tombstones_delete() {
            let h = $make().await;
            contract::tombstones_delete(&h).await;
        }
        #[tokio::test]
        async fn aborted_transactions_are_invisible() {
            let h = $make().await;
            contract::aborted_transactions_are_invisible(&h).await;
        }
        #[tokio::test]
        async fn restore_ends_when_the_tail_is_an_aborted_batch() {
            let h = $make().await;
            contract::restore_ends_when_the_tail_is_an_aborted_batch(&h).await;
        }
        #[tokio::test]
        async fn restore_ends_when_the_tail_is_a_commit_marker() {
            let h = $make().await;
            contract::restore_ends_when_the_tail_is_a_commit_marker(&h).await;
        }
        #[tokio::test]
        async fn undecodable_record_stops_restore_with_its_coordinates() {
            let h = $make().await;
            contract::undecodable_record_stops_restore_with_its_coordinates(&h).await;
        }
    };
}

// ---------------------------------------------------------------------------------
// Backend 1: the in-memory twin.
// ---------------------------------------------------------------------------------

struct Memory {
    store: MemoryStore,
    topic: String,
    metrics: Arc<Metrics>,
}

impl Memory {
    async fn new() -> Memory {
        let metrics = Arc::new(Metrics::new());
        let topic = "state".to_string();
        Memory {
            store: MemoryStore::new(topic.clone(), Arc::clone(&metrics)),
            topic,
            metrics,
        }
    }
}

#[async_trait(?Send)]
impl Harness for Memory {
    fn sink(&self) -> &dyn TransactionalSink {
        &self.store
    }
    fn state_topic(&self) -> &str {
        &self.topic
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    async fn restore<D: StateDecoder>(&self, d: D) -> Result<Restored<D::Value>, RestoreError> {
        self.store.restore(d).await
    }
    async fn write_aborted(&self, records: Vec<OutRecord>) {
        self.store.fail_next(InjectedFailure::Abort);
        self.store
            .commit_batch(records)
            .await
            .expect_err("the injected failure aborts the batch");
    }
    fn hides_aborted(&self) -> bool {
        true
    }
    async fn coordinates_of(&self, key: &str) -> (i32, i64) {
        let r = self
            .store
            .all_records(&self.topic)
            .into_iter()
            .rev()
            .find(|r| r.key == key.as_bytes())
            .expect("the key was written");
        (0, r.offset)
    }
}

mod memory {
    use super::*;
    contract_tests!(Memory::new);
}

// ---------------------------------------------------------------------------------
// Backend 2: Kafka (real broker or mock cluster).
// ---------------------------------------------------------------------------------

struct Kafka {
    broker: Broker,
    config: KafkaConfig,
    publisher: TransactionalPublisher,
    source: KafkaStateSource,
    metrics: Arc<Metrics>,
    /// The reader every successful restore must have used.
    reader: &'static str,
}

impl Kafka {
    /// The default reader: on these plaintext brokers, the connector's own.
    async fn new() -> Kafka {
        Kafka::with_reader(RestoreReader::Auto).await
    }

    /// librdkafka's consumer, as `kafka.restore_reader = "librdkafka"` (and every
    /// cluster with TLS or SASL) reads.
    async fn librdkafka() -> Kafka {
        Kafka::with_reader(RestoreReader::Librdkafka).await
    }

    async fn with_reader(restore_reader: RestoreReader) -> Kafka {
        let broker = Broker::start().await;
        let mut config = broker.config("contract");
        config.restore_reader = restore_reader;
        broker.prepare_topics(&config).await;
        let metrics = Arc::new(Metrics::new());
        let publisher =
            TransactionalPublisher::new(&config, Arc::clone(&metrics)).expect("producer");
        publisher.init().await.expect("init_transactions");
        let source = KafkaStateSource::new(config.clone(), Arc::clone(&metrics));
        Kafka {
            broker,
            config,
            publisher,
            source,
            metrics,
            reader: match restore_reader {
                RestoreReader::Auto => "own",
                RestoreReader::Librdkafka => "librdkafka",
            },
        }
    }
}

#[async_trait(?Send)]
impl Harness for Kafka {
    fn sink(&self) -> &dyn TransactionalSink {
        &self.publisher
    }
    fn state_topic(&self) -> &str {
        &self.config.state_topic
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    async fn restore<D: StateDecoder>(&self, d: D) -> Result<Restored<D::Value>, RestoreError> {
        testkit::broker::settle(&self.config.bootstrap_servers, &self.config.state_topic).await;
        let out = self.source.restore(d).await;
        if let Ok(r) = &out {
            assert_eq!(r.stats.reader, self.reader, "the restore's reader");
            assert_eq!(self.metrics.state_restore_fallbacks_total.get(), 0);
        }
        out
    }
    async fn write_aborted(&self, records: Vec<OutRecord>) {
        crate::own_reader::write_aborted(self.broker.bootstrap(), &records).await;
    }
    fn hides_aborted(&self) -> bool {
        self.broker.is_real()
    }
    async fn coordinates_of(&self, key: &str) -> (i32, i64) {
        let bootstrap = self.broker.bootstrap().to_owned();
        let topic = self.config.state_topic.clone();
        let partitions = self.config.partitions;
        let key = key.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", testkit::unique("locate"))
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "true")
                .create()
                .expect("consumer");
            let mut found = None;
            for p in 0..partitions {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .expect("watermarks");
                if high <= low {
                    continue;
                }
                let mut tpl = rdkafka::TopicPartitionList::new();
                tpl.add_partition_offset(&topic, p, rdkafka::Offset::Beginning)
                    .unwrap();
                consumer.assign(&tpl).expect("assign");
                drop(tpl);
                // Read uncommitted, to the partition's end (the high watermark is
                // past the commit marker, so no record sits at `high - 1`).
                loop {
                    match consumer.poll(Duration::from_secs(10)) {
                        Some(Ok(m)) => {
                            if m.key() == Some(key.as_slice()) {
                                found = Some((p, m.offset()));
                            }
                        }
                        Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => break,
                        Some(Err(_)) => continue,
                    }
                }
            }
            found.expect("the key was written")
        })
        .await
        .unwrap()
    }
}

mod kafka {
    use super::*;
    contract_tests!(Kafka::new);
}

mod kafka_through_librdkafka {
    use super::*;
    contract_tests!(Kafka::librdkafka);
}

/// A slow cluster (every request to the broker takes 150 ms, more than the first
/// bound of librdkafka's watermark query): each query is asked again with a larger
/// bound until answered, and both readers return what was committed. librdkafka's
/// mock cluster, whose round-trip time can be set.
#[tokio::test]
async fn a_slow_cluster_still_restores_everything() {
    for reader in [RestoreReader::Librdkafka, RestoreReader::Auto] {
        slow_cluster_restores_everything(reader).await;
    }
}

async fn slow_cluster_restores_everything(reader: RestoreReader) {
    let broker = Broker::mock();
    let config = broker.config("slow");
    broker.prepare_topics(&config).await;
    let metrics = Arc::new(Metrics::new());
    let publisher = TransactionalPublisher::new(&config, Arc::clone(&metrics)).expect("producer");
    publisher.init().await.expect("init_transactions");
    let records: Vec<OutRecord> = (0..20)
        .map(|i| OutRecord::new(&config.state_topic, format!("o/u{i}"), format!("v:{i}")))
        .collect();
    publisher.commit_batch(records).await.expect("commit");

    let mock = broker.mock_cluster().expect("a mock cluster");
    mock.broker_round_trip_time(1, Duration::from_millis(150))
        .expect("the round-trip time is set");
    let mut config = config;
    config.restore_reader = reader;
    let source = KafkaStateSource::new(config.clone(), Arc::clone(&metrics));
    let restored = tokio::time::timeout(Duration::from_secs(120), source.restore(decode))
        .await
        .expect("the restore ends")
        .expect("restores");
    let expected = match reader {
        RestoreReader::Auto => "own",
        RestoreReader::Librdkafka => "librdkafka",
    };
    assert_eq!(restored.stats.reader, expected);
    assert_eq!(restored.entries.len(), 20);
    assert_eq!(
        restored
            .entries
            .iter()
            .find(|(k, _)| k == b"o/u7")
            .map(|(_, v)| v.as_str()),
        Some("7")
    );
}
