//! One transaction written chunk by chunk (`TransactionalSink::commit_chunks`):
//! every chunk of a poll commits together, more bytes than the writer keeps in
//! flight included, and a chunk that cannot be made aborts all of it.

use std::sync::Arc;

use streak_connector::kafka::{
    KafkaConfig, KafkaStateSource, OutRecord, PublishError, RecordChunks, SourceFailed,
    StateSource, TransactionalPublisher, TransactionalSink,
};
use streak_connector::metrics::Metrics;
use streak_connector::recovery::{Classified as _, Recovery};
use testkit::broker::Broker;

/// `chunks` chunks of `per_chunk` records of `value_bytes` each, keys `o/<i>`;
/// fails instead of making chunk `fail_at`.
struct Source {
    topic: String,
    next: usize,
    chunks: usize,
    per_chunk: usize,
    value_bytes: usize,
    fail_at: Option<usize>,
    asked: usize,
}

impl Source {
    fn new(topic: &str, chunks: usize, per_chunk: usize, value_bytes: usize) -> Self {
        Source {
            topic: topic.to_string(),
            next: 0,
            chunks,
            per_chunk,
            value_bytes,
            fail_at: None,
            asked: 0,
        }
    }
}

impl RecordChunks for Source {
    fn next_chunk(&mut self) -> Result<Option<Vec<OutRecord>>, SourceFailed> {
        self.asked += 1;
        if self.fail_at == Some(self.next) {
            return Err(SourceFailed("cannot encode record 3".into()));
        }
        if self.next == self.chunks {
            return Ok(None);
        }
        let first = self.next * self.per_chunk;
        self.next += 1;
        Ok(Some(
            (first..first + self.per_chunk)
                .map(|i| {
                    OutRecord::new(
                        &self.topic,
                        format!("o/{i:06}"),
                        vec![b'v'; self.value_bytes],
                    )
                })
                .collect(),
        ))
    }
}

async fn publisher(config: &KafkaConfig) -> (TransactionalPublisher, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let p = TransactionalPublisher::new(config, Arc::clone(&metrics)).expect("producer");
    p.init().await.expect("init_transactions");
    (p, metrics)
}

async fn restored_count(config: &KafkaConfig) -> usize {
    testkit::broker::settle(&config.bootstrap_servers, &config.state_topic).await;
    let source = KafkaStateSource::new(config.clone(), Arc::new(Metrics::new()));
    let decode = |_k: &[u8], v: Option<&[u8]>| -> Result<usize, std::io::Error> {
        Ok(v.map_or(0, <[u8]>::len))
    };
    source.restore(decode).await.expect("restore").entries.len()
}

fn committed(metrics: &Metrics) -> u64 {
    metrics
        .transactions_total
        .with_label_values(&["committed"])
        .get()
}

/// 24 MiB in 12 chunks (three times what the writer keeps awaiting delivery) is one
/// transaction: one commit, every record visible.
#[tokio::test]
async fn every_chunk_commits_in_one_transaction() {
    let broker = Broker::start().await;
    let config = broker.config("chunked");
    broker.prepare_topics(&config).await;
    let (p, metrics) = publisher(&config).await;
    let mut source = Source::new(&config.state_topic, 12, 2_000, 1_000);
    let stats = p.commit_chunks(&mut source).await.expect("committed");
    assert_eq!(stats.records, 24_000);
    assert!(stats.bytes >= 24_000_000, "{stats:?}");
    assert_eq!(source.asked, 13, "every chunk and the end were asked for");
    assert_eq!(committed(&metrics), 1);
    if broker.is_real() {
        assert_eq!(restored_count(&config).await, 24_000);
    }
}

/// The source fails after two chunks were queued: the transaction is aborted,
/// nothing of it is visible, the error says redo the cycle, and the next
/// transaction commits.
#[tokio::test]
async fn a_failed_chunk_aborts_the_whole_transaction() {
    let broker = Broker::start().await;
    let config = broker.config("chunkfail");
    broker.prepare_topics(&config).await;
    let (p, metrics) = publisher(&config).await;
    let mut source = Source::new(&config.state_topic, 4, 100, 10);
    source.fail_at = Some(2);
    let err = p.commit_chunks(&mut source).await.expect_err("aborted");
    assert!(matches!(err, PublishError::SourceFailed(_)), "{err:?}");
    assert_eq!(err.recovery(), Recovery::RedoCycle);
    assert_eq!(err.error_code(), "source_failed");
    assert_eq!(
        metrics
            .transactions_total
            .with_label_values(&["aborted"])
            .get(),
        1
    );
    assert_eq!(committed(&metrics), 0);

    let mut next = Source::new(&config.state_topic, 1, 3, 10);
    p.commit_chunks(&mut next)
        .await
        .expect("the next one commits");
    assert_eq!(committed(&metrics), 1);
    if broker.is_real() {
        assert_eq!(
            restored_count(&config).await,
            3,
            "only the second transaction"
        );
    }
}

/// A producer queue far smaller than a chunk (50 records, the passthrough property
/// overriding the connector's default): every full queue makes the writer wait for
/// delivery reports and queue the record again; nothing is lost or doubled, and the
/// transaction commits whole.
#[tokio::test]
async fn a_full_producer_queue_only_makes_the_writer_wait() {
    let broker = Broker::start().await;
    let mut config = broker.config("queuefull");
    config
        .properties
        .insert("queue.buffering.max.messages".into(), "50".into());
    broker.prepare_topics(&config).await;
    let (p, metrics) = publisher(&config).await;
    let mut source = Source::new(&config.state_topic, 4, 500, 100);
    let stats = p.commit_chunks(&mut source).await.expect("committed");
    assert_eq!(stats.records, 2_000);
    assert_eq!(committed(&metrics), 1);
    if broker.is_real() {
        assert_eq!(restored_count(&config).await, 2_000);
    }
}
