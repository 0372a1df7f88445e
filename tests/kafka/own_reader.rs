//! The restore's own reader of the state topic (`kafka.restore_reader = "auto"`)
//! against librdkafka's consumer, which it must equal, and its fallback to that
//! consumer wherever it cannot read: a compressed batch, a malformed answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use streak_connector::kafka::{
    KafkaConfig, KafkaStateSource, OutRecord, RestoreReader, Restored, StateSource,
    TransactionalPublisher, TransactionalSink,
};
use streak_connector::metrics::Metrics;
use testkit::broker::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, thiserror::Error)]
#[error("value does not start with `v:`")]
struct BadRecord;

fn decode(_key: &[u8], value: Option<&[u8]>) -> Result<Vec<u8>, BadRecord> {
    let v = value.expect("tombstones are never decoded");
    v.strip_prefix(b"v:").map(<[u8]>::to_vec).ok_or(BadRecord)
}

async fn restore(config: &KafkaConfig, reader: RestoreReader) -> (Restored<Vec<u8>>, Arc<Metrics>) {
    testkit::broker::settle(&config.bootstrap_servers, &config.state_topic).await;
    let mut config = config.clone();
    config.restore_reader = reader;
    let metrics = Arc::new(Metrics::new());
    let source = KafkaStateSource::new(config, Arc::clone(&metrics));
    let restored = tokio::time::timeout(Duration::from_secs(120), source.restore(decode))
        .await
        .expect("the restore ends")
        .expect("the restore succeeds");
    (restored, metrics)
}

fn as_map(r: &Restored<Vec<u8>>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    r.entries.iter().cloned().collect()
}

/// Writes `records` in a transaction of another producer (same partitioner, its
/// own id) that is then aborted.
pub(crate) async fn write_aborted(bootstrap: &str, records: &[OutRecord]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", testkit::unique("aborter"))
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    let p = producer.clone();
    tokio::task::spawn_blocking(move || {
        p.init_transactions(Timeout::After(Duration::from_secs(30)))?;
        p.begin_transaction()
    })
    .await
    .expect("joins")
    .expect("begin");
    for r in records {
        let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&r.topic).key(&r.key);
        if let Some(v) = &r.value {
            rec = rec.payload(v);
        }
        producer
            .send(rec, Duration::from_secs(30))
            .await
            .expect("delivered");
    }
    tokio::task::spawn_blocking(move || {
        producer.abort_transaction(Timeout::After(Duration::from_secs(30)))
    })
    .await
    .expect("joins")
    .expect("abort");
}

/// A log of many fetches per partition (about 7 MiB each, fetches of at most 4),
/// superseded values, tombstones and, on a real broker, aborted transactions
/// between the committed ones (on the mock cluster, logs whose start moved): both
/// readers give the same entries and counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_readers_restore_the_same_large_log() {
    let broker = Broker::start().await;
    let config = broker.config("both-readers");
    broker.prepare_topics(&config).await;
    let metrics = Arc::new(Metrics::new());
    let publisher = TransactionalPublisher::new(&config, Arc::clone(&metrics)).expect("producer");
    publisher.init().await.expect("init_transactions");
    let t = &config.state_topic;
    let value = |round: usize, key: usize| {
        let mut v = format!("v:{round}:{key}:").into_bytes();
        v.resize(1000, b'x');
        v
    };
    for round in 0..4 {
        let records: Vec<OutRecord> = (0..5000)
            .map(|k| {
                let key = format!("org/member-{k:05}");
                if round == 3 && k % 7 == 0 {
                    OutRecord::tombstone(t, key)
                } else {
                    OutRecord::new(t, key, value(round, k))
                }
            })
            .collect();
        publisher.commit_batch(records).await.expect("commit");
        if broker.is_real() {
            let aborted: Vec<OutRecord> = (0..500)
                .map(|k| {
                    OutRecord::new(t, format!("org/member-{:05}", k * 9), b"v:aborted".to_vec())
                })
                .chain([OutRecord::new(t, "org/only-aborted", b"v:aborted".to_vec())])
                .collect();
            write_aborted(broker.bootstrap(), &aborted).await;
        }
    }
    let (own, own_metrics) = restore(&config, RestoreReader::Auto).await;
    let (lib, _) = restore(&config, RestoreReader::Librdkafka).await;
    assert_eq!(own.stats.reader, "own");
    assert_eq!(lib.stats.reader, "librdkafka");
    assert_eq!(own_metrics.state_restore_fallbacks_total.get(), 0);
    let (own_map, lib_map) = (as_map(&own), as_map(&lib));
    assert_eq!(
        (own.stats.records, own.stats.tombstones, own.stats.bytes),
        (lib.stats.records, lib.stats.tombstones, lib.stats.bytes)
    );
    assert!(own_map == lib_map, "the readers' entries differ");
    assert_eq!(own_map.len(), 5000 - 5000usize.div_ceil(7));
    if broker.is_real() {
        assert_eq!(own.stats.records, 20_000);
    } else {
        // The mock cluster keeps about 5 MiB a partition: its logs no longer start
        // at offset 0, which both readers take from the partition's log start.
        assert!(own.stats.records >= 5000, "{}", own.stats.records);
    }
    if broker.is_real() {
        assert!(!own_map.contains_key(&b"org/only-aborted"[..]));
        assert!(own_map.values().all(|v| v != b"aborted"));
    }
}

