//! The restore through librdkafka's consumers: each worker assigns its share of the
//! state topic's partitions from their beginning, read committed, and polls them to
//! the end taken before reading. [`super::restore`] runs the workers; the own reader
//! ([`super::wire`]) is the other way to read the same partitions.
//!
//! A partition is done when the consumer's POSITION reaches its end, not when a
//! record at `end - 1` arrives: the tail of a partition is often a transaction
//! marker, or an aborted batch, that no read-committed consumer ever receives.

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::client_log::ClientLog;
use super::config::KafkaConfig;
use super::restored::{RecordAt, RestoreError, StateDecoder};
use super::survivors::{Survivors, MAX_RESERVED_KEYS};
use crate::release::drop_in_background;

/// The state topic's partition ids.
///
/// A missing state topic is refused under every topic policy: under `trust` the
/// connector creates no topic, and starting from empty state would write that
/// state to whatever topic the cluster then creates (on a broker that auto-creates
/// topics, one with `cleanup.policy=delete`, which forgets it).
pub(super) fn list_partitions(config: &KafkaConfig) -> Result<Vec<i32>, RestoreError> {
    let consumer: BaseConsumer<ClientLog> = config
        .restore_consumer_config()
        .create_with_context(ClientLog::new("restore"))
        .map_err(RestoreError::Client)?;
    let topic = &config.state_topic;
    let md = consumer
        .fetch_metadata(Some(topic), config.request_timeout)
        .map_err(|source| RestoreError::Kafka {
            topic: topic.clone(),
            what: "the metadata".into(),
            source,
        })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Err(RestoreError::MissingTopic(topic.clone()));
    };
    match t.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
            return Err(RestoreError::MissingTopic(topic.clone()));
        }
        Some(code) => {
            return Err(RestoreError::Kafka {
                topic: topic.clone(),
                what: "the metadata".into(),
                source: KafkaError::MetadataFetch(code),
            })
        }
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    drop(md);
    drop_in_background(consumer);
    Ok(ids)
}

/// Read `partitions` of the state topic to their end on one consumer, keeping the
/// last record of each key, decoded as it is read (see [`super::survivors`]).
pub(super) fn read_partitions<D: StateDecoder>(
    config: &KafkaConfig,
    partitions: &[i32],
    cancel: &AtomicBool,
    decoder: &D,
) -> Result<Survivors<D::Value>, RestoreError> {
    let topic = config.state_topic.as_str();
    let mut part = Survivors::default();
    if partitions.is_empty() {
        return Ok(part);
    }
    // Declared first, so dropped last: no list of this consumer outlives it.
    let consumer: BaseConsumer<ClientLog> = config
        .restore_consumer_config()
        .create_with_context(ClientLog::new("restore"))
        .map_err(RestoreError::Client)?;
    let kafka_err = |what: String, source| RestoreError::Kafka {
        topic: topic.to_owned(),
        what,
        source,
    };

    let (mut end, offsets) = assign_to_end(&consumer, config, partitions)?;
    if end.is_empty() {
        drop_in_background(consumer);
        return Ok(part);
    }
    // At most one key an offset: sized once rather than grown (each growth
    // rehashes every key so far). Bounded, for a log of mostly superseded records.
    part.reserve(usize::try_from(offsets).unwrap_or(0).min(MAX_RESERVED_KEYS));

    let idle_limit = config.request_timeout;
    let mut last_progress = Instant::now();
    // Set by each record, turned into `last_progress` only when the consumer waits:
    // reading the clock for every record was 4% of a large restore's CPU.
    let mut progressed = false;
    let mut position: HashMap<i32, i64> = end.keys().map(|&p| (p, -1)).collect();
    while !end.is_empty() {
        if cancel.load(Ordering::Relaxed) {
            return Err(kafka_err("the partitions".into(), KafkaError::Canceled));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                let p = msg.partition();
                let offset = msg.offset();
                let Some(&stop) = end.get(&p) else { continue };
                progressed = true;
                if offset < stop {
                    let at = RecordAt {
                        partition: p,
                        offset,
                    };
                    let skip = config.skip_state_records.contains(&at);
                    part.offer(
                        at,
                        msg.key().unwrap_or_default(),
                        msg.payload(),
                        skip,
                        decoder,
                    )
                    .map_err(|split| split.into_error(topic))?;
                }
                if offset + 1 >= stop {
                    end.remove(&p);
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {
                // The tail may be a marker or an aborted batch: no record comes,
                // but the position moves past it.
                if std::mem::take(&mut progressed) {
                    last_progress = Instant::now();
                }
                let positions = consumer
                    .position()
                    .map_err(|e| kafka_err("the consumer position".into(), e))?;
                for elem in positions.elements_for_topic(topic) {
                    let p = elem.partition();
                    if let (Some(&stop), Offset::Offset(pos)) = (end.get(&p), elem.offset()) {
                        if position.get(&p) != Some(&pos) {
                            position.insert(p, pos);
                            last_progress = Instant::now();
                        }
                        if pos >= stop {
                            end.remove(&p);
                        }
                    }
                }
                drop(positions);
                if !end.is_empty() && last_progress.elapsed() > idle_limit {
                    let (&p, &stop) = end.iter().next().unwrap_or((&-1, &-1));
                    return Err(RestoreError::Stalled {
                        topic: topic.to_owned(),
                        partition: p,
                        position: position.get(&p).copied().unwrap_or(-1),
                        end: stop,
                        idle: idle_limit,
                    });
                }
            }
            Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                return Err(kafka_err(
                    "the records".into(),
                    KafkaError::MessageConsumptionFatal(code),
                ));
            }
            Some(Err(e)) => {
                // Transport and leadership errors are retried by librdkafka; the
                // idle limit above bounds how long we wait for it.
                tracing::debug!(topic, error = %e, "Restore consumer error; librdkafka retries");
            }
        }
    }
    drop_in_background(consumer);
    part.seal();
    Ok(part)
}

