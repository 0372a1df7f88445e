//! `demo`: the whole product in one process, needing nothing installed. The
//! built-in "lively" Streak simulator (people join, leave, become admins, go quiet),
//! librdkafka's in-process mock Kafka cluster, the real pipeline and transactional
//! publisher, and a read-committed consumer printing the decoded events as they
//! happen. Metrics are served on a local port that it prints.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::message::Message as _;
use tokio_util::sync::CancellationToken;

use crate::cli::DemoArgs;
use crate::config::{Config, FileConfig, KafkaFile, SettingsArgs};
use crate::connector::startup::{self, StartOptions};
use crate::connector::{system_clock, Mode};
use crate::kafka::inspect::{tail_consumer, TailStart};
use crate::kafka::TopicPolicy;
use crate::metrics::Metrics;
use crate::scheduler::{PollStatus, Pollable};
use crate::simulator::{Scenario, Simulator};

const PARTITIONS: i32 = 3;

/// Runs the demo until Ctrl-C or `--cycles` cycles.
pub async fn demo(args: DemoArgs, settings: &SettingsArgs) -> anyhow::Result<()> {
    let scenario = Scenario::lively();
    let keys: Vec<String> = scenario
        .organizations()
        .into_iter()
        .filter_map(|o| o.api_keys.into_iter().next())
        .collect();
    let sim = Simulator::start(scenario, "127.0.0.1:0".parse()?)
        .await
        .context("starting the Streak simulator")?;
    eprintln!("demo: Streak simulator on {}", sim.base_url());

    let mock = rdkafka::mocking::MockCluster::new(1).context("starting the mock Kafka cluster")?;
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
    for topic in [&events_topic, &state_topic] {
        mock.create_topic(topic, PARTITIONS, 1)
            .with_context(|| format!("creating {topic} on the mock cluster"))?;
    }
    eprintln!(
        "demo: in-process Kafka (librdkafka mock cluster) on {bootstrap}; topics {events_topic} and {state_topic} created on the mock directly (it has no admin API for topics)"
    );

    let demo_settings = SettingsArgs {
        config: None,
        streak_base_url: Some(sim.base_url()),
        api_key_file: None,
        kafka_bootstrap_servers: Some(bootstrap.clone()),
        events_topic: Some(events_topic.clone()),
        state_topic: Some(state_topic.clone()),
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
    let config = Config::from_layers(&demo_settings, &file, &env)?;

    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone());
    let http_stop = CancellationToken::new();
    let served = super::run::serve_http(&config, metrics.clone(), http_stop.clone()).await?;
    eprintln!(
        "demo: metrics on http://{}/metrics (also /healthz, /readyz)",
        served.addr
    );

    let started = startup::start(
        &config,
        metrics,
        served.health.clone(),
        served.releases.clone(),
        served.orgs.clone(),
        StartOptions {
            mode: Mode::Publish,
            topic_policy: TopicPolicy::Trust,
            clock: system_clock(),
        },
    )
    .await
    .context("start-up failed")?;

    // The printer: a read-committed consumer of the events topic, as a user's
    // would be.
    let decoder = started.decoder.clone();
    let kafka = super::read_only_kafka(&config);
    let consumer = tail_consumer(&kafka, &events_topic, TailStart::Beginning)?;
    let printer_stop = CancellationToken::new();
    let printer_done = printer_stop.clone();
    let printed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let printed_in = printed.clone();
    let printer = tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = printer_done.cancelled() => return,
                r = consumer.recv() => r,
            };
            let Ok(msg) = msg else { continue };
            let line = match msg.payload() {
                Some(v) => match decoder.decode_json(v).await {
                    Ok(json) => json.to_string(),
                    Err(e) => format!("{{\"undecodable\":{:?}}}", e.to_string()),
                },
                None => continue,
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
            printed_in.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });

    let mut pollers = started.pollers;
    let mut cycle = 0u64;
    let mut fatal = None;
    'cycles: loop {
        cycle += 1;
        for p in pollers.iter_mut() {
            match p.poll(&shutdown).await {
                Ok(PollStatus::Cancelled) => break 'cycles,
                Ok(_) => {}
                Err(f) => {
                    fatal = Some(f);
                    break 'cycles;
                }
            }
        }
        if args.cycles.is_some_and(|n| cycle >= n) {
            break;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(args.demo_interval) => {}
        }
    }

    // Let the printer catch up with what was committed.
    let mut last = printed.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = printed.load(std::sync::atomic::Ordering::SeqCst);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    printer_stop.cancel();
    let _ = printer.await;
    http_stop.cancel();
    eprintln!(
        "demo: {cycle} cycle(s), {} events printed",
        printed.load(std::sync::atomic::Ordering::SeqCst)
    );
    drop(sim);
    match fatal {
        Some(f) => Err(anyhow::anyhow!(f.0)),
        None => Ok(()),
    }
}
