//! The simulator's data: members as a scenario describes them ([`MemberSpec`], with
//! timestamps that may be relative to "now"), members as the simulator serves them
//! ([`SimMember`], timestamps resolved to epoch milliseconds), and the changes a
//! timeline or a test applies to an organization ([`Change`]).
//!
//! Pure data and its wire shape: no I/O, no clock read (the time to resolve against
//! is always passed in).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time in a scenario: an absolute epoch-milliseconds value, or an offset
/// from the moment the value is set (`"now"`, `"now-45d"`, `"now+1h"`).
///
/// Relative stamps are resolved once, when the member is created or the change is
/// applied, never again when serving: a member "last seen now" at start-up keeps that
/// timestamp, so it goes inactive as the real clock moves on, as in Streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// Epoch milliseconds.
    Millis(i64),
    /// Milliseconds from the moment the value is set (negative: in the past).
    Relative(i64),
}

impl Stamp {
    /// The current moment.
    pub const NOW: Stamp = Stamp::Relative(0);

    /// `d` before the moment the value is set.
    pub fn ago(d: Duration) -> Stamp {
        Stamp::Relative(-(duration_ms(d)))
    }

    /// The epoch milliseconds this stamp denotes when set at `now_ms`.
    pub fn resolve(self, now_ms: i64) -> i64 {
        match self {
            Stamp::Millis(ms) => ms,
            Stamp::Relative(offset) => now_ms.saturating_add(offset),
        }
    }

    /// Parses `"now"`, `"now-<duration>"` or `"now+<duration>"` (humantime durations
    /// such as `45d`, `90s`, `2h 30m`), or a decimal number of epoch milliseconds.
    pub fn parse(text: &str) -> Result<Stamp, String> {
        let t = text.trim();
        if let Ok(ms) = t.parse::<i64>() {
            return Ok(Stamp::Millis(ms));
        }
        let Some(rest) = t.strip_prefix("now") else {
            return Err(format!(
                "`{text}` is not a timestamp: use epoch milliseconds, \"now\", \"now-45d\" or \"now+1h\""
            ));
        };
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(Stamp::NOW);
        }
        let (sign, dur) = if let Some(d) = rest.strip_prefix('-') {
            (-1, d)
        } else if let Some(d) = rest.strip_prefix('+') {
            (1, d)
        } else {
            return Err(format!(
                "`{text}`: expected `now-<duration>` or `now+<duration>`"
            ));
        };
        let d = humantime::parse_duration(dur.trim())
            .map_err(|e| format!("`{text}`: bad duration: {e}"))?;
        Ok(Stamp::Relative(sign * duration_ms(d)))
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Stamp::Millis(ms) => write!(f, "{ms}"),
            Stamp::Relative(0) => f.write_str("now"),
            Stamp::Relative(o) => {
                let d = humantime::format_duration(Duration::from_millis(o.unsigned_abs()));
                let sign = if o < 0 { '-' } else { '+' };
                write!(f, "now{sign}{d}")
            }
        }
    }
}

impl Serialize for Stamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Stamp::Millis(ms) => s.serialize_i64(ms),
            Stamp::Relative(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(ms) => Ok(Stamp::Millis(ms)),
            Raw::Text(t) => Stamp::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A member as a scenario file (or a test) describes it. Field names are Streak's,
/// so a scenario's members read like the API's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSpec {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_org_admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_timestamp: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Stamp>,
}

impl MemberSpec {
    /// A member with only a key.
    pub fn new(key: impl Into<String>) -> Self {
        MemberSpec {
            key: key.into(),
            ..MemberSpec::default()
        }
    }

    /// The member as served, its relative timestamps resolved against `now_ms`.
    pub fn resolve(&self, now_ms: i64) -> SimMember {
        SimMember {
            key: self.key.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            image: self.image.clone(),
            is_org_admin: self.is_org_admin,
            last_seen_ms: self.last_seen_timestamp.map(|s| s.resolve(now_ms)),
            creation_ms: self.creation_timestamp.map(|s| s.resolve(now_ms)),
        }
    }
}

