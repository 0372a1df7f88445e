//! Benchmark: the real restore of state records written by the connector, from a
//! real broker. The records are the connector's own: member states and checkpoints
//! of many organizations, encoded by [`Encoder::single_object`] and committed by the
//! [`TransactionalPublisher`] in transactions of [`BATCH`] records (which also gives
//! the publishing figure). The restore is then measured by stage, each the median of
//! [`RUNS`] runs:
//!
//! - read: [`KafkaStateSource::restore`] (consumers, survivors map: last record per
//!   key, a key in two partitions refused) with a decoder that only copies the bytes;
//! - decode: [`Decoder::decode_state_cached`] over those bytes, in memory;
//! - fold: [`membership::fold_state`] over the decoded records;
//! - together: [`StateReader::restore`], the start-up's own path end to end.
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
//! `STREAK_KAFKA_BENCH_RECORDS` changes the member-state count (default 1000000,
//! in organizations of 1000 members, plus one checkpoint each);
//! `STREAK_KAFKA_BENCH_PARALLELISM=1,6` picks the restore consumer counts;
//! `STREAK_KAFKA_BENCH_READERS=own,librdkafka` (the default) the readers
//! (`kafka.restore_reader`: the connector's own reader of the fetch protocol, or
//! librdkafka's consumer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use streak_connector::avro::{Decoder, Encoder, Schemas, TopicNames};
use streak_connector::connector::{Restore as _, StateReader};
use streak_connector::kafka::{
    KafkaConfig, KafkaStateSource, OutRecord, RestoreReader, StateSource, TransactionalPublisher,
    TransactionalSink,
};
use streak_connector::membership::{
    self, Checkpoint, Member, MemberState, SourceInfo, StateRecord,
};
use streak_connector::metrics::Metrics;
use testkit::broker::Broker;

const BATCH: usize = 200_000;
const MEMBERS_PER_ORG: usize = 1000;
const RUNS: usize = 3;

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
        .block_on(restore_connector_state_records());
}

