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

use super::faults::Fault;
use super::model::{Change, MemberSpec, Stamp};
use super::SimError;
use file::ScenarioFile;

mod fault_spec;
mod file;
mod validate;

/// The built-in "lively" scenario (`examples/scenario-lively.toml`).
pub(crate) const LIVELY_TOML: &str = include_str!("../../../examples/scenario-lively.toml");
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
        let settings = validate::settings(&file.settings, &mut problems);
        let orgs = validate::organizations(&file.organizations, &mut problems);
        let org_keys: HashSet<&str> = orgs.iter().map(|o| o.key.as_str()).collect();
        // API key -> its organization.
        let api_keys: HashMap<&str, &str> = orgs
            .iter()
            .flat_map(|o| o.api_keys.iter().map(|(k, _)| (k.as_str(), o.key.as_str())))
            .collect();
        let timeline = validate::timeline(file.timeline.as_ref(), &orgs, &api_keys, &mut problems);
        let faults = file
            .faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                fault_spec::fault(f, &org_keys)
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