impl From<SimMember> for MemberSpec {
    fn from(m: SimMember) -> Self {
        MemberSpec {
            key: m.key,
            email: m.email,
            display_name: m.display_name,
            first_name: m.first_name,
            last_name: m.last_name,
            image: m.image,
            is_org_admin: m.is_org_admin,
            last_seen_timestamp: m.last_seen_ms.map(Stamp::Millis),
            creation_timestamp: m.creation_ms.map(Stamp::Millis),
        }
    }
}

/// A member as the simulator serves it: every timestamp in epoch milliseconds.
/// `None` fields are left out of the JSON (faults can also send them as `null`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimMember {
    pub key: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Avatar URL.
    pub image: Option<String>,
    pub is_org_admin: Option<bool>,
    pub last_seen_ms: Option<i64>,
    pub creation_ms: Option<i64>,
}

impl SimMember {
    /// The member's JSON as Streak's endpoints return it, with its organization key.
    pub fn to_wire(&self, org_key: &str) -> serde_json::Value {
        // Serializing a struct of strings, bools and integers cannot fail.
        serde_json::to_value(WireUser::new(self, org_key)).unwrap_or(serde_json::Value::Null)
    }
}

/// The domain member with the same data: handy for benchmarks that feed generated
/// members straight into the diff.
impl From<&SimMember> for crate::membership::Member {
    fn from(m: &SimMember) -> Self {
        crate::membership::Member {
            key: m.key.clone(),
            email: m.email.clone(),
            display_name: m.display_name.clone(),
            first_name: m.first_name.clone(),
            last_name: m.last_name.clone(),
            image: m.image.clone(),
            is_org_admin: m.is_org_admin,
            last_seen_ms: m.last_seen_ms,
            creation_ms: m.creation_ms,
        }
    }
}

/// The wire shape of one user: Streak's field names, in Streak's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUser<'a> {
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_org_admin: Option<bool>,
    org_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_timestamp: Option<i64>,
}

impl<'a> WireUser<'a> {
    pub(crate) fn new(m: &'a SimMember, org_key: &'a str) -> Self {
        WireUser {
            key: &m.key,
            email: m.email.as_deref(),
            display_name: m.display_name.as_deref(),
            first_name: m.first_name.as_deref(),
            last_name: m.last_name.as_deref(),
            image: m.image.as_deref(),
            is_org_admin: m.is_org_admin,
            org_key,
            last_seen_timestamp: m.last_seen_ms,
            creation_timestamp: m.creation_ms,
        }
    }
}

/// Profile fields to overwrite; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl ProfilePatch {
    pub(crate) fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.display_name.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.image.is_none()
    }

    pub(crate) fn apply_to(&self, m: &mut SimMember) {
        let set = |field: &mut Option<String>, value: &Option<String>| {
            if let Some(v) = value {
                *field = Some(v.clone());
            }
        };
        set(&mut m.email, &self.email);
        set(&mut m.display_name, &self.display_name);
        set(&mut m.first_name, &self.first_name);
        set(&mut m.last_name, &self.last_name);
        set(&mut m.image, &self.image);
    }
}

/// The three endpoints the simulator serves. The names are the connector's metric
/// labels (`crate::metrics::endpoint`) and the scenario's `endpoint` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `GET /users/me`
    UsersMe,
    /// `GET /users/me/organization`
    Organization,
    /// `GET /organizations/{orgKey}/users`
    OrganizationUsers,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 3] = [
        Endpoint::UsersMe,
        Endpoint::Organization,
        Endpoint::OrganizationUsers,
    ];

    /// The name used in scenarios and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::UsersMe => crate::metrics::endpoint::USERS_ME,
            Endpoint::Organization => crate::metrics::endpoint::ORGANIZATION,
            Endpoint::OrganizationUsers => crate::metrics::endpoint::ORG_USERS,
        }
    }

    /// The endpoint named `name` (see [`Endpoint::as_str`]).
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long "going quiet" pushes a member's `lastSeenTimestamp` into the past:
/// beyond the connector's default `inactive_after` of 30 days.
pub const GO_QUIET_FOR: Duration = Duration::from_secs(60 * 24 * 3600);

