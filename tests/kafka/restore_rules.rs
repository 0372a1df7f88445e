//! What the restore refuses and what it lets through (issue 11), on a real broker:
//! a state topic whose partitions were raised (every key met in two partitions is
//! refused, tombstone or not), a missing state topic under `trust`, only the last
//! record of each key decoded (a tombstone of any key fixes an undecodable record at
//! once), and the explicit skip of one record.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use streak_connector::kafka::{
    KafkaConfig, KafkaStateSource, OutRecord, RecordAt, RestoreError, StateSource, TopicPolicy,
    TransactionalPublisher, TransactionalSink,
};
use streak_connector::metrics::Metrics;
use streak_connector::recovery::{Classified as _, Recovery};
use testkit::broker::{real_broker_for, Broker};

#[derive(Debug, thiserror::Error)]
#[error("value does not start with `v:`")]
struct BadRecord;

/// Values are `v:<text>`; a tombstone must never reach the decoder.
fn decode(_key: &[u8], value: Option<&[u8]>) -> Result<String, BadRecord> {
    let v = value.expect("tombstones are never decoded");
    let text = v.strip_prefix(b"v:").ok_or(BadRecord)?;
    Ok(String::from_utf8_lossy(text).into_owned())
}

fn put(topic: &str, key: &str, value: &str) -> OutRecord {
    OutRecord::new(topic, key, format!("v:{value}"))
}

struct Rig {
    config: KafkaConfig,
    publisher: TransactionalPublisher,
    metrics: Arc<Metrics>,
}

impl Rig {
    async fn new(broker: &Broker, name: &str) -> Rig {
        let config = broker.config(name);
        broker.prepare_topics(&config).await;
        let metrics = Arc::new(Metrics::new());
        let publisher = TransactionalPublisher::new(&config, metrics.clone()).expect("producer");
        publisher.init().await.expect("init_transactions");
        Rig {
            config,
            publisher,
            metrics,
        }
    }

    async fn commit(&self, records: Vec<OutRecord>) {
        self.publisher.commit_batch(records).await.expect("commit");
    }

    async fn restore(
        &self,
        config: &KafkaConfig,
    ) -> Result<streak_connector::kafka::Restored<String>, RestoreError> {
        testkit::broker::settle(&config.bootstrap_servers, &config.state_topic).await;
        let source = KafkaStateSource::new(config.clone(), self.metrics.clone());
        tokio::time::timeout(Duration::from_secs(90), source.restore(decode))
            .await
            .expect("the restore ends")
    }
}

async fn raise_partitions(bootstrap: &str, topic: &str, to: usize) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let results = admin
        .create_partitions([&NewPartitions::new(topic, to)], &AdminOptions::new())
        .await
        .expect("create_partitions answers");
    for r in results {
        r.expect("partitions added");
    }
}

/// 4. Raising the state topic from 3 to 8 partitions moves most keys: the newest
///    record of a moved key lands in another partition, and the restore refuses to
///    start whether that newest record is a value or a tombstone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_topic_with_raised_partitions_is_refused() {
    let Some(broker) = real_broker_for("a_state_topic_with_raised_partitions_is_refused").await
    else {
        return;
    };
    for newest_is_tombstone in [false, true] {
        let rig = Rig::new(&broker, "repartitioned").await;
        let t = rig.config.state_topic.clone();
        let keys: Vec<String> = (0..40).map(|i| format!("o/u{i}")).collect();
        rig.commit(keys.iter().map(|k| put(&t, k, "before")).collect())
            .await;
        assert_eq!(
            rig.restore(&rig.config)
                .await
                .expect("restores")
                .entries
                .len(),
            40
        );

        raise_partitions(broker.bootstrap(), &t, 8).await;
        // A new producer sees the new partition count.
        let rig2 = Rig {
            publisher: {
                let p = TransactionalPublisher::new(&rig.config, rig.metrics.clone())
                    .expect("producer");
                p.init().await.expect("init_transactions");
                p
            },
            config: rig.config.clone(),
            metrics: rig.metrics.clone(),
        };
        drop(rig);
        let newest = |k: &String| {
            if newest_is_tombstone {
                OutRecord::tombstone(&t, k.as_str())
            } else {
                put(&t, k, "after")
            }
        };
        rig2.commit(keys.iter().map(newest).collect()).await;
        let err = rig2
            .restore(&rig2.config)
            .await
            .expect_err("a repartitioned state topic is refused");
        let msg = err.to_string();
        assert!(
            matches!(err, RestoreError::KeyInTwoPartitions { .. }),
            "tombstone={newest_is_tombstone}: {msg}"
        );
        assert!(msg.contains("delete the state topic"), "{msg}");
        assert!(msg.contains("partitions were added"), "{msg}");
        assert_eq!(err.recovery(), Recovery::StopProcess);
    }
}

