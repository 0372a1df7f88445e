//! Scenario files: the raw model that mirrors what the user wrote (TOML or JSON,
//! unknown fields refused), and the validated [`Scenario`] the simulator runs, with
//! every problem of a file reported at once.
//!
//! Must not do network I/O; the only I/O is reading the file in
//! [`Scenario::from_path`].

use std::collections::{HashMap, HashSet};

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::faults::{Fault, FaultKind, KeyValue, RetryAfter, When, KIND_NAMES};
use super::generate::generated_key;
use super::model::{Change, Endpoint, MemberSpec, ProfilePatch, Stamp, GO_QUIET_FOR};
use super::SimError;

/// The built-in "lively" scenario (`examples/scenario-lively.toml`).
pub(crate) const LIVELY_TOML: &str = include_str!("../../examples/scenario-lively.toml");

// ---------------------------------------------------------------------------
// The raw file model.

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    settings: SettingsFile,
    #[serde(default)]
    organizations: Vec<OrganizationFile>,
    #[serde(default)]
    timeline: Option<TimelineFile>,
    #[serde(default)]
    faults: Vec<FaultFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    /// Status for a key asking for another organization's members: 401, 403 or 404.
    #[serde(default)]
    foreign_org_status: Option<u16>,
    /// Fixes the simulator's wall clock at start (epoch ms), for reproducible
    /// timestamps.
    #[serde(default)]
    start_time_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationFile {
    key: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<Stamp>,
    #[serde(default)]
    api_keys: Vec<ApiKeyFile>,
    #[serde(default)]
    members: Vec<MemberSpec>,
    #[serde(default)]
    generate: Option<GenerateFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum ApiKeyFile {
    Plain(String),
    Owned(OwnedKeyFile),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnedKeyFile {
    key: String,
    #[serde(default)]
    owner: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateFile {
    count: usize,
    #[serde(default)]
    seed: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineFile {
    #[serde(default)]
    repeat_every: Option<String>,
    #[serde(default)]
    repeat_every_requests: Option<u64>,
    #[serde(default)]
    changes: Vec<ChangeFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeFile {
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    after_requests: Option<u64>,
    org: String,
    #[serde(default)]
    join: Option<MemberSpec>,
    #[serde(default)]
    leave: Option<String>,
    #[serde(default)]
    set_admin: Option<SetAdminFile>,
    #[serde(default)]
    profile: Option<ProfileFile>,
    #[serde(default)]
    last_seen: Option<LastSeenFile>,
    #[serde(default)]
    go_quiet: Option<String>,
    #[serde(default)]
    touch: Option<String>,
    #[serde(default)]
    revoke_key: Option<String>,
    #[serde(default)]
    restore_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetAdminFile {
    key: String,
    admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    key: String,
    #[serde(flatten)]
    patch: ProfilePatch,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LastSeenFile {
    key: String,
    at: Stamp,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFile {
    kind: String,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    requests: Option<Vec<u64>>,
    #[serde(default)]
    from_request: Option<u64>,
    #[serde(default)]
    until_request: Option<u64>,
    #[serde(default)]
    probability: Option<f64>,
    #[serde(default)]
    seed: Option<u64>,
    // Kind parameters.
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    retry_after_format: Option<String>,
    #[serde(default)]
    delay: Option<String>,
    #[serde(default)]
    fraction: Option<f64>,
    #[serde(default)]
    abort_connection: Option<bool>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    key_value: Option<String>,
}

// ---------------------------------------------------------------------------
// The validated scenario.

/// A validated scenario: organizations, their keys and members, a timeline of changes
/// and injected faults. Build one with [`Scenario::from_path`],
/// [`Scenario::from_toml_str`], [`Scenario::from_json_str`] or [`Scenario::lively`].
#[derive(Debug, Clone)]
pub struct Scenario {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) settings: Settings,
    pub(crate) orgs: Vec<OrgSpec>,
    pub(crate) timeline: Timeline,
    pub(crate) faults: Vec<Fault>,
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) foreign_org_status: StatusCode,
    pub(crate) start_time_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct OrgSpec {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) creation: Option<Stamp>,
    /// `(api key, owner's member key)`.
    pub(crate) api_keys: Vec<(String, String)>,
    pub(crate) members: Vec<MemberSpec>,
    /// `(count, seed)`: generated members, listed after `members`.
    pub(crate) generate: Option<(usize, u64)>,
    /// Every member key at start (for validating the timeline only).
    known_keys: HashSet<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    pub(crate) repeat_every: Option<Duration>,
    pub(crate) repeat_every_requests: Option<u64>,
    pub(crate) entries: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Elapsed time since the simulator started.
    At(Duration),
    /// Once the organization's member listing has been requested this many times.
    AfterRequests(u64),
}

#[derive(Debug, Clone)]
pub(crate) struct TimelineEntry {
    pub(crate) trigger: Trigger,
    pub(crate) org: String,
    pub(crate) change: Change,
}

/// What a scenario says about one organization: enough to configure a connector
/// against the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSummary {
    pub key: String,
    pub name: String,
    /// The organization's API keys (fake ones, from the scenario).
    pub api_keys: Vec<String>,
    /// Members at start, generated ones included.
    pub initial_members: usize,
}

impl Scenario {
    /// Reads a scenario file: JSON if its name ends in `.json`, TOML otherwise.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Scenario, SimError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            Scenario::from_json_str(&text)
        } else {
            Scenario::from_toml_str(&text)
        }
    }

    /// Parses and validates a TOML scenario.
    pub fn from_toml_str(text: &str) -> Result<Scenario, SimError> {
        let file: ScenarioFile =
            toml::from_str(text).map_err(|e| SimError::Parse(format!("TOML: {e}")))?;
        Scenario::try_from(file)
    }

    /// Parses and validates a JSON scenario (same structure as the TOML one).
    pub fn from_json_str(text: &str) -> Result<Scenario, SimError> {
        let file: ScenarioFile =
            serde_json::from_str(text).map_err(|e| SimError::Parse(format!("JSON: {e}")))?;
        Scenario::try_from(file)
    }

    /// The built-in scenario of the demo: people join, leave, become admins, go
    /// quiet and come back, in a loop (see `examples/scenario-lively.toml`).
    pub fn lively() -> Scenario {
        // The embedded file is covered by a test; failing to parse it is a bug in
        // this crate, not an input error.
        match Scenario::from_toml_str(LIVELY_TOML) {
            Ok(s) => s,
            Err(e) => panic!("the built-in lively scenario is invalid: {e}"),
        }
    }

    /// The scenario's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The scenario's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Its organizations, in file order.
    pub fn organizations(&self) -> Vec<OrganizationSummary> {
        self.orgs
            .iter()
            .map(|o| OrganizationSummary {
                key: o.key.clone(),
                name: o.name.clone(),
                api_keys: o.api_keys.iter().map(|(k, _)| k.clone()).collect(),
                initial_members: o.members.len() + o.generate.map_or(0, |(n, _)| n),
            })
            .collect()
    }
}

impl TryFrom<ScenarioFile> for Scenario {
    type Error = SimError;

    fn try_from(file: ScenarioFile) -> Result<Scenario, SimError> {
        let mut problems = Vec::new();
        let settings = settings(&file.settings, &mut problems);
        let orgs = organizations(&file.organizations, &mut problems);
        let org_keys: HashSet<&str> = orgs.iter().map(|o| o.key.as_str()).collect();
        let api_keys: HashSet<&str> = orgs
            .iter()
            .flat_map(|o| o.api_keys.iter().map(|(k, _)| k.as_str()))
            .collect();
        let timeline = timeline(file.timeline.as_ref(), &orgs, &api_keys, &mut problems);
        let faults = file
            .faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                fault(f, &org_keys)
                    .map_err(|p| problems.push(format!("faults[{i}] ({}): {p}", f.kind)))
                    .ok()
            })
            .collect();
        if problems.is_empty() {
            Ok(Scenario {
                name: file.name,
                description: file.description,
                settings,
                orgs,
                timeline,
                faults,
            })
        } else {
            Err(SimError::Invalid { problems })
        }
    }
}

fn settings(file: &SettingsFile, problems: &mut Vec<String>) -> Settings {
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

fn organizations(files: &[OrganizationFile], problems: &mut Vec<String>) -> Vec<OrgSpec> {
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

fn timeline(
    file: Option<&TimelineFile>,
    orgs: &[OrgSpec],
    api_keys: &HashSet<&str>,
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

fn timeline_entry(
    c: &ChangeFile,
    ever: &HashMap<&str, HashSet<&str>>,
    api_keys: &HashSet<&str>,
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
    for (key, revoke) in [(&c.revoke_key, true), (&c.restore_key, false)] {
        if let Some(key) = key {
            if !api_keys.contains(key.as_str()) {
                return Err("the API key is not one of the scenario's".into());
            }
            changes.push(if revoke {
                Change::RevokeKey {
                    api_key: key.clone(),
                }
            } else {
                Change::RestoreKey {
                    api_key: key.clone(),
                }
            });
        }
    }
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
             touch, revoke_key, restore_key); found {}",
            changes.len()
        ));
    }
    Ok(TimelineEntry {
        trigger,
        org: c.org.clone(),
        change: changes.remove(0),
    })
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. \"90s\", \"2m\", \"1h 30m\"")
    })
}

