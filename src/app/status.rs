//! `status`: asks a running connector for its `/status` and prints it for a person
//! (a table) or as JSON.
//!
//! It reads nothing but the command line: the URL comes from `--url`, else from
//! `--metrics-listen` / `STREAK_CONNECTOR_METRICS_LISTEN` (an unspecified address
//! such as `0.0.0.0` is asked on loopback), else `http://127.0.0.1:9464`.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::config::SettingsArgs;
use crate::connector::status::{ConnectorStatus, OrgStatus};

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// A table for a person.
    Table,
    /// The JSON `/status` serves, pretty-printed.
    Json,
}

/// Flags of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Base URL of the connector's metrics listener, e.g. `http://connector:9464`
    /// [default: from --metrics-listen, else http://127.0.0.1:9464].
    #[arg(long)]
    pub url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
    /// How long to wait for the answer.
    #[arg(long, default_value = "10s", value_parser = crate::config::parse_duration)]
    pub timeout: Duration,
}

/// Fetches `/status` and prints it.
pub async fn status(args: StatusArgs, settings: &SettingsArgs) -> anyhow::Result<()> {
    let base = match &args.url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => default_url(settings.metrics_listen.as_deref())?,
    };
    let url = format!("{base}/status");
    let shown = crate::redact::redact_url(&url);
    let http = reqwest::Client::builder()
        .timeout(args.timeout)
        .build()
        .context("cannot build the HTTP client")?;
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {shown}: {}", e.without_url()))?;
    let code = response.status();
    if !code.is_success() {
        anyhow::bail!("{shown} answered {code}");
    }
    let report: ConnectorStatus = response
        .json()
        .await
        .map_err(|e| anyhow::anyhow!("{shown} sent no connector status: {}", e.without_url()))?;
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        StatusFormat::Table => print!("{}", table(&report)),
    }
    Ok(())
}

/// `http://host:port` of the metrics listener `listen` (`host:port`).
fn default_url(listen: Option<&str>) -> anyhow::Result<String> {
    let Some(listen) = listen else {
        return Ok(format!("http://127.0.0.1:{}", DEFAULT_PORT));
    };
    let addr: std::net::SocketAddr = listen.parse().with_context(|| {
        format!("--metrics-listen {listen:?} is not an address such as 0.0.0.0:9464; pass --url")
    })?;
    let ip = addr.ip();
    let host = if ip.is_unspecified() {
        "127.0.0.1".to_string()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    Ok(format!("http://{host}:{}", addr.port()))
}

/// The metrics listener's default port.
const DEFAULT_PORT: u16 = 9464;

/// The status as a person reads it.
pub(super) fn table(s: &ConnectorStatus) -> String {
    let c = &s.connector;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "connector {}  version {}  instance {} (pid {})  started {}",
        clean(&c.name),
        clean(&c.version),
        clean(&c.instance),
        c.pid,
        clean(&c.started_at)
    );
    match &s.not_ready_reason {
        None if s.ready => {
            let _ = writeln!(out, "ready     yes");
        }
        reason => {
            let why = reason.as_deref().unwrap_or("unknown");
            let _ = writeln!(out, "ready     no: {}", clean(why));
        }
    }
    let _ = writeln!(out, "as of     {}", clean(&s.generated_at));
    out.push('\n');
    if s.organizations.is_empty() {
        out.push_str("no organization yet\n");
        return out;
    }
    let header = [
        "ORGANIZATION",
        "STATE",
        "LAST SUCCESS",
        "POLL SEQ",
        "MEMBERS",
        "KEYS",
        "NOTE",
    ];
    let rows: Vec<[String; 7]> = s.organizations.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(&header.map(str::to_string));
    for r in &rows {
        line(r);
    }
    out
}

fn row(o: &OrgStatus) -> [String; 7] {
    let last = match (&o.last_success_at, o.seconds_since_last_success) {
        (Some(at), Some(age)) => format!("{} ({} ago)", clean(at), age_text(age)),
        (Some(at), None) => clean(at),
        _ => "-".to_string(),
    };
    let keys = if o.keys.is_empty() {
        "-".to_string()
    } else {
        o.keys
            .iter()
            .map(|k| format!("{} {}", clean(&k.fingerprint), clean(&k.state)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    [
        clean(&o.org),
        o.state.as_str().to_string(),
        last,
        o.poll_seq.to_string(),
        o.members.to_string(),
        keys,
        note(o),
    ]
}

/// What needs a person's attention, if anything.
fn note(o: &OrgStatus) -> String {
    let mut notes = Vec::new();
    if let Some(code) = &o.last_error_code {
        notes.push(format!(
            "{} failed poll(s) in a row ({})",
            o.consecutive_failures,
            clean(code)
        ));
    }
    if let Some(n) = o.held_departures {
        notes.push(format!("held by the departure guard: {n} departures"));
    }
    for k in o.keys.iter().filter(|k| !k.owner_risks.is_empty()) {
        notes.push(format!(
            "owner of key {} at risk: {}",
            clean(&k.fingerprint),
            clean(&k.owner_risks.join(", "))
        ));
    }
    notes.join("; ")
}

fn age_text(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Text from the connector (organization keys come from the Streak API) with its
/// control characters escaped, so no value can redraw the terminal or forge a line.
fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::status::{ConnectorInfo, KeyStatus, StatusBoard};

    #[test]
    fn default_url_follows_the_metrics_listener() {
        assert_eq!(default_url(None).expect("url"), "http://127.0.0.1:9464");
        let url = |l: &str| default_url(Some(l)).expect("url");
        assert_eq!(url("0.0.0.0:9500"), "http://127.0.0.1:9500");
        assert_eq!(url("10.1.2.3:9464"), "http://10.1.2.3:9464");
        assert_eq!(url("[::1]:9464"), "http://[::1]:9464");
        assert!(default_url(Some("nope")).is_err());
    }

    #[test]
    fn the_table_shows_every_organization_and_what_needs_attention() {
        let b = StatusBoard::default();
        b.identify(ConnectorInfo::this_process("crm-prod", 0));
        b.org_resolved("org-a", "aaaa1111", 10, 3);
        b.poll_committed("org-a", 4, 11, 1_000);
        b.org_resolved("org-b\nforged", "bbbb2222", 5, 1);
        b.poll_failed("org-b\nforged", "unauthorized");
        b.set_keys(
            "org-b\nforged",
            vec![KeyStatus {
                fingerprint: "bbbb2222".into(),
                state: "active".into(),
                owner_risks: vec!["left".into()],
            }],
        );
        let text = table(&b.snapshot(181_000, Ok(())));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("connector crm-prod  version "),
            "{text}"
        );
        assert_eq!(lines[1], "ready     yes", "{text}");
        let header = lines
            .iter()
            .position(|l| l.starts_with("ORGANIZATION"))
            .expect("header");
        let a = lines[header + 1];
        assert!(a.starts_with("org-a "), "{text}");
        for part in [
            "running",
            "1970-01-01T00:00:01Z (3m ago)",
            " 4 ",
            " 11 ",
            "aaaa1111 active",
        ] {
            assert!(a.contains(part), "{part:?} missing in {a:?}");
        }
        let b_line = lines[header + 2];
        assert!(b_line.starts_with("org-b\\nforged "), "escaped: {text}");
        for part in [
            "failing",
            "1 failed poll(s) in a row (unauthorized)",
            "owner of key bbbb2222 at risk: left",
        ] {
            assert!(b_line.contains(part), "{part:?} missing in {b_line:?}");
        }
        assert_eq!(lines.len(), header + 3, "{text}");
    }
}