/// A state topic written compressed (a producer's `compression.type`): the own
/// reader does not decompress; it says so, counts it, and librdkafka's consumer
/// reads the whole topic instead, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_state_topic_is_read_through_librdkafka() {
    let broker = Broker::start().await;
    let config = broker.config("compressed");
    broker.prepare_topics(&config).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("compression.type", "lz4")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    let sends = (0..300).map(|i| {
        let key = format!("org/m{i}");
        let value = format!("v:{i}");
        let producer = producer.clone();
        let topic = config.state_topic.clone();
        async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&key).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .expect("delivered");
        }
    });
    futures::future::join_all(sends).await;
    let (restored, metrics) = restore(&config, RestoreReader::Auto).await;
    assert_eq!(restored.stats.reader, "librdkafka");
    assert_eq!(metrics.state_restore_fallbacks_total.get(), 1);
    let map = as_map(&restored);
    assert_eq!(map.len(), 300);
    assert_eq!(
        map.get(&b"org/m42"[..]).map(Vec::as_slice),
        Some(&b"42"[..])
    );
}

/// A bootstrap server whose answer to the own reader's first request (ApiVersions
/// v0) is malformed, as a broken proxy's could be: the reader names it, counts the
/// fallback, and librdkafka's consumer (whose ApiVersions is v3, passed through
/// untouched) restores everything through the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_falls_back_to_librdkafka() {
    let broker = Broker::start().await;
    let mut config = broker.config("malformed");
    broker.prepare_topics(&config).await;
    let metrics = Arc::new(Metrics::new());
    let publisher = TransactionalPublisher::new(&config, Arc::clone(&metrics)).expect("producer");
    publisher.init().await.expect("init_transactions");
    let t = config.state_topic.clone();
    publisher
        .commit_batch(
            (0..50)
                .map(|i| OutRecord::new(&t, format!("o/{i}"), format!("v:{i}")))
                .collect(),
        )
        .await
        .expect("commit");

    let corrupted = Arc::new(AtomicUsize::new(0));
    let proxy = corrupting_proxy(broker.bootstrap().to_owned(), Arc::clone(&corrupted)).await;
    config.bootstrap_servers = proxy;
    let (restored, metrics) = restore(&config, RestoreReader::Auto).await;
    assert!(
        corrupted.load(Ordering::Relaxed) >= 1,
        "the proxy cut an answer"
    );
    assert_eq!(restored.stats.reader, "librdkafka");
    assert_eq!(metrics.state_restore_fallbacks_total.get(), 1);
    assert_eq!(restored.entries.len(), 50);
}

