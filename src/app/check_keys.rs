//! `check`'s look at the API keys (issue 12.2): every key's `/users/me`, the keys
//! grouped into their organizations' pools as `run` would, one listing per
//! organization, and per key its owner (email), the owner's admin flag and last
//! activity as the listing shows them, and the state `run` would give it. Warns
//! when an organization has a single healthy key: its owner leaving stops it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::verdict::Verdict;
use crate::config::Config;
use crate::connector::keys::rejects_key;
use crate::connector::keys::ring::resolve;
use crate::kafka::inspect::CHECK_TIMEOUT;
use crate::membership::owner::KeyOwner;
use crate::membership::{is_inactive, Member};
use crate::metrics::Metrics;
use crate::streak::{ApiKey, StreakClient};

/// One key as `check` found it.
struct Found {
    fp: String,
    client: StreakClient,
    owner: KeyOwner,
}

/// The verdicts of the keys, and the warnings about single-key organizations.
pub(super) async fn check_streak(config: &Config) -> (Vec<Verdict>, Vec<String>) {
    let mut out = Vec::new();
    let metrics = Arc::new(Metrics::new());
    let mut client_config = config.streak.clone();
    client_config.retry.max_attempts = client_config.retry.max_attempts.min(2);
    client_config.retry.deadline = client_config.retry.deadline.min(CHECK_TIMEOUT * 2);
    let mut orgs: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    for secret in &config.api_keys {
        let client = match ApiKey::new(secret.expose().to_string())
            .and_then(|k| StreakClient::new(client_config.clone(), k, metrics.clone()))
        {
            Ok(c) => c,
            Err(e) => {
                out.push(fail("streak key".into(), e.to_string()));
                continue;
            }
        };
        let fp = client.key_fingerprint().to_owned();
        match resolve(&client).await {
            Ok((org, owner)) => orgs
                .entry(org)
                .or_default()
                .push(Found { fp, client, owner }),
            Err(e) => {
                let state = if rejects_key(&e) {
                    "rejected"
                } else {
                    "unreachable"
                };
                out.push(fail(format!("streak key {fp}"), format!("{state}: {e}")));
            }
        }
    }
    let inactive_after_ms = config.inactive_after.as_millis() as i64;
    let mut warnings = Vec::new();
    for (org, keys) in &orgs {
        let (verdicts, healthy) = check_org(org, keys, inactive_after_ms).await;
        out.extend(verdicts);
        if healthy == 1 {
            warnings.push(format!(
                "organization {org} has a single healthy API key: when its owner leaves Streak, \
                 polling stops. Add a second admin's key to the key file (docs/operations.md, \
                 \"An admin is leaving\")"
            ));
        }
    }
    (out, warnings)
}

/// One organization: its listing through the first key that works, then a line
/// per key. Returns the verdicts and how many keys are healthy.
async fn check_org(org: &str, keys: &[Found], inactive_after_ms: i64) -> (Vec<Verdict>, usize) {
    let mut out = Vec::new();
    let mut members: Option<Vec<Member>> = None;
    let mut states: Vec<Result<(), String>> = Vec::new();
    for k in keys {
        if members.is_some() {
            states.push(Ok(()));
            continue;
        }
        match k.client.org_users(org).await {
            Ok(l) => {
                out.push(Verdict {
                    ok: true,
                    item: format!("organization {org}"),
                    detail: format!(
                        "{} members listed{}, {} API key(s)",
                        l.listing.members.len(),
                        if l.listing.complete {
                            String::new()
                        } else {
                            format!(" ({} unreadable entries)", l.stats.invalid)
                        },
                        keys.len()
                    ),
                });
                members = Some(l.listing.members);
                states.push(Ok(()));
            }
            Err(e) if rejects_key(&e) => states.push(Err(format!("rejected: {e}"))),
            Err(e) => states.push(Err(e.to_string())),
        }
    }
    let members = members.unwrap_or_default();
    let mut active_seen = false;
    let mut healthy = 0;
    for (k, state) in keys.iter().zip(states) {
        let item = format!("streak key {}", k.fp);
        match state {
            Err(e) => out.push(fail(item, format!("organization {org}: {e}"))),
            Ok(()) => {
                healthy += 1;
                let role = if active_seen { "standby" } else { "active" };
                active_seen = true;
                out.push(Verdict {
                    ok: true,
                    item,
                    detail: format!(
                        "organization {org}, {role}; owner {}",
                        owner_line(&k.owner, &members, inactive_after_ms)
                    ),
                });
            }
        }
    }
    (out, healthy)
}

/// The owner's email, admin flag and last activity as the listing shows them.
fn owner_line(owner: &KeyOwner, members: &[Member], inactive_after_ms: i64) -> String {
    let email = owner.email.as_deref().unwrap_or("(no email)");
    let Some(m) = members.iter().find(|m| m.key == owner.user_key) else {
        return format!("{email}: not in the organization's listing (left?): this key is at risk");
    };
    let admin = match m.is_org_admin {
        Some(true) => "admin",
        Some(false) => "not an admin: this key is at risk",
        None => "admin flag unknown",
    };
    let seen = m
        .last_seen_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map(|ms| {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        })
        .unwrap_or_else(|| "never".into());
    let now_ms = crate::connector::system_clock()();
    let quiet = if is_inactive(m, now_ms, inactive_after_ms) {
        " (inactive by the connector's rule: this key is at risk)"
    } else {
        ""
    };
    format!("{email}, {admin}, last seen {seen}{quiet}")
}

fn fail(item: String, detail: String) -> Verdict {
    Verdict {
        ok: false,
        item,
        detail,
    }
}
