//! The commands: each builds the parts it needs from the validated configuration
//! and runs them. `main` parses the command line and calls one of these.
//!
//! Errors leave here as `anyhow::Error` (this is the edge); the exit status is the
//! command's verdict.

mod audit;
mod check;
mod check_keys;
mod demo;
pub(crate) mod format;
mod guard;
mod once;
mod reconcile;
pub(crate) mod rotation;
pub(crate) mod run;
pub(crate) mod start_retry;
mod status;
mod tail;
mod telemetry;
mod verdict;

pub use audit::{audit, AuditArgs};
pub use check::check;
pub use demo::demo;
pub use format::OutputFormat;
pub use guard::guard;
pub use once::once;
pub use reconcile::{reconcile, FindingsFound, ReconcileArgs, FINDINGS_EXIT};
pub use run::run;
pub use status::{status, StatusArgs};
pub use tail::tail;

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::avro::Decoder;
use crate::config::Config;
use crate::connector::startup;
use crate::membership::ChangeEvent;
use crate::metrics::Metrics;
use crate::telemetry::InternalEvent as _;
use telemetry::{SigtermUnwatched, StopRequested, StoppedAtOnce};

/// Cancels `token` on SIGTERM or Ctrl-C (SIGINT); a second signal (either) ends
/// the process at once (exit 130), whatever is in flight.
pub fn cancel_on_signal(token: CancellationToken, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(error) => {
                        SigtermUnwatched { error: &error }.emit(&metrics);
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            let signal = tokio::select! {
                _ = ctrl_c => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
            StopRequested { signal }.emit(&metrics);
            token.cancel();
            let signal = tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
            StoppedAtOnce { signal }.emit(&metrics);
            std::process::exit(130);
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
            token.cancel();
        }
    });
}

/// An event as one JSON line, exactly as a consumer decodes it from the topic:
/// encoded with the connector's encoder, decoded with its decoder.
pub async fn event_json(
    encoder: &crate::avro::Encoder,
    decoder: &Decoder,
    event: &ChangeEvent,
) -> anyhow::Result<serde_json::Value> {
    let record = encoder.encode_event(event)?;
    let value = match &record.value {
        Some(v) => decoder.decode_json(v).await?,
        None => serde_json::Value::Null,
    };
    Ok(value)
}

/// The Kafka settings of a command that reads topics without a transaction.
pub fn read_only_kafka(config: &Config) -> crate::kafka::KafkaConfig {
    crate::kafka::KafkaConfig {
        topic_policy: crate::kafka::TopicPolicy::Trust,
        ..config.kafka.clone()
    }
}

/// The decoder for tail and friends, with the registry when one is configured.
pub async fn decoder_for(config: &Config) -> anyhow::Result<Decoder> {
    let schemas = Arc::new(crate::avro::Schemas::load()?);
    match &config.schema_registry {
        None => Ok(Decoder::new(schemas)),
        // Reading needs only the schemas by id, fetched as records name them: no
        // registration, so a consumer's read-only registry credentials do.
        // These commands serve no metrics: the decoder's telemetry only logs.
        Some(r) => Ok(Decoder::with_registry(
            schemas,
            startup::registry_client(r).context("schema registry")?,
            Arc::new(crate::metrics::Metrics::new()),
        )),
    }
}

/// `schemas`: print the embedded schemas, or write them into `dir`.
pub fn schemas(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    match dir {
        Some(dir) => {
            for path in crate::avro::write_schemas(dir)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        None => Ok(crate::avro::print_schemas(&mut std::io::stdout().lock())?),
    }
}
