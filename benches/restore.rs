//! Benchmark: restore of 1 million state records (200-byte values) from a real
//! broker, plus the publishing side (one 200k-record transaction, the size of a
//! 100k-member organization's first poll). Prints the figures recorded in
//! docs/benchmarks.md.
//!
//! Runs only when asked, against a real broker, in release mode:
//!
//! ```sh
//! eval $(scripts/kafka.sh env)
//! cargo bench --bench restore
//! ```
//!
//! (`cargo test --all-targets` builds it and runs it in test mode, where it only says
//! it is skipped; `STREAK_KAFKA_BENCH=1` runs it from any mode.)
//!
//! `STREAK_KAFKA_BENCH_RECORDS` changes the record count (default 1000000);
//! `STREAK_KAFKA_BENCH_TOPIC=<state topic>` restores an existing topic (of that
//! many records) without publishing, and keeps it;
//! `STREAK_KAFKA_BENCH_PARALLELISM=1,6` picks the restore consumer counts.

use std::sync::Arc;
use std::time::Instant;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use streak_connector::kafka::{
    KafkaStateSource, OutRecord, StateSource, TransactionalPublisher, TransactionalSink,
};
use streak_connector::metrics::Metrics;
use testkit::broker::Broker;

const VALUE_BYTES: usize = 200;
const BATCH: usize = 200_000;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let asked = std::env::args().any(|a| a == "--bench")
        || std::env::var("STREAK_KAFKA_BENCH").ok().as_deref() == Some("1");
    if !asked {
        eprintln!("restore bench: skipped: run `cargo bench --bench restore` (with KAFKA_BOOTSTRAP_SERVERS) to measure");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(restore_one_million_state_records());
}

async fn restore_one_million_state_records() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("restore_one_million_state_records") {
        return;
    }
    let total: usize = std::env::var("STREAK_KAFKA_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut config = broker.config("bench");
    config.partitions = 6;
    config.transaction_timeout = std::time::Duration::from_secs(120);

    let reuse = std::env::var("STREAK_KAFKA_BENCH_TOPIC").ok();
    match &reuse {
        Some(topic) => config.state_topic = topic.clone(),
        None => {
            broker.prepare_topics(&config).await;
            publish(&config, total).await;
        }
    }

    let parallelism: Vec<usize> = std::env::var("STREAK_KAFKA_BENCH_PARALLELISM")
        .ok()
        .map(|s| s.split(',').filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3, 6]);
    for parallelism in parallelism {
        let mut c = config.clone();
        c.restore_parallelism = parallelism;
        let metrics = Arc::new(Metrics::new());
        let source = KafkaStateSource::new(c, Arc::clone(&metrics));
        let started = Instant::now();
        let restored = source
            .restore(|_k: &[u8], v: Option<&[u8]>| Ok::<_, std::io::Error>(v.map(<[u8]>::to_vec)))
            .await
            .expect("restore");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(restored.entries.len(), total);
        assert_eq!(restored.stats.records, total as u64);
        assert_eq!(metrics.state_restore_records.get(), total as i64);
        eprintln!(
            "restore: {total} records, {} partitions, {parallelism} consumer(s): {secs:.2} s, {:.0} records/s, {:.1} MB/s",
            restored.stats.partitions,
            total as f64 / secs,
            restored.stats.bytes as f64 / secs / 1e6,
        );
    }

    if reuse.is_some() {
        return;
    }
    eprintln!("state topic: {}", config.state_topic);
    if std::env::var("STREAK_KAFKA_BENCH_KEEP").is_ok() {
        return;
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("admin");
    let _ = admin
        .delete_topics(
            &[&config.state_topic, &config.events_topic],
            &AdminOptions::new(),
        )
        .await;
}

/// Publish `total` records in transactions of [`BATCH`] records and print the rate.
async fn publish(config: &streak_connector::kafka::KafkaConfig, total: usize) {
    // Publish: transactions of 200k records (a 100k-member first poll: 100k events
    // and 100k state records).
    let metrics = Arc::new(Metrics::new());
    let publisher = TransactionalPublisher::new(config, Arc::clone(&metrics)).expect("producer");
    publisher.init().await.expect("init");
    let value = vec![b'v'; VALUE_BYTES];
    let started = Instant::now();
    let mut written = 0;
    let mut batch_times = Vec::new();
    while written < total {
        let n = BATCH.min(total - written);
        let batch: Vec<OutRecord> = (written..written + n)
            .map(|i| OutRecord {
                topic: config.state_topic.clone(),
                key: format!("org-{}/user-{i:08}", i % 10).into_bytes(),
                value: Some(value.clone()),
            })
            .collect();
        let stats = publisher.commit_batch(batch).await.expect("commit");
        batch_times.push(stats.duration);
        written += n;
    }
    let publish = started.elapsed();
    eprintln!(
        "publish: {total} records of {VALUE_BYTES} B in {} transactions: {:.2} s, {:.0} records/s (one {BATCH}-record transaction: best {:.2} s)",
        batch_times.len(),
        publish.as_secs_f64(),
        total as f64 / publish.as_secs_f64(),
        batch_times.iter().min().map_or(0.0, |d| d.as_secs_f64()),
    );
}
