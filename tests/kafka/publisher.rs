//! The transactional publisher against a broker (the fixture's: real when
//! `KAFKA_BOOTSTRAP_SERVERS` is set, the mock cluster otherwise): error
//! classification, aborts, fencing.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use streak_connector::kafka::{
    KafkaConfig, KafkaStateSource, OutRecord, PublishError, Stage, StateSource,
    TransactionalPublisher, TransactionalSink,
};
use streak_connector::metrics::Metrics;
use streak_connector::recovery::{Classified as _, Recovery};
use testkit::broker::Broker;

fn decode(_key: &[u8], value: Option<&[u8]>) -> Result<Vec<u8>, std::io::Error> {
    Ok(value.unwrap_or_default().to_vec())
}

fn count(metrics: &Metrics, result: &str) -> u64 {
    metrics
        .transactions_total
        .with_label_values(&[result])
        .get()
}

async fn publisher(config: &KafkaConfig) -> (TransactionalPublisher, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let p = TransactionalPublisher::new(config, Arc::clone(&metrics)).expect("producer");
    p.init().await.expect("init_transactions");
    (p, metrics)
}

/// The restored keys, once every committed transaction is visible.
async fn restored_keys(config: &KafkaConfig) -> Vec<String> {
    testkit::broker::settle(&config.bootstrap_servers, &config.state_topic).await;
    restored_keys_now(config).await
}

/// The restored keys now (a transaction may be open: nothing to wait for).
async fn restored_keys_now(config: &KafkaConfig) -> Vec<String> {
    let source = KafkaStateSource::new(config.clone(), Arc::new(Metrics::new()));
    let r = source.restore(decode).await.expect("restore");
    let mut keys: Vec<String> = r
        .entries
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn commit_before_init_is_refused() {
    let broker = Broker::start().await;
    let config = broker.config("noinit");
    let p = TransactionalPublisher::new(&config, Arc::new(Metrics::new())).expect("producer");
    let err = p
        .commit_batch(vec![OutRecord::new(&config.state_topic, "k", "v")])
        .await
        .expect_err("refused");
    assert!(matches!(err, PublishError::NotInitialized), "{err:?}");
    assert_eq!(err.recovery(), Recovery::StopProcess);
}

/// A record the producer refuses (larger than `message.max.bytes`) fails the
/// batch at the send stage: the transaction is aborted, nothing of the batch is
/// visible, and the next batch commits.
#[tokio::test]
async fn refused_record_aborts_the_batch_and_the_next_one_commits() {
    let broker = Broker::start().await;
    let config = broker.config("oversized");
    broker.prepare_topics(&config).await;
    let (p, metrics) = publisher(&config).await;
    let t = &config.state_topic;

    let err = p
        .commit_batch(vec![
            OutRecord::new(t, "o/before", "v"),
            OutRecord::new(t, "o/huge", vec![b'x'; 2_000_000]),
        ])
        .await
        .expect_err("the batch fails");
    match &err {
        PublishError::Aborted { stage, .. } => assert_eq!(*stage, Stage::Send),
        other => panic!("expected Aborted at send, got {other:?}"),
    }
    assert_eq!(err.recovery(), Recovery::RedoCycle);
    assert_eq!(count(&metrics, "aborted"), 1);

    p.commit_batch(vec![OutRecord::new(t, "o/after", "v")])
        .await
        .expect("the next batch commits");
    assert_eq!(count(&metrics, "committed"), 1);
    if broker.is_real() {
        assert_eq!(restored_keys(&config).await, vec!["o/after".to_string()]);
    }
}

/// Produce requests fail permanently (the mock cluster injects the error): the
/// delivery reports carry it, the batch is aborted, and once the broker behaves
/// again the next batch commits.
#[tokio::test]
async fn failed_delivery_aborts_the_batch() {
    let broker = Broker::mock();
    let config = broker.config("delivery");
    broker.prepare_topics(&config).await;
    let (p, metrics) = publisher(&config).await;
    let t = &config.state_topic;
    let mock = broker.mock_cluster().expect("mock");
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let err = p
        .commit_batch(vec![OutRecord::new(t, "o/a", "v")])
        .await
        .expect_err("delivery fails");
    match &err {
        PublishError::Aborted { stage, .. } => assert!(
            matches!(stage, Stage::Delivery | Stage::Commit),
            "stage {stage:?}"
        ),
        other => panic!("expected Aborted, got {other:?}"),
    }
    assert_eq!(err.recovery(), Recovery::RedoCycle);
    assert_eq!(count(&metrics, "aborted"), 1);

    mock.clear_request_errors(RDKafkaApiKey::Produce);
    p.commit_batch(vec![OutRecord::new(t, "o/b", "v")])
        .await
        .expect("commits once the broker behaves");
    assert_eq!(count(&metrics, "committed"), 1);
}

/// A transient coordinator error on EndTxn is absorbed: librdkafka retries it and
/// the commit succeeds.
#[tokio::test]
async fn transient_commit_errors_are_absorbed() {
    let broker = Broker::mock();
    let config = broker.config("endtxn");
    broker.prepare_topics(&config).await;
    let (p, metrics) = publisher(&config).await;
    let mock = broker.mock_cluster().expect("mock");
    mock.request_errors(
        RDKafkaApiKey::EndTxn,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
        ],
    );
    p.commit_batch(vec![OutRecord::new(&config.state_topic, "o/a", "v")])
        .await
        .expect("commits after librdkafka's retries");
    assert_eq!(count(&metrics, "committed"), 1);
    assert_eq!(count(&metrics, "aborted"), 0);
}