/// A TCP proxy to `upstream` that answers every ApiVersions v0 request with a
/// response whose array of APIs claims two billion entries in four bytes, and
/// passes everything else through. Returns its address.
async fn corrupting_proxy(upstream: String, corrupted: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("an address").to_string();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let corrupted = Arc::clone(&corrupted);
            tokio::spawn(async move {
                // The first request says who is asking.
                let mut head = [0u8; 8];
                if client.read_exact(&mut head).await.is_err() {
                    return;
                }
                let api_key = i16::from_be_bytes([head[4], head[5]]);
                let version = i16::from_be_bytes([head[6], head[7]]);
                if api_key == 18 && version == 0 {
                    corrupted.fetch_add(1, Ordering::Relaxed);
                    // Size 10, correlation id 1, no error, i32::MAX entries.
                    let answer = [0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff];
                    let _ = client.write_all(&answer).await;
                    return;
                }
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                if server.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    address
}

/// A mock cluster (librdkafka's) with `brokers` brokers, its state topic of three
/// partitions holding 300 committed records; the broker and its configuration.
async fn mock_with_records(brokers: i32, name: &str) -> (Broker, KafkaConfig) {
    let broker = Broker::mock_of(brokers);
    let config = broker.config(name);
    broker.prepare_topics(&config).await;
    let mock = broker.mock_cluster().expect("a mock cluster");
    for p in 0..3 {
        // Partition p led by broker p + 1 (all by broker 1 on a cluster of one).
        mock.partition_leader(&config.state_topic, p, Some(p % brokers + 1))
            .expect("the leader is set");
    }
    let metrics = Arc::new(Metrics::new());
    let publisher = TransactionalPublisher::new(&config, metrics).expect("producer");
    publisher.init().await.expect("init_transactions");
    let t = config.state_topic.clone();
    publisher
        .commit_batch(
            (0..300)
                .map(|i| OutRecord::new(&t, format!("o/{i}"), format!("v:{i}")))
                .collect(),
        )
        .await
        .expect("commit");
    (broker, config)
}

/// Each partition led by another broker: one worker reads from three leaders, three
/// workers from one each, and both give what librdkafka's consumer gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_led_by_different_brokers_are_read_from_each_leader() {
    let (_broker, mut config) = mock_with_records(3, "leaders").await;
    let (lib, _) = restore(&config, RestoreReader::Librdkafka).await;
    assert_eq!(lib.entries.len(), 300);
    for parallelism in [1, 3] {
        config.restore_parallelism = parallelism;
        let (own, metrics) = restore(&config, RestoreReader::Auto).await;
        assert_eq!(own.stats.reader, "own", "{parallelism} worker(s)");
        assert_eq!(metrics.state_restore_fallbacks_total.get(), 0);
        assert!(as_map(&own) == as_map(&lib), "{parallelism} worker(s)");
        assert_eq!(own.stats.partitions, 3);
    }
}

/// A broker that does not serve Fetch v11 (an older or a future Kafka): the own
/// reader says so and librdkafka's consumer, which speaks its versions, restores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_without_the_fetch_version_is_left_to_librdkafka() {
    let (broker, config) = mock_with_records(1, "versions").await;
    let mock = broker.mock_cluster().expect("a mock cluster");
    mock.apiversion(RDKafkaApiKey::Fetch, Some(0), Some(10))
        .expect("the versions are set");
    let (restored, metrics) = restore(&config, RestoreReader::Auto).await;
    assert_eq!(restored.stats.reader, "librdkafka");
    assert_eq!(metrics.state_restore_fallbacks_total.get(), 1);
    assert_eq!(restored.entries.len(), 300);
}

/// A fetch answered with an error (a leader that moved) or a connection the broker
/// drops mid-restore: the own reader stops, counts the fallback, and librdkafka's
/// consumer reads everything again from the start, nothing lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_error_or_a_cut_connection_falls_back_to_librdkafka() {
    for error in [
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
    ] {
        let (broker, config) = mock_with_records(1, "fetch-error").await;
        let mock = broker.mock_cluster().expect("a mock cluster");
        mock.request_errors(RDKafkaApiKey::Fetch, &[error]);
        let (restored, metrics) = restore(&config, RestoreReader::Auto).await;
        assert_eq!(restored.stats.reader, "librdkafka", "{error:?}");
        assert_eq!(metrics.state_restore_fallbacks_total.get(), 1, "{error:?}");
        assert_eq!(restored.entries.len(), 300, "{error:?}");
        assert_eq!(restored.stats.records, 300, "{error:?}");
    }
}
