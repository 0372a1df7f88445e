//! A broker that goes away mid-cycle: the batch fails with an error that says
//! "redo the cycle", a redo after the broker is back commits, and a read-committed
//! consumer sees every record exactly once.
//!
//! It stops and restarts the broker with `scripts/kafka.sh`, so it runs only when
//! asked (`STREAK_KAFKA_OUTAGE_TEST=1`) against the broker that script manages
//! (`scripts/test.sh` does both). Its tests are alone in their test binary, so no
//! other test sees the outage, and they take [`OUTAGE`] so that they never overlap.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streak_connector::kafka::{
    KafkaConfig, KafkaStateSource, OutRecord, StateSource, TransactionalPublisher,
    TransactionalSink,
};
use streak_connector::metrics::Metrics;
use streak_connector::recovery::{Classified as _, Recovery};
use testkit::broker::Broker;
use testkit::topic::read_topic;

mod startup;

/// Held by each test of this binary for its whole run: they stop the one broker.
static OUTAGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn kafka_sh(arg: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh");
    let status = std::process::Command::new(&script)
        .arg(arg)
        .status()
        .expect("scripts/kafka.sh runs");
    assert!(status.success(), "scripts/kafka.sh {arg} failed");
}

fn batch(config: &KafkaConfig, from: usize, to: usize) -> Vec<OutRecord> {
    let mut records: Vec<OutRecord> = (from..to)
        .map(|i| {
            OutRecord::new(
                &config.events_topic,
                format!("o/u{}", i % 7),
                format!("e{i}"),
            )
        })
        .collect();
    records.push(OutRecord::new(
        &config.state_topic,
        "o/checkpoint",
        format!("{to}"),
    ));
    records
}

/// Every committed value of the events topic, read committed to the end.
async fn committed_events(config: &KafkaConfig) -> Vec<String> {
    let contents = read_topic(
        &config.bootstrap_servers,
        &config.events_topic,
        Duration::from_secs(60),
    )
    .await;
    assert!(contents.exists, "the events topic exists");
    contents
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_interrupted_by_a_broker_outage_commits_exactly_once_after_it() {
    if std::env::var("STREAK_KAFKA_OUTAGE_TEST").ok().as_deref() != Some("1") {
        eprintln!("skipped: set STREAK_KAFKA_OUTAGE_TEST=1 with a broker from scripts/kafka.sh (scripts/test.sh does)");
        return;
    }
    let _outage = OUTAGE.lock().await;
    let broker = Broker::start().await;
    if broker
        .skip_unless_real("a_cycle_interrupted_by_a_broker_outage_commits_exactly_once_after_it")
    {
        return;
    }
    let mut config = broker.config("outage");
    config.transaction_timeout = Duration::from_secs(8);
    broker.prepare_topics(&config).await;
    let metrics = Arc::new(Metrics::new());
    let publisher = TransactionalPublisher::new(&config, Arc::clone(&metrics)).expect("producer");
    publisher.init().await.expect("init");
    publisher
        .commit_batch(batch(&config, 0, 50))
        .await
        .expect("the first cycle commits");

    tokio::task::spawn_blocking(|| kafka_sh("stop"))
        .await
        .unwrap();
    let err = publisher
        .commit_batch(batch(&config, 50, 100))
        .await
        .expect_err("no broker, no commit");
    eprintln!("during the outage: {err}");
    assert_eq!(err.recovery(), Recovery::RedoCycle, "{err:?}");
    assert!(
        metrics
            .transactions_total
            .with_label_values(&["aborted"])
            .get()
            >= 1,
        "the failure is counted"
    );

    tokio::task::spawn_blocking(|| kafka_sh("start"))
        .await
        .unwrap();
    // The cycle is redone, with backoff, until it commits.
    let started = Instant::now();
    let mut backoff = Duration::from_millis(200);
    let mut attempts = 1;
    loop {
        match publisher.commit_batch(batch(&config, 50, 100)).await {
            Ok(_) => break,
            Err(e) => {
                assert_eq!(e.recovery(), Recovery::RedoCycle, "{e:?}");
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "still failing: {e}"
                );
                eprintln!("redo {attempts} failed: {e}");
                attempts += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    eprintln!(
        "committed after the outage in {attempts} attempt(s), {:?}",
        started.elapsed()
    );

    let events = committed_events(&config).await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in &events {
        *seen.entry(e.as_str()).or_default() += 1;
    }
    for i in 0..100 {
        assert_eq!(
            seen.get(format!("e{i}").as_str()),
            Some(&1),
            "e{i} exactly once"
        );
    }
    assert_eq!(events.len(), 100);
    testkit::broker::settle(&config.bootstrap_servers, &config.state_topic).await;
    let restored = KafkaStateSource::new(config.clone(), Arc::new(Metrics::new()))
        .restore(|_k: &[u8], v: Option<&[u8]>| {
            Ok::<_, std::io::Error>(String::from_utf8_lossy(v.unwrap_or_default()).into_owned())
        })
        .await
        .expect("restore");
    let checkpoint = restored.entries.iter().find(|(k, _)| k == b"o/checkpoint");
    assert_eq!(checkpoint.map(|(_, v)| v.as_str()), Some("100"));
}
