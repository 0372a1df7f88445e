//! Reading what the binary wrote: a read_committed consumer over every partition of
//! a topic, from the beginning to its end, decoding with the crate's own `Decoder`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streak_connector::avro::{DecodedEvent, Decoder, Schemas};
use streak_connector::membership::{Checkpoint, StateRecord};

use super::broker::Broker;
use super::MOCK_TOPIC_POLICY_TOML;

/// Set (to anything) in CI: a test that needs a real broker fails instead of
/// skipping when `KAFKA_BOOTSTRAP_SERVERS` is not set.
pub const REQUIRE_REAL_BROKER: &str = "STREAK_E2E_REQUIRE_REAL_BROKER";

/// The broker for an end-to-end test that needs Kafka, or `None` (after saying why)
/// when only the mock cluster is available and the binary cannot be told to trust
/// pre-created topics on it.
pub async fn broker_for(test: &str) -> Option<Broker> {
    let broker = Broker::start().await;
    if !broker.is_real() && MOCK_TOPIC_POLICY_TOML.is_none() {
        assert!(
            std::env::var_os(REQUIRE_REAL_BROKER).is_none(),
            "{test}: {REQUIRE_REAL_BROKER} is set but KAFKA_BOOTSTRAP_SERVERS is not"
        );
        eprintln!(
            "{test}: skipped: needs a real broker (set KAFKA_BOOTSTRAP_SERVERS, e.g. `eval $(scripts/kafka.sh env)`): \
             the binary has no setting yet to use pre-created topics on librdkafka's mock cluster"
        );
        return None;
    }
    Some(broker)
}

/// A real broker (`KAFKA_BOOTSTRAP_SERVERS`), or `None` (after saying why) for a
/// test of what the mock cluster does not do (read_committed hiding aborted
/// records, topic configs).
pub async fn real_broker_for(test: &str) -> Option<Broker> {
    let broker = Broker::start().await;
    if broker.is_real() {
        return Some(broker);
    }
    assert!(
        std::env::var_os(REQUIRE_REAL_BROKER).is_none(),
        "{test}: {REQUIRE_REAL_BROKER} is set but KAFKA_BOOTSTRAP_SERVERS is not"
    );
    eprintln!(
        "{test}: skipped: needs a real broker (set KAFKA_BOOTSTRAP_SERVERS, e.g. `eval $(scripts/kafka.sh env)`)"
    );
    None
}

/// Make the two topics exist on the mock cluster (which cannot create them through
/// the admin API); nothing on a real broker, where the binary creates them.
pub fn prepare_mock_topics(broker: &Broker, topics: &[&str]) {
    if let Some(mock) = broker.mock_cluster() {
        for t in topics {
            mock.create_topic(t, 3, 1)
                .expect("the mock cluster creates the topic");
        }
    }
}

/// One raw record.
#[derive(Debug, Clone)]
pub struct Raw {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// What a topic holds, read committed.
#[derive(Debug)]
pub struct TopicContents {
    /// False when the topic does not exist.
    pub exists: bool,
    pub records: Vec<Raw>,
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    consumer_with(bootstrap, "read_committed")
}

fn consumer_with(bootstrap: &str, isolation: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", super::unique("e2e-reader"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("a consumer")
}

/// Whether `topic` exists (metadata look-up, never creating it).
pub async fn topic_exists(bootstrap: &str, topic: &str) -> bool {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap);
        match c.fetch_metadata(Some(&topic), Duration::from_secs(10)) {
            Ok(md) => md
                .topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()),
            Err(_) => false,
        }
    })
    .await
    .expect("the metadata task")
}

/// Every committed record of `topic`, from the beginning of each partition to its
/// end (end-of-partition reached on all partitions), within `timeout`.
pub async fn read_topic(bootstrap: &str, topic: &str, timeout: Duration) -> TopicContents {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_blocking(&bootstrap, &topic, timeout))
        .await
        .expect("the reader task")
}

