//! Reading the events topic as a downstream consumer would: a live read-committed
//! [`Watcher`] that paces the steps, and [`read_to_end`], a bounded read of every
//! partition from the beginning to its end (the last stable offset when read
//! committed, so an open transaction cannot stall it) for the final proof.
//!
//! Both use a `BaseConsumer` with `assign` (no group rebalance) on a thread of their
//! own; records are decoded afterwards with the product's Avro [`Decoder`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streak_connector::avro::{Decoder, Schemas};

use super::proof::Observed;

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

impl Isolation {
    fn as_str(self) -> &'static str {
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
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

fn consumer(bootstrap: &str, isolation: Isolation) -> Result<BaseConsumer, String> {
    consumer_config(bootstrap, isolation)
        .create()
        .map_err(|e| format!("cannot create a consumer: {e}"))
}

fn consumer_config(bootstrap: &str, isolation: Isolation) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("eos-test-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("isolation.level", isolation.as_str())
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true");
    c
}

/// The topic's partitions, or `None` while it does not exist.
fn partitions(c: &BaseConsumer, topic: &str) -> Option<Vec<i32>> {
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    Some(t.partitions().iter().map(|p| p.id()).collect())
}

fn assign_from_beginning(c: &BaseConsumer, topic: &str, parts: &[i32]) -> Result<(), String> {
    let mut tpl = TopicPartitionList::new();
    for &p in parts {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| format!("partition {p}: {e}"))?;
    }
    c.assign(&tpl).map_err(|e| format!("assign: {e}"))
}

/// Decodes events-topic records with the product's decoder (single-object framing).
pub async fn decode(raws: &[Raw]) -> Result<Vec<Observed>, String> {
    let schemas = Schemas::load().map_err(|e| format!("schemas: {e}"))?;
    let decoder = Decoder::new(Arc::new(schemas));
    let mut out = Vec::with_capacity(raws.len());
    for r in raws {
        let value = r.value.as_deref().ok_or_else(|| {
            format!(
                "p{}@{}: an events record without a value",
                r.partition, r.offset
            )
        })?;
        let d = decoder
            .decode_event(&r.key, value)
            .await
            .map_err(|e| format!("p{}@{}: undecodable event: {e}", r.partition, r.offset))?;
        out.push(Observed {
            partition: r.partition,
            offset: r.offset,
            event: d.event,
            source: d.source,
        });
    }
    Ok(out)
}

/// A read-committed consumer following the events topic from its beginning, from the
/// moment the topic exists. Stops when dropped.
#[derive(Debug)]
pub struct Watcher {
    raws: Arc<Mutex<Vec<Raw>>>,
    decoded: Vec<Observed>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(bootstrap: &str, topic: &str) -> Result<Watcher, String> {
        let c = consumer(bootstrap, Isolation::ReadCommitted)?;
        let raws: Arc<Mutex<Vec<Raw>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, halt, topic) = (raws.clone(), stop.clone(), topic.to_owned());
        let thread = std::thread::spawn(move || {
            let parts = loop {
                if halt.load(Ordering::Relaxed) {
                    return;
                }
                match partitions(&c, &topic) {
                    Some(p) => break p,
                    None => std::thread::sleep(Duration::from_millis(200)),
                }
            };
            if let Err(e) = assign_from_beginning(&c, &topic, &parts) {
                eprintln!("watcher: {e}");
                return;
            }
            while !halt.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                    let raw = Raw {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().unwrap_or_default().to_vec(),
                        value: m.payload().map(<[u8]>::to_vec),
                    };
                    sink.lock().unwrap_or_else(|p| p.into_inner()).push(raw);
                }
            }
        });
        Ok(Watcher {
            raws,
            decoded: Vec::new(),
            stop,
            thread: Some(thread),
        })
    }

    /// Every event seen so far, decoded (in arrival order).
    pub async fn events(&mut self) -> Result<&[Observed], String> {
        let fresh: Vec<Raw> = {
            let raws = self.raws.lock().unwrap_or_else(|p| p.into_inner());
            raws[self.decoded.len()..].to_vec()
        };
        let more = decode(&fresh).await?;
        self.decoded.extend(more);
        Ok(&self.decoded)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Counts the records of `topic` as soon as they reach the broker, transactions
/// still open included (read uncommitted, fetches answered within 5 ms): the test
/// kills the connector the moment a transaction's first records land, before its
/// commit. Stops when dropped.
#[derive(Debug)]
pub struct UncommittedCounter {
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UncommittedCounter {
    pub fn start(bootstrap: &str, topic: &str) -> Result<UncommittedCounter, String> {
        let c: BaseConsumer = consumer_config(bootstrap, Isolation::ReadUncommitted)
            .set("fetch.wait.max.ms", "5")
            .set("fetch.min.bytes", "1")
            .create()
            .map_err(|e| format!("cannot create a consumer: {e}"))?;
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, halt, topic) = (count.clone(), stop.clone(), topic.to_owned());
        let thread = std::thread::spawn(move || {
            let parts = loop {
                if halt.load(Ordering::Relaxed) {
                    return;
                }
                match partitions(&c, &topic) {
                    Some(p) => break p,
                    None => std::thread::sleep(Duration::from_millis(200)),
                }
            };
            if assign_from_beginning(&c, &topic, &parts).is_err() {
                return;
            }
            while !halt.load(Ordering::Relaxed) {
                if let Some(Ok(_)) = c.poll(Duration::from_millis(20)) {
                    n.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Ok(UncommittedCounter {
            count,
            stop,
            thread: Some(thread),
        })
    }

    /// Records seen so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for UncommittedCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
    let c = consumer(bootstrap, isolation)?;
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
                        key: m.key().unwrap_or_default().to_vec(),
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
