//! Validation of organizations, settings and the timeline: every problem of a file
//! is collected (with where it is) rather than stopping at the first one.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::http::StatusCode;

use super::file::{ApiKeyFile, ChangeFile, OrganizationFile, SettingsFile, TimelineFile};
use super::{OrgSpec, Settings, Timeline, TimelineEntry, Trigger};
use crate::simulator::generate::generated_key;
use crate::simulator::model::{Change, Stamp, GO_QUIET_FOR};

pub(super) fn settings(file: &SettingsFile, problems: &mut Vec<String>) -> Settings {
    let status = file.foreign_org_status.unwrap_or(401);
    let foreign_org_status = match status {
        401 | 403 | 404 => StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
        other => {
            problems.push(format!(
                "settings.foreign_org_status: {other} is not one of 401, 403, 404"
            ));
            StatusCode::UNAUTHORIZED
        }
    };
    Settings {
        foreign_org_status,
        start_time_ms: file.start_time_ms,
    }
}

pub(super) fn organizations(
    files: &[OrganizationFile],
    problems: &mut Vec<String>,
) -> Vec<OrgSpec> {
    let mut orgs = Vec::new();
    let mut org_keys = HashSet::new();
    let mut api_keys = HashSet::new();
    if files.is_empty() {
        problems.push("organizations: at least one organization is needed".into());
    }
    for (i, o) in files.iter().enumerate() {
        let at = format!("organizations[{i}] ({})", o.key);
        if o.key.trim().is_empty() {
            problems.push(format!("organizations[{i}].key: must not be empty"));
        }
        if !o
            .key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
        {
            problems.push(format!(
                "{at}.key: only ASCII letters, digits and `-_.~` are allowed (it goes in a URL path)"
            ));
        }
        if !org_keys.insert(o.key.clone()) {
            problems.push(format!("{at}: the key is used by another organization"));
        }
        let mut member_keys = HashSet::new();
        for (j, m) in o.members.iter().enumerate() {
            if m.key.is_empty() {
                problems.push(format!("{at}.members[{j}].key: must not be empty"));
            } else if !member_keys.insert(m.key.clone()) {
                problems.push(format!(
                    "{at}.members[{j}]: member key `{}` is listed twice",
                    m.key
                ));
            }
        }
        let generate = o.generate.map(|g| (g.count, g.seed));
        let generated: HashSet<String> = generate
            .map(|(count, seed)| (0..count as u64).map(|i| generated_key(seed, i)).collect())
            .unwrap_or_default();
        if let Some(clash) = member_keys.iter().find(|k| generated.contains(*k)) {
            problems.push(format!(
                "{at}.members: `{clash}` clashes with a generated member key"
            ));
        }
        let default_owner = o.members.first().map(|m| m.key.clone()).or_else(|| {
            generate
                .filter(|(n, _)| *n > 0)
                .map(|(_, seed)| generated_key(seed, 0))
        });
        if o.api_keys.is_empty() {
            problems.push(format!("{at}.api_keys: at least one API key is needed"));
        }
        let mut keys = Vec::new();
        for (j, k) in o.api_keys.iter().enumerate() {
            let (key, owner) = match k {
                ApiKeyFile::Plain(key) => (key.clone(), None),
                ApiKeyFile::Owned(o) => (o.key.clone(), o.owner.clone()),
            };
            if key.is_empty() || key.contains(':') || key.chars().any(char::is_whitespace) {
                problems.push(format!(
                    "{at}.api_keys[{j}]: an API key must be non-empty, without `:` or spaces"
                ));
            }
            if !api_keys.insert(key.clone()) {
                problems.push(format!("{at}.api_keys[{j}]: the API key is used twice"));
            }
            let Some(owner) = owner.or_else(|| default_owner.clone()) else {
                problems.push(format!(
                    "{at}.api_keys[{j}]: a key needs an owner, and the organization has no member"
                ));
                continue;
            };
            if !member_keys.contains(&owner) && !generated.contains(&owner) {
                problems.push(format!(
                    "{at}.api_keys[{j}]: owner `{owner}` is not a member of the organization"
                ));
            }
            keys.push((key, owner));
        }
        member_keys.extend(generated);
        orgs.push(OrgSpec {
            key: o.key.clone(),
            name: o.name.clone().unwrap_or_else(|| o.key.clone()),
            creation: o.creation_timestamp,
            api_keys: keys,
            members: o.members.clone(),
            generate,
            known_keys: member_keys,
        });
    }
    orgs
}

