//! Output of the three jobs: an aligned table for a person, CSV for a spreadsheet,
//! JSON for a program. Pure string building; the caller prints.
//!
//! Times are RFC 3339 UTC in every format. Text from outside the process (names,
//! emails) has its control characters escaped in tables, so a crafted display name
//! cannot drive the terminal, and formula-like CSV cells are neutralised (see
//! `csv::field`); JSON carries the text as is.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

use super::csv;
use super::reconcile::{Finding, FindingKind};
use super::roster::{InactiveReview, Roster, RosterSource, REMOVAL_NOTE};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format {other:?} (table, csv or json)")),
        }
    }
}

/// An epoch-ms time as RFC 3339 (seconds), or the raw number if out of range.
pub(crate) fn rfc3339(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .and_then(|m| UNIX_EPOCH.checked_add(Duration::from_millis(m)))
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn time(ms: Option<i64>) -> String {
    ms.map(rfc3339).unwrap_or_default()
}

fn json_time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |m| Value::String(rfc3339(m)))
}

/// A threshold: whole days as "30 days", anything else as humantime writes it.
fn days(ms: i64) -> String {
    match ms / super::roster::DAY_MS {
        1 if ms % super::roster::DAY_MS == 0 => "1 day".into(),
        n if n > 0 && ms % super::roster::DAY_MS == 0 => format!("{n} days"),
        _ => {
            humantime::format_duration(Duration::from_millis(ms.max(0).unsigned_abs())).to_string()
        }
    }
}

fn admin_cell(admin: Option<bool>) -> &'static str {
    match admin {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn csv_bool(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

/// Control characters escaped, so outside text cannot move the cursor.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c.is_control() {
            true => c.escape_default().collect::<Vec<_>>(),
            false => vec![c],
        })
        .collect()
}

