//! The raw scenario model: what the user wrote, field for field (TOML or JSON),
//! unknown fields refused. No checks beyond the syntax: `validate` and `fault_spec`
//! turn it into the typed [`Scenario`](super::Scenario).

use serde::{Deserialize, Serialize};

use crate::simulator::model::{MemberSpec, ProfilePatch, Stamp};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) settings: SettingsFile,
    #[serde(default)]
    pub(crate) organizations: Vec<OrganizationFile>,
    #[serde(default)]
    pub(crate) timeline: Option<TimelineFile>,
    #[serde(default)]
    pub(crate) faults: Vec<FaultFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsFile {
    /// Status for a key asking for another organization's members: 401, 403 or 404.
    #[serde(default)]
    pub(crate) foreign_org_status: Option<u16>,
    /// Fixes the simulator's wall clock at start (epoch ms), for reproducible
    /// timestamps.
    #[serde(default)]
    pub(crate) start_time_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationFile {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) creation_timestamp: Option<Stamp>,
    #[serde(default)]
    pub(crate) api_keys: Vec<ApiKeyFile>,
    #[serde(default)]
    pub(crate) members: Vec<MemberSpec>,
    #[serde(default)]
    pub(crate) generate: Option<GenerateFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum ApiKeyFile {
    Plain(String),
    Owned(OwnedKeyFile),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnedKeyFile {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) owner: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateFile {
    pub(crate) count: usize,
    #[serde(default)]
    pub(crate) seed: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimelineFile {
    #[serde(default)]
    pub(crate) repeat_every: Option<String>,
    #[serde(default)]
    pub(crate) repeat_every_requests: Option<u64>,
    #[serde(default)]
    pub(crate) changes: Vec<ChangeFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeFile {
    #[serde(default)]
    pub(crate) at: Option<String>,
    #[serde(default)]
    pub(crate) after_requests: Option<u64>,
    pub(crate) org: String,
    #[serde(default)]
    pub(crate) join: Option<MemberSpec>,
    #[serde(default)]
    pub(crate) leave: Option<String>,
    #[serde(default)]
    pub(crate) set_admin: Option<SetAdminFile>,
    #[serde(default)]
    pub(crate) profile: Option<ProfileFile>,
    #[serde(default)]
    pub(crate) last_seen: Option<LastSeenFile>,
    #[serde(default)]
    pub(crate) go_quiet: Option<String>,
    #[serde(default)]
    pub(crate) touch: Option<String>,
    #[serde(default)]
    pub(crate) revoke_key: Option<String>,
    #[serde(default)]
    pub(crate) restore_key: Option<String>,
    #[serde(default)]
    pub(crate) owner_leaves: Option<String>,
    #[serde(default)]
    pub(crate) demote_owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetAdminFile {
    pub(crate) key: String,
    pub(crate) admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileFile {
    pub(crate) key: String,
    #[serde(flatten)]
    pub(crate) patch: ProfilePatch,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LastSeenFile {
    pub(crate) key: String,
    pub(crate) at: Stamp,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultFile {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) org: Option<String>,
    #[serde(default)]
    pub(crate) endpoint: Option<String>,
    #[serde(default)]
    pub(crate) requests: Option<Vec<u64>>,
    #[serde(default)]
    pub(crate) from_request: Option<u64>,
    #[serde(default)]
    pub(crate) until_request: Option<u64>,
    #[serde(default)]
    pub(crate) probability: Option<f64>,
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    // Kind parameters.
    #[serde(default)]
    pub(crate) status: Option<u16>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) retry_after: Option<u64>,
    #[serde(default)]
    pub(crate) retry_after_format: Option<String>,
    #[serde(default)]
    pub(crate) delay: Option<String>,
    #[serde(default)]
    pub(crate) fraction: Option<f64>,
    #[serde(default)]
    pub(crate) abort_connection: Option<bool>,
    #[serde(default)]
    pub(crate) count: Option<usize>,
    #[serde(default)]
    pub(crate) key_value: Option<String>,
}
