//! The producer pool against a broker: commits in parallel on several
//! transactional ids, and a new instance fences every id of the list, whatever the
//! size of the pool that held them (issue 15, point 5).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use streak_connector::kafka::{
    transactional_ids, KafkaConfig, KafkaStateSource, OutRecord, ProducerPool, StateSource,
    TransactionalSink, MAX_PRODUCERS,
};
use streak_connector::metrics::Metrics;
use testkit::broker::Broker;

fn decode(_key: &[u8], value: Option<&[u8]>) -> Result<Vec<u8>, std::io::Error> {
    Ok(value.unwrap_or_default().to_vec())
}

async fn restored_keys(config: &KafkaConfig) -> BTreeSet<String> {
    testkit::broker::settle(&config.bootstrap_servers, &config.state_topic).await;
    let source = KafkaStateSource::new(config.clone(), Arc::new(Metrics::new()));
    let r = source.restore(decode).await.expect("restore");
    r.entries
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

async fn pool(config: &KafkaConfig, producers: usize) -> (Arc<ProducerPool>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let config = KafkaConfig {
        producers,
        ..config.clone()
    };
    let pool = ProducerPool::new(&config, Arc::clone(&metrics)).expect("producers");
    pool.init().await.expect("init_transactions on every id");
    (Arc::new(pool), metrics)
}

/// Eight batches at once on a pool of four: every one commits, each on some
/// producer of the pool, and everything is read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_commit_in_parallel_on_the_pools_producers() {
    let broker = Broker::start().await;
    let config = broker.config("pool");
    broker.prepare_topics(&config).await;
    let (pool, metrics) = pool(&config, 4).await;
    assert_eq!(pool.size(), 4);
    let t = config.state_topic.clone();
    let commits = (0..8).map(|org| {
        let (pool, t) = (Arc::clone(&pool), t.clone());
        tokio::spawn(async move {
            let records = (0..20)
                .map(|u| OutRecord::new(&t, format!("org{org}/u{u}"), "v"))
                .collect();
            pool.commit_batch(records).await
        })
    });
    for commit in futures::future::join_all(commits).await {
        commit.expect("no panic").expect("committed");
    }
    let expected: BTreeSet<String> = (0..8)
        .flat_map(|org| (0..20).map(move |u| format!("org{org}/u{u}")))
        .collect();
    assert_eq!(restored_keys(&config).await, expected);
    let committed = metrics
        .transactions_total
        .with_label_values(&["committed"])
        .get();
    assert_eq!(committed, 8);
}

/// A zombie left a transaction open on every one of the [`MAX_PRODUCERS`] ids
/// (records on every partition). A new instance with a pool of **one** fences
/// them all at `init`: each zombie's commit fails as fenced, and its open
/// transaction was aborted, not left hanging: the new instance's records on every
/// partition are visible (the last stable offset moved past the zombies' records)
/// and no zombie record ever is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_of_one_fences_every_id_a_larger_pool_held() {
    const TEST: &str = "a_pool_of_one_fences_every_id_a_larger_pool_held";
    let broker = Broker::start().await;
    if broker.skip_unless_real(TEST) {
        return;
    }
    let config = broker.config("pool-fence");
    broker.prepare_topics(&config).await;
    let t = config.state_topic.clone();
    let ids = transactional_ids(&config.transactional_id);
    assert_eq!(ids.len(), MAX_PRODUCERS);
    let mut zombies = Vec::new();
    for id in &ids {
        zombies.push(open_transaction(&broker, id, &t, config.partitions).await);
    }

    let (fresh, _) = pool(&config, 1).await;
    assert_eq!(fresh.transactional_ids(), vec![ids[0].as_str()]);
    let records: Vec<OutRecord> = (0..60)
        .map(|u| OutRecord::new(&t, format!("o/new{u}"), "v"))
        .collect();
    let expected: BTreeSet<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.key).into_owned())
        .collect();
    fresh
        .commit_batch(records)
        .await
        .expect("the new instance commits");

    for (id, zombie) in ids.iter().zip(&zombies) {
        let z = zombie.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            z.commit_transaction(Timeout::After(Duration::from_secs(10)))
        })
        .await
        .expect("no panic");
        let err = outcome.expect_err("a fenced zombie cannot commit");
        let fatal = zombie.client().fatal_error();
        assert!(
            fatal.is_some() || err.to_string().to_lowercase().contains("fenc"),
            "zombie {id}: {err} (fatal error: {fatal:?})"
        );
    }
    // Every partition got records of the new instance, all visible: no zombie
    // transaction holds a partition's stable end back, and none committed.
    assert_eq!(restored_keys(&config).await, expected);
    drop(zombies);
}

/// A producer of `id` with a transaction open: one record on each partition of
/// `topic`, delivered, never committed.
async fn open_transaction(
    broker: &Broker,
    id: &str,
    topic: &str,
    partitions: i32,
) -> FutureProducer {
    let zombie: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .expect("producer");
    let z = zombie.clone();
    tokio::task::spawn_blocking(move || {
        z.init_transactions(Timeout::After(Duration::from_secs(30)))?;
        z.begin_transaction()
    })
    .await
    .expect("no panic")
    .expect("begin");
    for p in 0..partitions {
        let key = format!("o/zombie-{id}-{p}");
        zombie
            .send(
                FutureRecord::<str, str>::to(topic)
                    .partition(p)
                    .key(&key)
                    .payload("v"),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
    zombie
}