/// 10. Under `trust` the connector creates no topic, and a missing state topic is
///     refused instead of starting from empty state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_state_topic_is_refused_under_trust() {
    let Some(broker) = real_broker_for("a_missing_state_topic_is_refused_under_trust").await else {
        return;
    };
    let mut config = broker.config("trust-missing");
    config.topic_policy = TopicPolicy::Trust;
    let source = KafkaStateSource::new(config.clone(), Arc::new(Metrics::new()));
    let err = source
        .restore(decode)
        .await
        .expect_err("a missing state topic is refused");
    assert!(matches!(err, RestoreError::MissingTopic(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&config.state_topic), "{msg}");
    assert!(msg.contains("trust"), "{msg}");
    assert_eq!(err.recovery(), Recovery::StopProcess);
    // Nor did the look create it.
    assert!(!testkit::topic::topic_exists(broker.bootstrap(), &config.state_topic).await);
}

/// 7. Only the last record of each key is decoded: an undecodable record fixed by a
///    later tombstone no longer blocks, a tombstone of a key never written is fine,
///    and `skip_state_records` reads one record as never written (counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_survivors_are_decoded_and_one_record_can_be_skipped() {
    let Some(broker) =
        real_broker_for("only_survivors_are_decoded_and_one_record_can_be_skipped").await
    else {
        return;
    };
    let rig = Rig::new(&broker, "survivors").await;
    let t = rig.config.state_topic.clone();
    rig.commit(vec![
        put(&t, "o/a", "1"),
        OutRecord::new(&t, "o/bad", b"\x00garbage".to_vec()),
    ])
    .await;
    let err = rig.restore(&rig.config).await.expect_err("o/bad is live");
    let (partition, offset) = match &err {
        RestoreError::Undecodable {
            partition, offset, ..
        } => (*partition, *offset),
        other => panic!("expected Undecodable, got {other}"),
    };
    assert!(err_names_skip_flag(&rig, partition, offset).await);

    // The explicit way past it: skip that record. o/bad had no earlier record, so it
    // has no state; the skip is counted.
    let mut skipping = rig.config.clone();
    skipping.skip_state_records = BTreeSet::from([RecordAt { partition, offset }]);
    let r = rig.restore(&skipping).await.expect("skipped");
    assert_eq!(r.entries.len(), 1);
    assert_eq!(rig.metrics.state_records_skipped_total.get(), 1);

    // The documented remedy works at once: a tombstone for the key (and a tombstone
    // of a key the connector never wrote, in another framing, is fine too).
    rig.commit(vec![
        OutRecord::tombstone(&t, "o/bad"),
        OutRecord::tombstone(&t, "\u{1}foreign key"),
        put(&t, "o/a", "2"),
    ])
    .await;
    let r = rig.restore(&rig.config).await.expect("restores");
    let live: Vec<(String, String)> = r
        .entries
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone()))
        .collect();
    assert_eq!(live, [("o/a".to_owned(), "2".to_owned())]);
    assert_eq!(r.stats.records, 5);
    assert_eq!(r.stats.tombstones, 2);
}

async fn err_names_skip_flag(rig: &Rig, partition: i32, offset: i64) -> bool {
    let msg = rig
        .restore(&rig.config)
        .await
        .expect_err("still refused")
        .to_string();
    msg.contains(&format!("--skip-state-record {partition}@{offset}"))
}