fn read_blocking(bootstrap: &str, topic: &str, timeout: Duration) -> TopicContents {
    let c = consumer(bootstrap);
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return TopicContents {
            exists: false,
            records: Vec::new(),
        };
    };
    if t.error().is_some() || t.partitions().is_empty() {
        return TopicContents {
            exists: false,
            records: Vec::new(),
        };
    }
    let partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    settle(
        bootstrap,
        topic,
        &partitions,
        Instant::now() + Duration::from_secs(30),
    );
    let deadline = Instant::now() + timeout;
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .expect("a valid offset");
    }
    c.assign(&tpl).expect("partitions assigned");
    let mut at_end: BTreeMap<i32, bool> = partitions.iter().map(|p| (*p, false)).collect();
    let mut records = Vec::new();
    while at_end.values().any(|e| !e) {
        assert!(
            Instant::now() < deadline,
            "reading {topic} did not reach the end of every partition within {timeout:?} \
             (partitions at end: {at_end:?}; {} records read)",
            records.len()
        );
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                at_end.insert(m.partition(), false);
                records.push(Raw {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p, true);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
        }
    }
    TopicContents {
        exists: true,
        records,
    }
}

/// Waits (until `deadline`, then reads anyway) for every transaction on `topic` to
/// be settled: a commit returns to the producer before the broker has written the
/// commit markers, so a reader started right after could stop short of them. The
/// end offset a read_committed client is given (the last stable offset) equals the
/// high watermark once no transaction is open.
fn settle(bootstrap: &str, topic: &str, partitions: &[i32], deadline: Instant) {
    let committed = consumer_with(bootstrap, "read_committed");
    let uncommitted = consumer_with(bootstrap, "read_uncommitted");
    let timeout = Duration::from_secs(5);
    loop {
        let open = partitions.iter().any(|p| {
            let lso = committed.fetch_watermarks(topic, *p, timeout).map(|w| w.1);
            let hw = uncommitted
                .fetch_watermarks(topic, *p, timeout)
                .map(|w| w.1);
            !matches!((lso, hw), (Ok(a), Ok(b)) if a == b)
        });
        if !open || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn decoder() -> Decoder {
    Decoder::new(Arc::new(
        Schemas::load().expect("the embedded schemas load"),
    ))
}

/// The committed events of `topic`, decoded (empty if the topic does not exist).
pub async fn read_events(bootstrap: &str, topic: &str) -> Vec<DecodedEvent> {
    let contents = read_topic(bootstrap, topic, Duration::from_secs(60)).await;
    let d = decoder();
    let mut out = Vec::new();
    for r in contents.records {
        let key = r.key.as_deref().expect("every event has a key");
        let value = r.value.as_deref().expect("every event has a value");
        let e = d
            .decode_event(key, value)
            .await
            .unwrap_or_else(|e| panic!("event at {topic}/{}@{}: {e}", r.partition, r.offset));
        out.push(e);
    }
    out
}

/// The committed state records of `topic`, decoded, in read order.
pub async fn read_state(bootstrap: &str, topic: &str) -> Vec<StateRecord> {
    let contents = read_topic(bootstrap, topic, Duration::from_secs(60)).await;
    let d = decoder();
    let mut out = Vec::new();
    for r in contents.records {
        let key = r.key.as_deref().expect("every state record has a key");
        let s = d
            .decode_state(key, r.value.as_deref())
            .await
            .unwrap_or_else(|e| panic!("state at {topic}/{}@{}: {e}", r.partition, r.offset));
        out.push(s);
    }
    out
}

/// The last checkpoint of each organization in `records` (one key per
/// organization, so one partition: read order is write order).
pub fn last_checkpoints(records: &[StateRecord]) -> BTreeMap<String, Checkpoint> {
    let mut out = BTreeMap::new();
    for r in records {
        if let StateRecord::Checkpoint(c) = r {
            out.insert(c.org_key.clone(), c.clone());
        }
    }
    out
}

/// The members each organization holds in `records` (last value per key wins, a
/// tombstone deletes).
pub fn members_in_state(records: &[StateRecord]) -> BTreeMap<String, Vec<String>> {
    let mut by_key: BTreeMap<(String, String), bool> = BTreeMap::new();
    for r in records {
        if let StateRecord::Member {
            org_key,
            user_key,
            state,
        } = r
        {
            by_key.insert((org_key.clone(), user_key.clone()), state.is_some());
        }
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((org, user), present) in by_key {
        if present {
            out.entry(org).or_default().push(user);
        }
    }
    out
}

/// Create `topic` with `configs` (a real broker; on the mock, configs are ignored).
pub async fn create_topic(broker: &Broker, topic: &str, configs: &[(&str, &str)]) {
    broker.create_topic(topic, 3, configs).await;
}