/// Columns aligned on the widest cell, two spaces apart; "-" for an empty cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    if c.is_empty() {
                        "-".into()
                    } else {
                        printable(c)
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            line.extend(std::iter::repeat_n(' ', w - c.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn heading(
    org: &str,
    source: Option<RosterSource>,
    as_of: i64,
    after: i64,
    last: Option<i64>,
) -> String {
    let source = match source {
        Some(RosterSource::State) => " (from the state topic)",
        Some(RosterSource::Live) => " (live from Streak)",
        None => "",
    };
    let poll = last.map_or_else(|| "none".to_owned(), rfc3339);
    format!(
        "Organization {}{source}: as of {}, inactive after {}, last successful poll {poll}\n",
        printable(org),
        rfc3339(as_of),
        days(after)
    )
}

/// The rosters of one or more organizations.
pub(crate) fn render_rosters(rosters: &[Roster], format: Format) -> String {
    match format {
        Format::Table => rosters
            .iter()
            .map(roster_table)
            .collect::<Vec<_>>()
            .join("\n"),
        Format::Csv => {
            let mut out = csv::line([
                "org_key",
                "user_key",
                "email",
                "display_name",
                "is_org_admin",
                "inactive",
                "last_seen",
                "first_seen",
                "last_changed",
                "org_last_successful_poll",
            ]);
            for r in rosters {
                for m in &r.rows {
                    let cells = [
                        r.org_key.clone(),
                        m.user_key.clone(),
                        opt(&m.email),
                        opt(&m.display_name),
                        csv_bool(m.is_org_admin).into(),
                        m.inactive.to_string(),
                        time(m.last_seen_ms),
                        time(m.first_seen_ms),
                        time(m.last_changed_ms),
                        time(r.last_poll_ms),
                    ];
                    out.push_str(&csv::line(cells.iter().map(String::as_str)));
                }
            }
            out
        }
        Format::Json => {
            let orgs: Vec<Value> = rosters.iter().map(roster_json).collect();
            json!({ "organizations": orgs }).to_string() + "\n"
        }
    }
}

fn roster_table(r: &Roster) -> String {
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|m| {
            vec![
                opt(&m.email),
                opt(&m.display_name),
                admin_cell(m.is_org_admin).into(),
                if m.inactive { "yes" } else { "no" }.into(),
                time(m.last_seen_ms),
                time(m.first_seen_ms),
                time(m.last_changed_ms),
                m.user_key.clone(),
            ]
        })
        .collect();
    let headers = [
        "EMAIL",
        "NAME",
        "ADMIN",
        "INACTIVE",
        "LAST SEEN",
        "FIRST SEEN",
        "LAST CHANGED",
        "USER KEY",
    ];
    let inactive = r.rows.iter().filter(|m| m.inactive).count();
    format!(
        "{}{}{} member(s), {inactive} inactive\n",
        heading(
            &r.org_key,
            Some(r.source),
            r.as_of_ms,
            r.inactive_after_ms,
            r.last_poll_ms
        ),
        table(&headers, &rows),
        r.rows.len()
    )
}

fn roster_json(r: &Roster) -> Value {
    let members: Vec<Value> = r
        .rows
        .iter()
        .map(|m| {
            json!({
                "user_key": m.user_key, "email": m.email, "display_name": m.display_name,
                "is_org_admin": m.is_org_admin, "inactive": m.inactive,
                "last_seen": json_time(m.last_seen_ms), "first_seen": json_time(m.first_seen_ms),
                "last_changed": json_time(m.last_changed_ms),
            })
        })
        .collect();
    json!({
        "org_key": r.org_key,
        "source": match r.source { RosterSource::State => "state", RosterSource::Live => "live" },
        "as_of": rfc3339(r.as_of_ms),
        "inactive_after_ms": r.inactive_after_ms,
        "last_successful_poll": json_time(r.last_poll_ms),
        "members": members,
    })
}

/// The inactive reviews of one or more organizations. Table and JSON carry
/// [`REMOVAL_NOTE`]; with CSV the caller prints it apart (on stderr).
pub(crate) fn render_inactive(reviews: &[InactiveReview], format: Format) -> String {
    match format {
        Format::Table => {
            let mut out = reviews
                .iter()
                .map(inactive_table)
                .collect::<Vec<_>>()
                .join("\n");
            out.push_str(&format!("\n{REMOVAL_NOTE}\n"));
            out
        }
        Format::Csv => {
            let mut out = csv::line([
                "org_key",
                "user_key",
                "email",
                "display_name",
                "is_org_admin",
                "days_idle",
                "last_activity",
                "never_seen",
            ]);
            for r in reviews {
                for m in &r.rows {
                    let cells = [
                        r.org_key.clone(),
                        m.user_key.clone(),
                        opt(&m.email),
                        opt(&m.display_name),
                        csv_bool(m.is_org_admin).into(),
                        m.days_idle.to_string(),
                        rfc3339(m.activity_ms),
                        m.never_seen.to_string(),
                    ];
                    out.push_str(&csv::line(cells.iter().map(String::as_str)));
                }
            }
            out
        }
        Format::Json => {
            let orgs: Vec<Value> = reviews.iter().map(inactive_json).collect();
            json!({ "organizations": orgs, "note": REMOVAL_NOTE }).to_string() + "\n"
        }
    }
}

fn inactive_table(r: &InactiveReview) -> String {
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|m| {
            let seen = match m.never_seen {
                true => format!("never (created {})", rfc3339(m.activity_ms)),
                false => rfc3339(m.activity_ms),
            };
            let admin = if m.is_org_admin == Some(true) {
                "ADMIN"
            } else {
                ""
            };
            vec![
                m.days_idle.to_string(),
                opt(&m.email),
                opt(&m.display_name),
                admin.into(),
                seen,
                m.user_key.clone(),
            ]
        })
        .collect();
    let headers = [
        "DAYS IDLE",
        "EMAIL",
        "NAME",
        "ADMIN",
        "LAST SEEN",
        "USER KEY",
    ];
    format!(
        "{}{}{} inactive member(s)\n",
        heading(
            &r.org_key,
            None,
            r.as_of_ms,
            r.inactive_after_ms,
            r.last_poll_ms
        ),
        table(&headers, &rows),
        r.rows.len()
    )
}

fn inactive_json(r: &InactiveReview) -> Value {
    let members: Vec<Value> = r
        .rows
        .iter()
        .map(|m| {
            json!({
                "user_key": m.user_key, "email": m.email, "display_name": m.display_name,
                "is_org_admin": m.is_org_admin, "days_idle": m.days_idle,
                "last_activity": rfc3339(m.activity_ms), "never_seen": m.never_seen,
            })
        })
        .collect();
    json!({
        "org_key": r.org_key, "as_of": rfc3339(r.as_of_ms),
        "inactive_after_ms": r.inactive_after_ms,
        "last_successful_poll": json_time(r.last_poll_ms), "inactive_members": members,
    })
}

/// Findings (already in their documented order), with what to do about each kind.
pub(crate) fn render_findings(findings: &[Finding], format: Format) -> String {
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = findings
                .iter()
                .map(|f| {
                    let admin = if f.is_org_admin == Some(true) {
                        "ADMIN"
                    } else {
                        ""
                    };
                    let status = f.directory_status.map(|s| s.as_str()).unwrap_or_default();
                    vec![
                        f.kind.as_str().into(),
                        admin.into(),
                        opt(&f.email),
                        opt(&f.display_name),
                        status.into(),
                        opt(&f.user_key),
                        f.org_key.clone(),
                    ]
                })
                .collect();
            let headers = [
                "FINDING",
                "ADMIN",
                "EMAIL",
                "NAME",
                "DIRECTORY",
                "USER KEY",
                "ORG",
            ];
            let mut out = table(&headers, &rows);
            out.push_str(&format!("{} finding(s)\n", findings.len()));
            for kind in FindingKind::ALL {
                if findings.iter().any(|f| f.kind == kind) {
                    out.push_str(&format!("{}: {}\n", kind.as_str(), kind.action()));
                }
            }
            out
        }
        Format::Csv => {
            let mut out = csv::line([
                "org_key",
                "finding",
                "user_key",
                "email",
                "normalised_email",
                "display_name",
                "is_org_admin",
                "directory_status",
                "action",
            ]);
            for f in findings {
                let cells = [
                    f.org_key.clone(),
                    f.kind.as_str().into(),
                    opt(&f.user_key),
                    opt(&f.email),
                    opt(&f.normalised_email),
                    opt(&f.display_name),
                    csv_bool(f.is_org_admin).into(),
                    f.directory_status
                        .map(|s| s.as_str())
                        .unwrap_or_default()
                        .into(),
                    f.kind.action().into(),
                ];
                out.push_str(&csv::line(cells.iter().map(String::as_str)));
            }
            out
        }
        Format::Json => {
            let all: Vec<Value> = findings
                .iter()
                .map(|f| {
                    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
                    if let Value::Object(o) = &mut v {
                        o.insert("action".into(), f.kind.action().into());
                    }
                    v
                })
                .collect();
            json!({ "findings": all }).to_string() + "\n"
        }
    }
}
