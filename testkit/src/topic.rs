//! Reading what the connector wrote, the one way every test does: [`read_to_end`], a
//! bounded read of every partition from the beginning to its end as it is now (read
//! committed or not), and on top [`read_topic`] (read committed, once every
//! transaction is settled), decoding with the crate's own `Decoder`; plus topic
//! existence and configs.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streak_connector::avro::{DecodedEvent, Decoder, Schemas};
use streak_connector::membership::{Checkpoint, StateRecord};

use crate::broker::Broker;
use crate::unique;

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

impl Isolation {
    /// The librdkafka value.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// One undecoded record.
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
        .set("group.id", unique("e2e-reader"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("a consumer")
}

/// The configs of `topic` as the broker describes them (a real broker: the mock
/// cluster cannot describe configs).
pub async fn topic_configs(bootstrap: &str, topic: &str) -> HashMap<String, String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("an admin client");
    let res = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap_or_else(|e| panic!("describing {topic}: {e}"));
    let r = res
        .into_iter()
        .next()
        .expect("one result per resource asked")
        .unwrap_or_else(|e| panic!("describing {topic}: {e}"));
    r.entries
        .into_iter()
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect()
}

/// The topic's partitions, or `None` while it does not exist.
pub fn partitions(c: &BaseConsumer, topic: &str) -> Option<Vec<i32>> {
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    Some(t.partitions().iter().map(|p| p.id()).collect())
}

pub fn assign_from_beginning(c: &BaseConsumer, topic: &str, parts: &[i32]) -> Result<(), String> {
    let mut tpl = TopicPartitionList::new();
    for &p in parts {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| format!("partition {p}: {e}"))?;
    }
    c.assign(&tpl).map_err(|e| format!("assign: {e}"))
}

/// Reads every partition of `topic` from the beginning to its end as it is now (the
/// last stable offset when read committed, the high watermark otherwise), in
/// partition/offset order. Ends even when a partition ends in a transaction marker.
pub async fn read_to_end(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
    timeout: Duration,
) -> Result<Vec<Raw>, String> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        read_to_end_blocking(&bootstrap, &topic, isolation, timeout)
    })
    .await
    .map_err(|e| format!("reader thread: {e}"))?
}

fn read_to_end_blocking(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
    timeout: Duration,
) -> Result<Vec<Raw>, String> {
    let c = consumer_with(bootstrap, isolation.as_str());
    let parts = partitions(&c, topic).ok_or_else(|| format!("topic {topic} does not exist"))?;
    let mut end: HashMap<i32, i64> = HashMap::new();
    for &p in &parts {
        // Read committed, the answer is the last stable offset.
        let (low, high) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| format!("watermarks of {topic}/{p}: {e}"))?;
        if high > low {
            end.insert(p, high);
        }
    }
    let busy: Vec<i32> = end.keys().copied().collect();
    assign_from_beginning(&c, topic, &busy)?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while !end.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "{topic} ({}): not read to its end within {timeout:?}; left {end:?}",
                isolation.as_str()
            ));
        }
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let (p, offset) = (m.partition(), m.offset());
                let Some(&stop) = end.get(&p) else { continue };
                if offset < stop {
                    out.push(Raw {
                        partition: p,
                        offset,
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                    });
                }
                if offset + 1 >= stop {
                    end.remove(&p);
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {
                // The tail may be a marker or an aborted batch: the position moves on.
                let positions = c.position().map_err(|e| format!("position: {e}"))?;
                for elem in positions.elements_for_topic(topic) {
                    if let (Some(&stop), Offset::Offset(pos)) =
                        (end.get(&elem.partition()), elem.offset())
                    {
                        if pos >= stop {
                            end.remove(&elem.partition());
                        }
                    }
                }
                drop(positions);
            }
            Some(Err(_)) => {}
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
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
    let records = read_to_end_blocking(bootstrap, topic, Isolation::ReadCommitted, timeout)
        .unwrap_or_else(|e| panic!("reading {topic}: {e}"));
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

/// The events of `org` among `events`.
pub fn of_org<'a>(events: &'a [DecodedEvent], org: &str) -> Vec<&'a DecodedEvent> {
    events.iter().filter(|e| e.event.org_key == org).collect()
}

/// Each event as (poll sequence, type, member), sorted: the view of a topic that
/// does not depend on how its partitions interleave.
pub fn summary<E: Borrow<DecodedEvent>>(events: &[E]) -> Vec<(u64, &'static str, String)> {
    let mut v: Vec<_> = events
        .iter()
        .map(|e| {
            let e = e.borrow();
            (
                e.event.poll_seq,
                e.event.event_type.as_str(),
                e.event.user_key.clone(),
            )
        })
        .collect();
    v.sort();
    v
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