pub(super) fn timeline(
    file: Option<&TimelineFile>,
    orgs: &[OrgSpec],
    api_keys: &HashMap<&str, &str>,
    problems: &mut Vec<String>,
) -> Timeline {
    let Some(file) = file else {
        return Timeline::default();
    };
    let repeat_every = file.repeat_every.as_deref().and_then(|d| {
        parse_duration(d)
            .map_err(|e| problems.push(format!("timeline.repeat_every: {e}")))
            .ok()
    });
    if repeat_every == Some(Duration::ZERO) {
        problems.push("timeline.repeat_every: must be more than zero".into());
    }
    if file.repeat_every_requests == Some(0) {
        problems.push("timeline.repeat_every_requests: must be at least 1".into());
    }
    // Every key a member of each organization ever has: at start or by a join.
    let mut ever: HashMap<&str, HashSet<&str>> = orgs
        .iter()
        .map(|o| {
            (
                o.key.as_str(),
                o.known_keys.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    for c in &file.changes {
        if let (Some(m), Some(keys)) = (&c.join, ever.get_mut(c.org.as_str())) {
            keys.insert(m.key.as_str());
        }
    }
    let mut entries = Vec::new();
    for (i, c) in file.changes.iter().enumerate() {
        let at = format!("timeline.changes[{i}]");
        match timeline_entry(c, &ever, api_keys) {
            Ok(entry) => {
                match entry.trigger {
                    Trigger::At(t) => {
                        if let Some(p) = repeat_every.filter(|p| t >= *p) {
                            problems.push(format!(
                                "{at}: at = {} is not before repeat_every = {}",
                                humantime::format_duration(t),
                                humantime::format_duration(p)
                            ));
                        }
                    }
                    Trigger::AfterRequests(n) => {
                        if let Some(p) = file.repeat_every_requests.filter(|p| n >= *p) {
                            problems.push(format!(
                                "{at}: after_requests = {n} is not below repeat_every_requests = {p}"
                            ));
                        }
                    }
                }
                entries.push(entry);
            }
            Err(p) => problems.push(format!("{at}: {p}")),
        }
    }
    Timeline {
        repeat_every,
        repeat_every_requests: file.repeat_every_requests,
        entries,
    }
}

pub(super) fn timeline_entry(
    c: &ChangeFile,
    ever: &HashMap<&str, HashSet<&str>>,
    api_keys: &HashMap<&str, &str>,
) -> Result<TimelineEntry, String> {
    let trigger = match (&c.at, c.after_requests) {
        (Some(at), None) => Trigger::At(parse_duration(at).map_err(|e| format!("at: {e}"))?),
        (None, Some(n)) => Trigger::AfterRequests(n),
        _ => return Err("give exactly one of `at` (elapsed time) and `after_requests`".into()),
    };
    let Some(members) = ever.get(c.org.as_str()) else {
        return Err(format!(
            "org `{}` is not an organization of the scenario",
            c.org
        ));
    };
    let mut changes = Vec::new();
    if let Some(m) = &c.join {
        if m.key.is_empty() {
            return Err("join.key: must not be empty".into());
        }
        changes.push(Change::Join(m.clone()));
    }
    if let Some(key) = &c.leave {
        changes.push(Change::Leave { key: key.clone() });
    }
    if let Some(s) = &c.set_admin {
        changes.push(Change::SetAdmin {
            key: s.key.clone(),
            admin: s.admin,
        });
    }
    if let Some(p) = &c.profile {
        if p.patch.is_empty() {
            return Err("profile: name at least one field to change".into());
        }
        changes.push(Change::Profile {
            key: p.key.clone(),
            patch: p.patch.clone(),
        });
    }
    if let Some(l) = &c.last_seen {
        changes.push(Change::SetLastSeen {
            key: l.key.clone(),
            at: l.at,
        });
    }
    if let Some(key) = &c.go_quiet {
        changes.push(Change::SetLastSeen {
            key: key.clone(),
            at: Stamp::ago(GO_QUIET_FOR),
        });
    }
    if let Some(key) = &c.touch {
        changes.push(Change::SetLastSeen {
            key: key.clone(),
            at: Stamp::NOW,
        });
    }
    changes.extend(key_changes(c, api_keys)?);
    if let Some(key) = changes.first().and_then(Change::member_key) {
        if !members.contains(key) {
            return Err(format!(
                "member `{key}` is never a member of `{}` (not at start, not joined by the timeline)",
                c.org
            ));
        }
    }
    if changes.len() != 1 {
        return Err(format!(
            "give exactly one action (join, leave, set_admin, profile, last_seen, go_quiet, \
             touch, revoke_key, restore_key, owner_leaves, demote_owner); found {}",
            changes.len()
        ));
    }
    Ok(TimelineEntry {
        trigger,
        org: c.org.clone(),
        change: changes.remove(0),
    })
}

/// The actions aimed at one API key, which must be a key of the change's organization.
fn key_changes(c: &ChangeFile, api_keys: &HashMap<&str, &str>) -> Result<Vec<Change>, String> {
    type Make = fn(String) -> Change;
    let actions: [(&Option<String>, Make); 4] = [
        (&c.revoke_key, |api_key| Change::RevokeKey { api_key }),
        (&c.restore_key, |api_key| Change::RestoreKey { api_key }),
        (&c.owner_leaves, |api_key| Change::OwnerLeaves { api_key }),
        (&c.demote_owner, |api_key| Change::DemoteOwner { api_key }),
    ];
    let mut changes = Vec::new();
    for (key, make) in actions {
        let Some(key) = key else { continue };
        match api_keys.get(key.as_str()) {
            None => return Err("the API key is not one of the scenario's".into()),
            Some(org) if *org != c.org => {
                return Err(format!("the API key is not one of `{}`'s", c.org))
            }
            Some(_) => changes.push(make(key.clone())),
        }
    }
    Ok(changes)
}

pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. \"90s\", \"2m\", \"1h 30m\"")
    })
}