/// One change to one organization, from a timeline or from a test
/// ([`RunningSimulator::apply`](super::RunningSimulator::apply)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A member joins (its relative timestamps resolve when the change applies).
    Join(MemberSpec),
    /// A member leaves. If they own an API key, that key gets 401 from now on (the
    /// "personal key trap").
    Leave { key: String },
    /// A member becomes (`true`) or stops being (`false`) an organization admin.
    SetAdmin { key: String, admin: bool },
    /// Profile fields change.
    Profile { key: String, patch: ProfilePatch },
    /// `lastSeenTimestamp` is set: [`Stamp::NOW`] for activity, [`Stamp::ago`] with
    /// [`GO_QUIET_FOR`] to go quiet.
    SetLastSeen { key: String, at: Stamp },
    /// The API key is revoked: every request with it gets 401 from now on.
    RevokeKey { api_key: String },
    /// A revoked API key works again.
    RestoreKey { api_key: String },
    /// The owner of the API key leaves the listing, but their keys keep working
    /// (until `RevokeKey`): the window in which the connector's owner watch warns
    /// before the key breaks. [`Change::Join`] of the owner ends it.
    OwnerLeaves { api_key: String },
    /// The owner of the API key stops being an organization admin.
    DemoteOwner { api_key: String },
}

impl Change {
    /// A short name for logs.
    pub fn action(&self) -> &'static str {
        match self {
            Change::Join(_) => "join",
            Change::Leave { .. } => "leave",
            Change::SetAdmin { .. } => "set_admin",
            Change::Profile { .. } => "profile",
            Change::SetLastSeen { .. } => "last_seen",
            Change::RevokeKey { .. } => "revoke_key",
            Change::RestoreKey { .. } => "restore_key",
            Change::OwnerLeaves { .. } => "owner_leaves",
            Change::DemoteOwner { .. } => "demote_owner",
        }
    }

    /// The member the change is about, if any.
    pub fn member_key(&self) -> Option<&str> {
        match self {
            Change::Join(m) => Some(&m.key),
            Change::Leave { key }
            | Change::SetAdmin { key, .. }
            | Change::Profile { key, .. }
            | Change::SetLastSeen { key, .. } => Some(key),
            Change::RevokeKey { .. }
            | Change::RestoreKey { .. }
            | Change::OwnerLeaves { .. }
            | Change::DemoteOwner { .. } => None,
        }
    }

    /// The API key the change is about, if any.
    pub fn api_key(&self) -> Option<&str> {
        match self {
            Change::RevokeKey { api_key }
            | Change::RestoreKey { api_key }
            | Change::OwnerLeaves { api_key }
            | Change::DemoteOwner { api_key } => Some(api_key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_and_resolve() {
        assert_eq!(Stamp::parse("now"), Ok(Stamp::NOW));
        assert_eq!(
            Stamp::parse("1700000000000"),
            Ok(Stamp::Millis(1_700_000_000_000))
        );
        assert_eq!(Stamp::parse("now-2d"), Ok(Stamp::Relative(-2 * 86_400_000)));
        assert_eq!(Stamp::parse("now + 1h"), Ok(Stamp::Relative(3_600_000)));
        assert!(Stamp::parse("yesterday").is_err());
        assert!(Stamp::parse("now*2").is_err());
        assert_eq!(Stamp::Relative(-1000).resolve(5000), 4000);
        assert_eq!(
            Stamp::parse(&Stamp::Relative(-90_000).to_string()),
            Ok(Stamp::Relative(-90_000))
        );
    }

    #[test]
    fn wire_shape_uses_streak_names_and_omits_missing_fields() {
        let m = SimMember {
            key: "k1".into(),
            display_name: Some("Ann".into()),
            is_org_admin: Some(true),
            last_seen_ms: Some(5),
            ..SimMember::default()
        };
        let v = m.to_wire("org1");
        assert_eq!(
            v,
            serde_json::json!({"key":"k1","displayName":"Ann","isOrgAdmin":true,
                "orgKey":"org1","lastSeenTimestamp":5})
        );
    }
}