/// Batches sent concurrently on one publisher are serialized, each its own
/// transaction.
#[tokio::test]
async fn concurrent_batches_are_serialized() {
    let broker = Broker::start().await;
    let config = broker.config("concurrent");
    broker.prepare_topics(&config).await;
    let (p, metrics) = publisher(&config).await;
    let p = Arc::new(p);
    let t = config.state_topic.clone();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let p = Arc::clone(&p);
            let t = t.clone();
            async move {
                let batch = (0..50)
                    .map(|j| OutRecord::new(&t, format!("o{i}/u{j}"), "v"))
                    .collect();
                p.commit_batch(batch).await
            }
        })
        .collect();
    for r in futures::future::join_all(tasks).await {
        r.expect("each batch commits");
    }
    assert_eq!(count(&metrics, "committed"), 4);
    assert_eq!(restored_keys(&config).await.len(), 200);
}

/// A second publisher with the same transactional id (a second instance with the
/// same connector name) fences the first: the first's next commit fails with
/// `Fenced`, for good, and nothing of it is visible.
#[tokio::test]
async fn a_second_instance_fences_the_first() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("a_second_instance_fences_the_first") {
        return;
    }
    let config = broker.config("fencing");
    broker.prepare_topics(&config).await;
    let t = &config.state_topic;
    let (first, first_metrics) = publisher(&config).await;
    first
        .commit_batch(vec![OutRecord::new(t, "o/first", "v")])
        .await
        .expect("the first instance commits");

    let (second, _) = publisher(&config).await;
    let err = first
        .commit_batch(vec![OutRecord::new(t, "o/zombie", "v")])
        .await
        .expect_err("the zombie is fenced");
    match &err {
        PublishError::Fenced {
            transactional_id, ..
        } => assert_eq!(transactional_id, &config.transactional_id),
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(err.recovery(), Recovery::StopProcess);
    assert!(err
        .to_string()
        .contains("another instance with the same connector name"));
    assert_eq!(count(&first_metrics, "fatal"), 1);
    // Fatal is for good: the zombie does not come back.
    let again = first
        .commit_batch(vec![OutRecord::new(t, "o/zombie2", "v")])
        .await
        .expect_err("still fenced");
    assert!(matches!(again, PublishError::Fenced { .. }), "{again:?}");

    second
        .commit_batch(vec![OutRecord::new(t, "o/second", "v")])
        .await
        .expect("the new instance commits");
    assert_eq!(
        restored_keys(&config).await,
        vec!["o/first".to_string(), "o/second".to_string()]
    );
}

/// `init` of a new instance aborts the open transaction of a crashed one: what
/// the crashed instance wrote never becomes visible.
#[tokio::test]
async fn init_aborts_the_open_transaction_of_a_crashed_instance() {
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    use rdkafka::util::Timeout;

    let broker = Broker::start().await;
    if broker.skip_unless_real("init_aborts_the_open_transaction_of_a_crashed_instance") {
        return;
    }
    let config = broker.config("zombie");
    broker.prepare_topics(&config).await;
    let t = config.state_topic.clone();
    // The "crashed" instance: writes in a transaction, then vanishes without
    // committing or aborting (its producer is leaked, not closed).
    let crashed: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", &config.transactional_id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .expect("producer");
    let c = crashed.clone();
    tokio::task::spawn_blocking(move || {
        c.init_transactions(Timeout::After(Duration::from_secs(30)))?;
        c.begin_transaction()
    })
    .await
    .unwrap()
    .expect("begin");
    crashed
        .send(
            FutureRecord::<str, str>::to(&t)
                .key("o/crashed")
                .payload("v"),
            Duration::from_secs(10),
        )
        .await
        .expect("delivered");

    // The restore of the new instance, after its init, must end (the open
    // transaction is aborted by the init, so the last stable offset moves on)
    // and must not show the crashed instance's record.
    let (p, _) = publisher(&config).await;
    assert!(restored_keys(&config).await.is_empty());
    p.commit_batch(vec![OutRecord::new(&t, "o/new", "v")])
        .await
        .expect("commit");
    assert_eq!(restored_keys(&config).await, vec!["o/new".to_string()]);
    drop(crashed);
}

/// While another producer holds a transaction open on the state topic, the
/// restore reads up to the last stable offset and ends, without its records.
#[tokio::test]
async fn restore_ends_at_the_last_stable_offset_under_an_open_transaction() {
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    use rdkafka::util::Timeout;

    let broker = Broker::start().await;
    if broker.skip_unless_real("restore_ends_at_the_last_stable_offset_under_an_open_transaction") {
        return;
    }
    let config = broker.config("lso");
    broker.prepare_topics(&config).await;
    let t = config.state_topic.clone();
    let (p, _) = publisher(&config).await;
    p.commit_batch(
        (0..30)
            .map(|i| OutRecord::new(&t, format!("o/u{i}"), "v"))
            .collect(),
    )
    .await
    .expect("commit");
    testkit::broker::settle(broker.bootstrap(), &t).await;
    let other: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", testkit::unique("open"))
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    let o = other.clone();
    tokio::task::spawn_blocking(move || {
        o.init_transactions(Timeout::After(Duration::from_secs(30)))?;
        o.begin_transaction()
    })
    .await
    .unwrap()
    .expect("begin");
    for i in 0..30 {
        other
            .send(
                FutureRecord::<str, str>::to(&t)
                    .key(&format!("o/open{i}"))
                    .payload("v"),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
    let keys = tokio::time::timeout(Duration::from_secs(30), restored_keys_now(&config))
        .await
        .expect("the restore ends although a transaction is open");
    assert_eq!(keys.len(), 30);
    assert!(keys.iter().all(|k| !k.starts_with("o/open")));
    let o = other.clone();
    tokio::task::spawn_blocking(move || {
        o.abort_transaction(Timeout::After(Duration::from_secs(30)))
    })
    .await
    .unwrap()
    .expect("abort");
}
