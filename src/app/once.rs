//! `once`: one poll of every organization, then exit: 0 when every poll committed,
//! non-zero naming each organization that failed or was held, and why.
//! `once --dry-run` prints the events it would publish and writes nothing.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connector::startup::StartOptions;
use crate::connector::{system_clock, Mode, Shared};
use crate::metrics::Metrics;
use crate::scheduler::{self, PollStatus};

/// Runs one poll of every organization. The error lists what failed.
pub async fn once(config: Config, dry_run: bool) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::for_connector(&config.connector_name));
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone(), metrics.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mode = if dry_run {
        Mode::DryRun(tx)
    } else {
        drop(tx);
        Mode::Publish
    };
    let options = StartOptions {
        mode,
        topic_policy: config.kafka.topic_policy,
        clock: system_clock(),
        metrics,
        shared: Shared::new(config.ready_max_consecutive_failures),
    };
    let started = super::run::start(&config, options).await?;
    let encoder = started.context.encoder.clone();
    let decoder = started.decoder.clone();
    // Keys that joined no organization's pool fail `once` too, each named.
    let mut failed: Vec<String> = started
        .rejected
        .iter()
        .map(|k| format!("{}: {k}", k.label()))
        .collect();
    failed.extend(
        started
            .pending
            .iter()
            .map(|(fp, e)| format!("key:{fp}: its organization could not be learned: {e}")),
    );
    let unplaced = failed.len();
    let results = scheduler::run_once(started.pollers, config.max_concurrent_polls, shutdown).await;

    if dry_run {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        while let Ok(event) = rx.try_recv() {
            let json = super::event_json(&encoder, &decoder, &event).await?;
            writeln!(out, "{json}")?;
        }
    }

    for (poller, result) in &results {
        let org = poller
            .org_key()
            .unwrap_or(crate::scheduler::Pollable::name(poller));
        match result {
            Ok(PollStatus::Done) => {
                eprintln!("{org}: ok{}", if dry_run { " (dry run)" } else { "" })
            }
            Ok(PollStatus::Held) => failed.push(format!(
                "{org}: held by the departure guard (see the log; release it with the admin endpoint, see docs/operations.md)"
            )),
            Ok(PollStatus::Failed { .. }) => failed.push(format!(
                "{org}: failed: {}",
                poller.last_error().unwrap_or("see the log")
            )),
            Ok(PollStatus::Cancelled | PollStatus::Retired) => {
                failed.push(format!("{org}: cancelled by a signal"))
            }
            Err(fatal) => failed.push(format!("{org}: fatal: {fatal}")),
        }
    }
    let polled = results.len();
    // Every poll has ended: committed or aborted, nothing in flight.
    // The producer's destroy would hold the exit back (crate::release).
    crate::release::drop_in_background((results, started.context, started.ring));
    if failed.is_empty() {
        Ok(())
    } else {
        for f in &failed {
            eprintln!("{f}");
        }
        anyhow::bail!(
            "{} of {} organizations did not complete their poll{}",
            failed.len() - unplaced,
            polled,
            if unplaced == 0 {
                String::new()
            } else {
                format!(", {unplaced} API key(s) could not be used")
            }
        )
    }
}