fn fault(f: &FaultFile, org_keys: &HashSet<&str>) -> Result<Fault, String> {
    if let Some(org) = &f.org {
        if !org_keys.contains(org.as_str()) {
            return Err(format!(
                "org `{org}` is not an organization of the scenario"
            ));
        }
    }
    let endpoint = match &f.endpoint {
        None => None,
        Some(name) => Some(Endpoint::from_name(name).ok_or_else(|| {
            format!("endpoint `{name}`: use users_me, organization or organization_users")
        })?),
    };
    if f.requests.as_ref().is_some_and(|r| r.contains(&0))
        || f.from_request == Some(0)
        || f.until_request == Some(0)
    {
        return Err("request numbers start at 1".into());
    }
    let probability = match (f.probability, f.seed) {
        (Some(p), seed) if (0.0..=1.0).contains(&p) => Some((p, seed.unwrap_or(0))),
        (Some(p), _) => return Err(format!("probability {p} is not between 0 and 1")),
        (None, Some(_)) => return Err("`seed` only goes with `probability`".into()),
        (None, None) => None,
    };
    let when = When {
        requests: f.requests.clone(),
        from: f.from_request,
        until: f.until_request,
        probability,
    };
    let kind = fault_kind(f)?;
    if let Some(e) = endpoint {
        if !kind.endpoints().contains(&e) {
            return Err(format!("this kind does not apply to endpoint `{e}`"));
        }
    }
    Ok(Fault {
        org: f.org.clone(),
        endpoint,
        when,
        kind,
    })
}

