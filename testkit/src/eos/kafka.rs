//! Reading the events topic as a downstream consumer would: a live read-committed
//! [`Watcher`] that paces the steps, and [`read_to_end`], a bounded read of every
//! partition from the beginning to its end (the last stable offset when read
//! committed, so an open transaction cannot stall it) for the final proof.
//!
//! Both use a `BaseConsumer` with `assign` (no group rebalance) on a thread of their
//! own; records are decoded afterwards with the product's Avro [`Decoder`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use streak_connector::avro::{Decoder, Schemas};

use super::proof::Observed;
use crate::topic::{assign_from_beginning, partitions};
pub use crate::topic::{read_to_end, Isolation, Raw};

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

/// How long a final read of a proof may take.
const FINAL_READ_WITHIN: Duration = Duration::from_secs(60);

/// Every record of `topic` as `isolation` shows it, read to the end within 60 s
/// ([`read_to_end`]); panics saying why a read failed.
pub async fn read_whole(bootstrap: &str, topic: &str, isolation: Isolation) -> Vec<Raw> {
    read_to_end(bootstrap, topic, isolation, FINAL_READ_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The records of `all` (read uncommitted) that `committed` does not hold: those of
/// aborted transactions.
pub fn aborted(committed: &[Raw], all: Vec<Raw>) -> Vec<Raw> {
    let visible: HashSet<(i32, i64)> = committed.iter().map(|r| (r.partition, r.offset)).collect();
    all.into_iter()
        .filter(|r| !visible.contains(&(r.partition, r.offset)))
        .collect()
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
            .decode_event(r.key.as_deref().unwrap_or_default(), value)
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
                        key: m.key().map(<[u8]>::to_vec),
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
