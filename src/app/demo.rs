//! `demo`: the whole product in one process, needing nothing installed. The
//! built-in "lively" Streak simulator (people join, leave, become admins, go quiet),
//! librdkafka's in-process mock Kafka cluster, the real pipeline and transactional
//! publisher, and a read-committed consumer printing the decoded events as they
//! happen (or, with `--format ocsf|ecs`, their OCSF or ECS records). Metrics are served on a local port that it prints.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::Message as _;
use tokio_util::sync::CancellationToken;

use super::format::{base_options, siem_line, OutputFormat};
use crate::cli::DemoArgs;
use crate::config::{Config, FileConfig, KafkaFile, SettingsArgs};
use crate::connector::startup::StartOptions;
use crate::connector::{system_clock, Mode, Shared};
use crate::kafka::inspect::{tail_consumer, TailStart};
use crate::kafka::TopicPolicy;
use crate::metrics::{Metrics, PollResult};
use crate::scheduler::Schedule;
use crate::siem::SiemOptions;
use crate::simulator::{Scenario, Simulator};

const PARTITIONS: i32 = 3;

/// Runs the demo until Ctrl-C or `--cycles` cycles.
pub async fn demo(args: DemoArgs, settings: &SettingsArgs) -> anyhow::Result<()> {
    let scenario = Scenario::lively();
    let siem_options = base_options(Default::default(), org_names(&scenario));
    // Every key of the scenario: org-lively's two form a pool (one polls, one
    // stands by).
    let keys: Vec<String> = scenario
        .organizations()
        .into_iter()
        .flat_map(|o| o.api_keys)
        .collect();
    let sim = Simulator::start(scenario, "127.0.0.1:0".parse()?)
        .await
        .context("starting the Streak simulator")?;
    eprintln!("demo: Streak simulator on {}", sim.base_url());

    let mock = rdkafka::mocking::MockCluster::new(1).context("starting the mock Kafka cluster")?;
    let config = demo_config(settings, &args, &sim.base_url(), &mock, &keys)?;
    let events_topic = config.kafka.events_topic.clone();

    let metrics = Arc::new(Metrics::for_connector(&config.connector_name));
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone(), metrics.clone());
    let shared = Shared::new(config.ready_max_consecutive_failures);
    let orgs = shared.orgs.clone();
    let http_stop = CancellationToken::new();
    let addr =
        super::run::serve_http(&config, metrics.clone(), shared.clone(), http_stop.clone()).await?;
    eprintln!("demo: metrics on http://{addr}/metrics (also /healthz, /readyz)");

    let options = StartOptions {
        mode: Mode::Publish,
        topic_policy: TopicPolicy::Trust,
        clock: system_clock(),
        metrics: metrics.clone(),
        shared,
    };
    let started = super::run::start(&config, options).await?;

    // The printer: a read-committed consumer of the events topic, as a user's
    // would be.
    let decoder = started.decoder.clone();
    let kafka = super::read_only_kafka(&config);
    let consumer = tail_consumer(&kafka, &events_topic, TailStart::Beginning)?;
    let printer = Printer::spawn(consumer, decoder, args.format, siem_options);

    // The same scheduler as `run`: every organization on the demo's interval,
    // without jitter, for `--cycles` cycles or until Ctrl-C.
    let schedule = Schedule {
        interval: args.demo_interval,
        jitter: 0.0,
        max_concurrent: started.pollers.len().max(1),
        retry_base: Duration::from_secs(1),
        max_cycles: args.cycles,
    };
    let drain = config.kafka.transaction_timeout + Duration::from_secs(5);
    let result = super::run::poll(started, schedule, shutdown, drain, &metrics).await;

    let printed = printer.finish().await;
    http_stop.cancel();
    eprintln!(
        "demo: {} poll(s) committed, {} events printed",
        committed_polls(&metrics, &orgs),
        printed
    );
    drop(sim);
    Ok(result?)
}