/// Assigns the non-empty `partitions` from their beginning and returns the end of
/// each (its last stable offset now: the consumer is read committed, so the
/// watermark query answers the LSO rather than the high watermark) and the offsets
/// to read in all. Empty partitions are done before they start.
fn assign_to_end(
    consumer: &BaseConsumer<ClientLog>,
    config: &KafkaConfig,
    partitions: &[i32],
) -> Result<(HashMap<i32, i64>, i64), RestoreError> {
    let topic = config.state_topic.as_str();
    let kafka_err = |what: String, source| RestoreError::Kafka {
        topic: topic.to_owned(),
        what,
        source,
    };
    let mut end: HashMap<i32, i64> = HashMap::new();
    let mut offsets = 0;
    let mut assignment = TopicPartitionList::new();
    for &p in partitions {
        let (low, high) = watermarks(consumer, topic, p, config.request_timeout)
            .map_err(|e| kafka_err(format!("the offsets of partition {p}"), e))?;
        if high > low {
            end.insert(p, high);
            offsets += high - low;
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| kafka_err(format!("partition {p}"), e))?;
        }
    }
    if !end.is_empty() {
        consumer
            .assign(&assignment)
            .map_err(|e| kafka_err("an assignment".into(), e))?;
    }
    Ok((end, offsets))
}

/// A partition's low and high watermarks (the high one is the last stable offset
/// for a read-committed consumer). Right after a topic is created (the first start
/// on a fresh cluster creates the state topic a moment before it is read) its
/// partitions may have no leader yet: the query is asked again every 50 ms while
/// the broker says the leader is moving, within `timeout`.
pub(crate) fn watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), KafkaError> {
    let deadline = Instant::now() + timeout;
    let mut attempt = FIRST_ATTEMPT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let began = Instant::now();
        match consumer.fetch_watermarks(topic, partition, left.min(attempt)) {
            Err(e) if leader_is_moving(&e) && Instant::now() + LEADER_RETRY < deadline => {
                std::thread::sleep(LEADER_RETRY);
            }
            // An attempt that ran out of its bound (librdkafka says "all brokers
            // down" while the connection is still being set up): once the bound
            // is spent, ask again with twice the bound, within `timeout`.
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::AllBrokersDown,
            )) if attempt < left => {
                std::thread::sleep(attempt.saturating_sub(began.elapsed()));
                attempt *= 2;
            }
            other => return other,
        }
    }
}

/// The first bound of one watermark query. Right after a topic was created or
/// written, librdkafka's query sometimes waits about 700 ms for a metadata update
/// that a fresh query does not need (measured on a local broker: one restore in
/// three of a just-created topic); a query that takes longer is asked again, each
/// time with twice the bound, so a slow cluster still gets its answer.
const FIRST_ATTEMPT: Duration = Duration::from_millis(100);

/// The pause between two watermark queries of a partition whose leader is moving.
const LEADER_RETRY: Duration = Duration::from_millis(50);

/// Whether `e` says the partition's leader is not settled yet (a new topic, a
/// leader election): worth asking again shortly.
fn leader_is_moving(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownLeaderEpoch
                | RDKafkaErrorCode::FencedLeaderEpoch
                | RDKafkaErrorCode::NotCoordinator
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moving_leader_is_asked_again_and_other_errors_are_not() {
        for code in [
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::UnknownLeaderEpoch,
        ] {
            assert!(
                leader_is_moving(&KafkaError::MetadataFetch(code)),
                "{code:?}"
            );
        }
        for code in [
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::BrokerTransportFailure,
        ] {
            assert!(
                !leader_is_moving(&KafkaError::MetadataFetch(code)),
                "{code:?}"
            );
        }
        assert!(!leader_is_moving(&KafkaError::Canceled));
    }
}
