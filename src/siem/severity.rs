//! Severity of SIEM records: the OCSF `severity_id` scale, and which severity each
//! kind of change gets. Pure data with defaults; the configuration (`[ocsf.severity]`) parses into
//! [`Severities`] through [`Severity`]'s `FromStr` or serde.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// OCSF's `severity_id` scale (1.8.0), without `Other` (99), which would need a
/// source-specific name the connector has none of. ECS records carry the same
/// number in `event.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    Informational,
    Low,
    Medium,
    High,
    Critical,
    Fatal,
}

impl Severity {
    /// Every value, lowest first.
    pub const ALL: [Severity; 7] = [
        Severity::Unknown,
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
        Severity::Fatal,
    ];

    /// OCSF `severity_id`.
    pub fn id(self) -> u8 {
        match self {
            Severity::Unknown => 0,
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
            Severity::Fatal => 6,
        }
    }

    /// OCSF's caption for the id (the `severity` attribute).
    pub fn caption(self) -> &'static str {
        match self {
            Severity::Unknown => "Unknown",
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
            Severity::Fatal => "Fatal",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.caption().to_ascii_lowercase())
    }
}

/// A severity name that is not one of [`Severity::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown severity {0:?}: expected unknown, informational, low, medium, high, critical or fatal"
)]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    /// Case-insensitive caption (`"high"`, `"High"`) or OCSF id (`"4"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Severity::ALL
            .into_iter()
            .find(|v| v.caption().eq_ignore_ascii_case(wanted) || v.id().to_string() == wanted)
            .ok_or_else(|| UnknownSeverity(s.to_string()))
    }
}

/// A severity in TOML (or any serde format): a name in any case (`"high"`), or the
/// OCSF id as a string (`"4"`) or a number (`4`), as [`FromStr`] reads it.
impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Id(i64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Id(n) => n.to_string(),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The severity of each kind of change. The defaults rank by what a security team
/// acts on: an admin grant (or an account that appears as an admin) is Medium, the
/// loss of admin rights and a dormant account coming back are Low, everything else is
/// Informational. A field per case, so a deployment can raise one without touching
/// the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Severities {
    /// SNAPSHOT: the baseline of an organization, not a change.
    pub snapshot: Severity,
    /// JOINED of a member who is not (known to be) an admin.
    pub joined: Severity,
    /// JOINED of a member who is an admin already (no ADMIN_CHANGED follows).
    pub joined_as_admin: Severity,
    /// LEFT of a member who was not (known to be) an admin.
    pub left: Severity,
    /// LEFT of a member who was an admin.
    pub left_as_admin: Severity,
    /// ADMIN_CHANGED to admin, from `false` or from unknown.
    pub admin_granted: Severity,
    /// ADMIN_CHANGED from admin to not admin.
    pub admin_revoked: Severity,
    /// ADMIN_CHANGED from unknown to "not admin": Streak reported the flag at last.
    pub admin_reported: Severity,
    /// PROFILE_CHANGED.
    pub profile_changed: Severity,
    /// WENT_INACTIVE.
    pub went_inactive: Severity,
    /// REACTIVATED: a dormant account is active again.
    pub reactivated: Severity,
}

impl Default for Severities {
    fn default() -> Self {
        Severities {
            snapshot: Severity::Informational,
            joined: Severity::Informational,
            joined_as_admin: Severity::Medium,
            left: Severity::Informational,
            left_as_admin: Severity::Low,
            admin_granted: Severity::Medium,
            admin_revoked: Severity::Low,
            admin_reported: Severity::Informational,
            profile_changed: Severity::Informational,
            went_inactive: Severity::Informational,
            reactivated: Severity::Low,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captions_and_ids() {
        assert_eq!("High".parse::<Severity>(), Ok(Severity::High));
        assert_eq!(" medium ".parse::<Severity>(), Ok(Severity::Medium));
        assert_eq!("1".parse::<Severity>(), Ok(Severity::Informational));
        assert!("99".parse::<Severity>().is_err());
        assert!("urgent".parse::<Severity>().is_err());
        for s in Severity::ALL {
            assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
        }
    }

    #[test]
    fn defaults_rank_a_grant_above_informational() {
        let d = Severities::default();
        assert!(d.admin_granted > Severity::Informational);
        assert!(d.joined_as_admin > Severity::Informational);
        assert!(d.admin_granted > d.admin_revoked);
        assert_eq!(d.snapshot, Severity::Informational);
    }

    #[test]
    fn toml_overrides_one_field_and_keeps_the_rest() {
        let s: Severities = toml::from_str("admin_granted = \"high\"").unwrap();
        assert_eq!(s.admin_granted, Severity::High);
        assert_eq!(s.reactivated, Severities::default().reactivated);
        assert!(toml::from_str::<Severities>("admin_grant = \"high\"").is_err());
        let s: Severities =
            toml::from_str("left = \"Low\"\nreactivated = 4\njoined = \"3\"").unwrap();
        assert_eq!(
            (s.left, s.reactivated, s.joined),
            (Severity::Low, Severity::High, Severity::Medium)
        );
        assert!(toml::from_str::<Severities>("left = 99").is_err());
        assert!(toml::from_str::<Severities>("left = \"urgent\"").is_err());
    }
}