fn fault_kind(f: &FaultFile) -> Result<FaultKind, String> {
    // Parameters each kind accepts; any other one given is a mistake worth reporting.
    let given: Vec<&str> = [
        ("status", f.status.is_some()),
        ("message", f.message.is_some()),
        ("retry_after", f.retry_after.is_some()),
        ("retry_after_format", f.retry_after_format.is_some()),
        ("delay", f.delay.is_some()),
        ("fraction", f.fraction.is_some()),
        ("abort_connection", f.abort_connection.is_some()),
        ("count", f.count.is_some()),
        ("key_value", f.key_value.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    let allowed: &[&str] = match f.kind.as_str() {
        "http_error" => &["status", "message", "retry_after", "retry_after_format"],
        "html_error" => &["status"],
        "delay" => &["delay"],
        "truncated_body" => &["fraction", "abort_connection"],
        "duplicate_entries"
        | "timestamps_in_seconds"
        | "wrong_field_types"
        | "unknown_fields"
        | "null_fields"
        | "absurd_timestamps" => &["count"],
        "entry_without_key" => &["count", "key_value"],
        "malformed_json" | "empty_listing" | "object_body" => &[],
        other => {
            return Err(format!(
                "unknown kind `{other}`; kinds are: {}",
                KIND_NAMES.join(", ")
            ))
        }
    };
    if let Some(bad) = given.iter().find(|g| !allowed.contains(g)) {
        return Err(format!("`{bad}` does not apply to this kind"));
    }
    let status =
        |default: u16, range: std::ops::RangeInclusive<u16>| -> Result<StatusCode, String> {
            let s = f.status.unwrap_or(default);
            if !range.contains(&s) {
                return Err(format!(
                    "status {s} is outside {}..={}",
                    range.start(),
                    range.end()
                ));
            }
            StatusCode::from_u16(s).map_err(|e| format!("status {s}: {e}"))
        };
    Ok(match f.kind.as_str() {
        "http_error" => {
            let Some(_) = f.status else {
                return Err("`status` is required (e.g. 429, 500, 503, 401)".into());
            };
            let status = status(500, 400..=599)?;
            let retry_after = match (f.retry_after, f.retry_after_format.as_deref()) {
                (None, None) => None,
                (None, Some(_)) => return Err("`retry_after_format` needs `retry_after`".into()),
                (Some(s), None | Some("seconds")) => Some(RetryAfter::Seconds(s)),
                (Some(s), Some("http_date")) => Some(RetryAfter::HttpDate(s)),
                (Some(_), Some(other)) => {
                    return Err(format!(
                        "retry_after_format `{other}`: use \"seconds\" or \"http_date\""
                    ))
                }
            };
            FaultKind::HttpError {
                status,
                message: f
                    .message
                    .clone()
                    .unwrap_or_else(|| super::faults::default_message(status)),
                retry_after,
            }
        }
        "html_error" => FaultKind::HtmlError {
            status: status(502, 200..=599)?,
        },
        "delay" => {
            let Some(d) = &f.delay else {
                return Err("`delay` is required (e.g. \"2s\")".into());
            };
            FaultKind::Delay(parse_duration(d)?)
        }
        "malformed_json" => FaultKind::MalformedJson,
        "truncated_body" => {
            let fraction = f.fraction.unwrap_or(0.5);
            if !(0.0..=1.0).contains(&fraction) {
                return Err(format!("fraction {fraction} is not between 0 and 1"));
            }
            FaultKind::TruncatedBody {
                fraction,
                abort_connection: f.abort_connection.unwrap_or(false),
            }
        }
        "empty_listing" => FaultKind::EmptyListing,
        "object_body" => FaultKind::ObjectBody,
        "duplicate_entries" => FaultKind::DuplicateEntries {
            count: f.count.unwrap_or(1),
        },
        "timestamps_in_seconds" => FaultKind::TimestampsInSeconds { count: f.count },
        "wrong_field_types" => FaultKind::WrongFieldTypes {
            count: Some(f.count.unwrap_or(1)),
        },
        "entry_without_key" => FaultKind::EntryWithoutKey {
            count: Some(f.count.unwrap_or(1)),
            key_value: match f.key_value.as_deref().unwrap_or("missing") {
                "missing" => KeyValue::Missing,
                "null" => KeyValue::Null,
                "empty" => KeyValue::Empty,
                "number" => KeyValue::Number,
                other => {
                    return Err(format!(
                        "key_value `{other}`: use missing, null, empty or number"
                    ))
                }
            },
        },
        "unknown_fields" => FaultKind::UnknownFields { count: f.count },
        "null_fields" => FaultKind::NullFields { count: f.count },
        "absurd_timestamps" => FaultKind::AbsurdTimestamps { count: f.count },
        _ => unreachable!("kind checked above"),
    })
}