/// The demo's configuration: the command line's settings on top of the simulator,
/// the mock cluster (its topics created on it directly) and the scenario's keys.
fn demo_config(
    settings: &SettingsArgs,
    args: &DemoArgs,
    base_url: &str,
    mock: &rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    keys: &[String],
) -> anyhow::Result<Config> {
    let bootstrap = mock.bootstrap_servers();
    let events_topic = settings
        .events_topic
        .clone()
        .unwrap_or_else(|| crate::config::defaults::EVENTS_TOPIC.into());
    let state_topic = settings
        .state_topic
        .clone()
        .unwrap_or_else(|| crate::config::defaults::STATE_TOPIC.into());
    // The mock cluster cannot create topics through the admin API (nor describe
    // their configuration): create them on the mock directly.
    // `--ocsf-topic` works in the demo too: the connector also writes it.
    let ocsf_topic = settings.ocsf_topic.clone().filter(|t| !t.trim().is_empty());
    for topic in [&events_topic, &state_topic].into_iter().chain(&ocsf_topic) {
        mock.create_topic(topic, PARTITIONS, 1)
            .with_context(|| format!("creating {topic} on the mock cluster"))?;
    }
    eprintln!(
        "demo: in-process Kafka (librdkafka mock cluster) on {bootstrap}; topics {events_topic} and {state_topic} created on the mock directly (it has no admin API for topics)"
    );

    let demo_settings = SettingsArgs {
        config: None,
        streak_base_url: Some(base_url.to_string()),
        api_key_file: None,
        kafka_bootstrap_servers: Some(bootstrap.clone()),
        events_topic: Some(events_topic.clone()),
        state_topic: Some(state_topic.clone()),
        ocsf_topic,
        connector_name: settings
            .connector_name
            .clone()
            .or_else(|| Some("streak-connector-demo".into())),
        poll_interval: Some(args.demo_interval),
        inactive_after: settings.inactive_after,
        schema_registry_url: None,
        metrics_listen: Some(
            settings
                .metrics_listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:0".into()),
        ),
        log_format: settings.log_format,
        ..SettingsArgs::default()
    };
    let file = FileConfig {
        kafka: KafkaFile {
            partitions: Some(PARTITIONS),
            replication_factor: Some(1),
            ..KafkaFile::default()
        },
        ..FileConfig::default()
    };
    let env: BTreeMap<String, String> =
        [("STREAK_CONNECTOR_API_KEYS".to_string(), keys.join(","))].into();
    Ok(Config::from_layers(&demo_settings, &file, &env)?)
}

/// What the printer prints of one event: `None` when a SIEM format cannot map it
/// (said on stderr, so that stdout stays a stream of records).
async fn print_line(
    decoder: &crate::avro::Decoder,
    format: OutputFormat,
    options: &SiemOptions,
    key: Option<&[u8]>,
    value: &[u8],
) -> Option<String> {
    match format.siem() {
        None => Some(match decoder.decode_json(value).await {
            Ok(json) => json.to_string(),
            Err(e) => format!("{{\"undecodable\":{:?}}}", e.to_string()),
        }),
        Some(f) => match siem_line(decoder, f, options, key, value).await {
            Ok(line) => Some(line),
            Err(e) => {
                eprintln!("demo: an event not printed as {}: {e}", f.name());
                None
            }
        },
    }
}

/// The names of the scenario's organizations, for the SIEM formats' `group.name`.
fn org_names(scenario: &Scenario) -> BTreeMap<String, String> {
    scenario
        .organizations()
        .into_iter()
        .map(|o| (o.key, o.name))
        .collect()
}

/// Polls committed, all organizations together.
fn committed_polls(metrics: &Metrics, orgs: &std::sync::Mutex<Vec<String>>) -> u64 {
    let orgs = orgs.lock().map(|o| o.clone()).unwrap_or_default();
    orgs.iter()
        .map(|org| {
            metrics
                .polls_total
                .with_label_values(&[org, PollResult::Success.as_str()])
                .get()
        })
        .sum()
}

/// A read-committed consumer of the events topic, as a user's would be, printing
/// each event as one JSON line: the decoded Avro, or (`--format ocsf|ecs`) its OCSF
/// or ECS record.
struct Printer {
    stop: CancellationToken,
    printed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Printer {
    fn spawn(
        consumer: StreamConsumer,
        decoder: crate::avro::Decoder,
        format: OutputFormat,
        options: SiemOptions,
    ) -> Printer {
        let stop = CancellationToken::new();
        let printed = Arc::new(AtomicU64::new(0));
        let (done, count) = (stop.clone(), printed.clone());
        let task = tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = done.cancelled() => return,
                    r = consumer.recv() => r,
                };
                let Ok(msg) = msg else { continue };
                let Some(v) = msg.payload() else { continue };
                let Some(line) = print_line(&decoder, format, &options, msg.key(), v).await else {
                    continue;
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        Printer {
            stop,
            printed,
            task,
        }
    }

    /// Lets the printer catch up with what was committed, stops it, and says how
    /// many events it printed.
    async fn finish(self) -> u64 {
        let mut last = self.printed.load(Ordering::SeqCst);
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.printed.load(Ordering::SeqCst);
            if now == last && now > 0 {
                break;
            }
            last = now;
        }
        self.stop.cancel();
        let _ = self.task.await;
        self.printed.load(Ordering::SeqCst)
    }
}
