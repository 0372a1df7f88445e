//! Following a compacted topic: read every partition from its beginning to its
//! end (the last stable offset when following starts, read committed), say so, then
//! keep reading what comes after, for as long as the process runs.
//!
//! The continuous reconciliation follows the directory topic this way: its records
//! are applied in order, in one thread, and the "caught up" signal tells the
//! start-up that the directory is complete (a half-read directory would report
//! everyone `not_in_directory`). Partitions added to the topic after start-up are
//! not followed until the next start.
//!
//! Like the rest of this module it only moves bytes: the caller's callback decides
//! what a record means.

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::client_log::ClientLog;
use super::config::KafkaConfig;
use super::restored::RestoreError;

/// What the follower hands its callback, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Followed {
    /// One committed record (`value` `None`: a tombstone).
    Record {
        partition: i32,
        offset: i64,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    },
    /// Every partition was read to the end it had when following started. Sent
    /// once, before any later record.
    CaughtUp { records: u64 },
    /// The consumer failed after catching up; librdkafka retries, the follower
    /// goes on. Sent at most once a minute.
    Lagging { error: String },
}

/// A running follower; dropping it stops the thread (within 100 ms).
#[derive(Debug)]
pub(crate) struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts following `topic` (read committed, no consumer group, nothing committed)
/// on a thread of its own. Fails at once when the topic does not exist or the
/// consumer cannot be made; the records, the catch-up and later errors arrive
/// through `on_event`.
pub(crate) fn follow_topic(
    config: &KafkaConfig,
    topic: &str,
    mut on_event: impl FnMut(Followed) + Send + 'static,
) -> Result<Follower, RestoreError> {
    let consumer: BaseConsumer<ClientLog> = config
        .restore_consumer_config()
        .create_with_context(ClientLog::new("follow"))
        .map_err(RestoreError::Client)?;
    let kafka_err = |what: &str, source| RestoreError::Kafka {
        topic: topic.to_owned(),
        what: what.to_owned(),
        source,
    };
    let md = consumer
        .fetch_metadata(Some(topic), config.request_timeout)
        .map_err(|e| kafka_err("the metadata", e))?;
    let partitions: Vec<i32> = match md.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() => t.partitions().iter().map(|p| p.id()).collect(),
        Some(t)
            if t.error().map(RDKafkaErrorCode::from)
                != Some(RDKafkaErrorCode::UnknownTopicOrPartition) =>
        {
            let code = t.error().map(RDKafkaErrorCode::from);
            let code = code.unwrap_or(RDKafkaErrorCode::Unknown);
            return Err(kafka_err("the metadata", KafkaError::MetadataFetch(code)));
        }
        _ => return Err(RestoreError::MissingTopic(topic.to_owned())),
    };
    let mut end = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) =
            super::restore_consumer::watermarks(&consumer, topic, p, config.request_timeout)
                .map_err(|e| kafka_err("the offsets", e))?;
        if high > low {
            end.insert(p, high);
        }
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| kafka_err("an assignment", e))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| kafka_err("an assignment", e))?;
    drop(assignment);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let topic = topic.to_owned();
    let thread = std::thread::Builder::new()
        .name("follow".into())
        .spawn(move || read_forever(&consumer, &topic, end, &flag, &mut on_event))
        .map_err(|_| kafka_err("a thread", KafkaError::Canceled))?;
    Ok(Follower {
        stop,
        thread: Some(thread),
    })
}

fn read_forever(
    consumer: &BaseConsumer<ClientLog>,
    topic: &str,
    mut end: HashMap<i32, i64>,
    stop: &AtomicBool,
    on_event: &mut impl FnMut(Followed),
) {
    let mut records = 0u64;
    let mut caught_up = false;
    let mut last_lag_report: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if !caught_up && end.is_empty() {
            caught_up = true;
            on_event(Followed::CaughtUp { records });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                let (partition, offset) = (msg.partition(), msg.offset());
                records += 1;
                on_event(Followed::Record {
                    partition,
                    offset,
                    key: msg.key().unwrap_or_default().to_vec(),
                    value: msg.payload().map(<[u8]>::to_vec),
                });
                if end.get(&partition).is_some_and(|&stop| offset + 1 >= stop) {
                    end.remove(&partition);
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {
                if !end.is_empty() {
                    // The tail may be a transaction marker: the position passes it.
                    if let Ok(positions) = consumer.position() {
                        for elem in positions.elements_for_topic(topic) {
                            let p = elem.partition();
                            if let (Some(&stop), Offset::Offset(pos)) = (end.get(&p), elem.offset())
                            {
                                if pos >= stop {
                                    end.remove(&p);
                                }
                            }
                        }
                    }
                }
            }
            Some(Err(e)) => {
                if last_lag_report.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    last_lag_report = Some(Instant::now());
                    on_event(Followed::Lagging {
                        error: e.to_string(),
                    });
                }
            }
        }
    }
}
