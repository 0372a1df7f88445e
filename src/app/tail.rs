//! `tail`: consume a topic, read committed, and print each record decoded as one
//! JSON line: `{"topic", "partition", "offset", "timestamp", "key", "value"}`; with
//! `--format ocsf|ecs`, each event of the events topic as one OCSF or ECS record
//! ([`super::format`]).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::message::Message as _;
use tokio_util::sync::CancellationToken;

use super::format::{base_options, siem_line};
use crate::avro::Decoder;
use crate::cli::{TailArgs, TailFrom};
use crate::config::Config;
use crate::kafka::inspect::{tail_consumer, TailStart};

/// The topic a `--topic` value names.
pub(super) fn resolve_topic(config: &Config, topic: &str) -> String {
    match topic {
        "events" => config.kafka.events_topic.clone(),
        "state" => config.kafka.state_topic.clone(),
        other => other.to_string(),
    }
}

/// Prints records until `--max-records`, `--idle-timeout`, or a signal.
pub async fn tail(config: Config, args: TailArgs) -> anyhow::Result<()> {
    let topic = resolve_topic(&config, &args.topic);
    let siem = args.format.siem();
    // Events name their organization by key only: `group.name` is the key here.
    let options = base_options(config.ocsf_severity, Default::default());
    if let Some(f) = siem {
        anyhow::ensure!(
            topic != config.kafka.state_topic,
            "--format {} prints change events: read the events topic (--topic events), not the state topic",
            f.name().to_ascii_lowercase()
        );
    }
    let decoder = super::decoder_for(&config).await?;
    let kafka = super::read_only_kafka(&config);
    let start = match args.from {
        TailFrom::Beginning => TailStart::Beginning,
        TailFrom::End => TailStart::End,
    };
    let consumer = tail_consumer(&kafka, &topic, start)
        .with_context(|| format!("cannot consume topic {topic}"))?;
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone(), Arc::new(crate::metrics::Metrics::new()));
    let mut printed = 0u64;
    let idle = args.idle_timeout.unwrap_or(Duration::MAX);
    loop {
        if args.max_records.is_some_and(|m| printed >= m) {
            return Ok(());
        }
        let msg = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = tokio::time::timeout(idle, consumer.recv()) => match r {
                Err(_) => return Ok(()),
                Ok(r) => r.with_context(|| format!("consuming {topic}"))?,
            },
        };
        let line = match (siem, msg.payload()) {
            (None, payload) => record_json(
                &decoder,
                msg.topic(),
                msg.partition(),
                msg.offset(),
                msg.timestamp().to_millis(),
                msg.key(),
                payload,
            )
            .await
            .to_string(),
            (Some(f), Some(value)) => {
                match siem_line(&decoder, f, &options, msg.key(), value).await {
                    Ok(line) => line,
                    Err(e) => {
                        // Stdout stays a stream of valid records: say it on stderr.
                        eprintln!(
                            "tail: {topic}/{}@{} is not a change event, not printed as {}: {e}",
                            msg.partition(),
                            msg.offset(),
                            f.name()
                        );
                        continue;
                    }
                }
            }
            (Some(_), None) => continue,
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        printed += 1;
    }
}

/// One record as JSON. A part that does not decode is shown with its error and its
/// bytes in hex, rather than stopping the tail.
pub(super) async fn record_json(
    decoder: &Decoder,
    topic: &str,
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> serde_json::Value {
    async fn part(decoder: &Decoder, bytes: Option<&[u8]>) -> serde_json::Value {
        match bytes {
            None => serde_json::Value::Null,
            Some(b) => match decoder.decode_json(b).await {
                Ok(v) => v,
                Err(e) => serde_json::json!({
                    "undecodable": e.to_string(),
                    "hex": hex::encode(&b[..b.len().min(256)]),
                }),
            },
        }
    }
    serde_json::json!({
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp_ms,
        "key": part(decoder, key).await,
        "value": part(decoder, value).await,
    })
}