async fn restore_connector_state_records() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("restore_connector_state_records") {
        return;
    }
    let members: usize = std::env::var("STREAK_KAFKA_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut config = broker.config("bench");
    config.partitions = 6;
    config.transaction_timeout = Duration::from_secs(120);
    broker.prepare_topics(&config).await;
    let schemas = Arc::new(Schemas::load().expect("schemas"));
    let total = publish(&config, &schemas, members).await;

    let parallelism: Vec<usize> = std::env::var("STREAK_KAFKA_BENCH_PARALLELISM")
        .ok()
        .map(|s| s.split(',').filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2]);
    let readers: Vec<String> = std::env::var("STREAK_KAFKA_BENCH_READERS")
        .unwrap_or_else(|_| "own,librdkafka".into())
        .split(',')
        .map(str::to_owned)
        .collect();
    for reader in &readers {
        for &parallelism in &parallelism {
            let mut c = config.clone();
            c.restore_parallelism = parallelism;
            c.restore_reader = match reader.as_str() {
                "librdkafka" => RestoreReader::Librdkafka,
                _ => RestoreReader::Auto,
            };
            measure(&c, &schemas, total, members).await;
        }
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

/// Read, decode, fold and the whole [`StateReader`] restore, [`RUNS`] times each;
/// prints the medians.
async fn measure(config: &KafkaConfig, schemas: &Arc<Schemas>, total: usize, members: usize) {
    let decoder = Decoder::new(Arc::clone(schemas));
    let (mut read, mut decode, mut fold, mut whole) = (vec![], vec![], vec![], vec![]);
    let mut reader = "";
    for _ in 0..RUNS {
        let metrics = Arc::new(Metrics::new());
        let source = KafkaStateSource::new(config.clone(), Arc::clone(&metrics));
        let started = Instant::now();
        let restored = source
            .restore(|_k: &[u8], v: Option<&[u8]>| Ok::<_, std::io::Error>(v.map(<[u8]>::to_vec)))
            .await
            .expect("restore");
        read.push(started.elapsed());
        reader = restored.stats.reader;
        assert_eq!(restored.entries.len(), total);
        assert_eq!(restored.stats.records, total as u64);

        let started = Instant::now();
        let records: Vec<StateRecord> = restored
            .entries
            .iter()
            .map(|(k, v)| {
                decoder
                    .decode_state_cached(k, v.as_deref())
                    .expect("decodes")
            })
            .collect();
        decode.push(started.elapsed());

        let started = Instant::now();
        let orgs = membership::fold_state(records);
        fold.push(started.elapsed());
        assert_eq!(orgs.values().map(|o| o.len()).sum::<usize>(), members);

        let metrics = Arc::new(Metrics::new());
        let source = KafkaStateSource::new(config.clone(), Arc::clone(&metrics));
        let topics = TopicNames {
            events: config.events_topic.clone(),
            state: config.state_topic.clone(),
        };
        let reader = StateReader::new(source, decoder.clone(), topics, metrics);
        let started = Instant::now();
        let orgs = reader.restore().await.expect("restores");
        whole.push(started.elapsed());
        assert_eq!(orgs.values().map(|o| o.len()).sum::<usize>(), members);
    }
    let p = config.restore_parallelism;
    for (stage, times) in [
        ("read", read),
        ("decode", decode),
        ("fold", fold),
        ("together", whole),
    ] {
        let secs = median(times).as_secs_f64();
        eprintln!(
            "restore {stage}: {total} records, {reader} reader, {p} consumer(s): median of {RUNS} {secs:.2} s, {:.0} records/s",
            total as f64 / secs
        );
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A member state as the connector writes it (every field the listing gives).
fn member_state(org: usize, user: usize) -> StateRecord {
    let key = format!("agxzfm1haWxmb29nYWVyMQsSDFVzZXIY{org:05}{user:06}");
    StateRecord::Member {
        org_key: format!("agxzfm1haWxmb29nYWVyMQsSDE9yZ2FuaXphdGlvbhj{org:05}"),
        user_key: key.clone(),
        state: Some(MemberState {
            member: Member {
                key,
                email: Some(format!("user{user}@org{org}.example.com")),
                display_name: Some(format!("User {user} of Org {org}")),
                first_name: Some(format!("User{user}")),
                last_name: Some(format!("Org{org}")),
                image: Some(format!("https://lh3.googleusercontent.com/a/{org}-{user}")),
                is_org_admin: Some(user == 0),
                last_seen_ms: Some(1_764_000_000_000 + user as i64),
                creation_ms: Some(1_600_000_000_000 + user as i64),
            },
            inactive: user % 10 == 0,
            first_seen_ms: 1_700_000_000_000,
            last_changed_ms: 1_760_000_000_000,
        }),
    }
}

/// Publish `members` member states (organizations of [`MEMBERS_PER_ORG`]) and one
/// checkpoint per organization, encoded by the connector; prints the rate and
/// returns the record count.
async fn publish(config: &KafkaConfig, schemas: &Arc<Schemas>, members: usize) -> usize {
    let source = SourceInfo {
        connector: "streak-connector".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        instance: "bench".into(),
    };
    let encoder = Encoder::single_object(Arc::clone(schemas), source);
    let orgs = members.div_ceil(MEMBERS_PER_ORG);
    let mut records = Vec::with_capacity(members + orgs);
    for org in 0..orgs {
        let n = MEMBERS_PER_ORG.min(members - org * MEMBERS_PER_ORG);
        records.extend((0..n).map(|user| member_state(org, user)));
        records.push(StateRecord::Checkpoint(Checkpoint {
            org_key: format!("agxzfm1haWxmb29nYWVyMQsSDE9yZ2FuaXphdGlvbhj{org:05}"),
            poll_seq: 7,
            last_poll_ms: 1_764_000_000_000,
            member_count: n as u64,
            incarnation: Some(uuid::Uuid::from_u128(
                0x5eed_0000_0000_4000_8000_0000_0000_0000 + org as u128,
            )),
        }));
    }
    let total = records.len();
    let metrics = Arc::new(Metrics::new());
    let publisher = TransactionalPublisher::new(config, Arc::clone(&metrics)).expect("producer");
    publisher.init().await.expect("init");
    let started = Instant::now();
    let (mut bytes, mut batch_times) = (0usize, Vec::new());
    for chunk in records.chunks(BATCH) {
        let batch: Vec<OutRecord> = chunk
            .iter()
            .map(|r| {
                let e = encoder.encode_state(r).expect("encodes");
                bytes += e.key.len() + e.value.as_ref().map_or(0, Vec::len);
                OutRecord {
                    topic: config.state_topic.clone(),
                    key: e.key,
                    value: e.value,
                }
            })
            .collect();
        let stats = publisher.commit_batch(batch).await.expect("commit");
        batch_times.push(stats.duration);
    }
    let publish = started.elapsed();
    eprintln!(
        "publish: {total} state records ({orgs} organizations, {:.0} B a record) in {} transactions: {:.2} s, {:.0} records/s (one {BATCH}-record transaction: best {:.2} s)",
        bytes as f64 / total as f64,
        batch_times.len(),
        publish.as_secs_f64(),
        total as f64 / publish.as_secs_f64(),
        batch_times.iter().min().map_or(0.0, |d| d.as_secs_f64()),
    );
    total
}
