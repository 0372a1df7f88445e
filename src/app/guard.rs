//! `guard status | release | reject`: the operator's side of the guard's holds,
//! talking to the admin API of a running connector (`--admin-listen`, default
//! 127.0.0.1:9465, the token in STREAK_CONNECTOR_ADMIN_TOKEN).

use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::cli::GuardCommand;
use crate::config::{defaults, Env, SettingsArgs};
use crate::connector::Hold;

/// Runs one `guard` command; prints the answer.
pub async fn guard(
    command: GuardCommand,
    settings: &SettingsArgs,
    env: &Env,
) -> anyhow::Result<()> {
    let addr = settings
        .admin_listen
        .clone()
        .unwrap_or_else(|| defaults::ADMIN_LISTEN.to_string());
    let Some(token) = env
        .get("STREAK_CONNECTOR_ADMIN_TOKEN")
        .filter(|t| !t.is_empty())
    else {
        bail!("set STREAK_CONNECTOR_ADMIN_TOKEN to the connector's admin token");
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("HTTP client")?;
    let base = format!("http://{addr}/admin/guard");
    let request = match &command {
        GuardCommand::Status => client.get(&base),
        GuardCommand::Release { org, expect } => client
            .post(format!("{base}/release"))
            .query(&[("org", org.as_str()), ("expect", &expect.to_string())]),
        GuardCommand::Reject { org } => client
            .post(format!("{base}/reject"))
            .query(&[("org", org.as_str())]),
    };
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach the admin API at {addr} (--admin-listen)"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the admin API answered {status}: {}", body.trim_end());
    }
    match command {
        GuardCommand::Status => print_holds(&body)?,
        _ => print!("{body}"),
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct HoldView {
    org: String,
    kind: String,
    poll_seq: u64,
    count: usize,
    known: usize,
    reason: String,
    members: Vec<String>,
    digest: String,
    decision: Option<String>,
}

fn print_holds(body: &str) -> anyhow::Result<()> {
    let holds: Vec<HoldView> = serde_json::from_str(body).context("the admin API's answer")?;
    if holds.is_empty() {
        println!("no organization is held");
    }
    for h in holds {
        println!(
            "{org}: held ({kind}, {reason}) poll {poll}: {count} of {known} members, decision: {decision}, digest {digest}",
            org = h.org,
            kind = h.kind,
            reason = h.reason,
            poll = h.poll_seq,
            count = h.count,
            known = h.known,
            decision = h.decision.as_deref().unwrap_or("none"),
            digest = &h.digest[..h.digest.len().min(12)],
        );
        for m in &h.members {
            println!("  {m}");
        }
        println!(
            "  release: streak-connector guard release --org {} --expect {}",
            h.org, h.count
        );
    }
    Ok(())
}

/// The view's type is the server's: kept in step by this assertion.
const _: fn(&Hold) -> (&str, u64) = |h| (h.org.as_str(), h.poll_seq);
