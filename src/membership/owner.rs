//! The key owner watch (issue 12.2): every Streak API key belongs to one person, and
//! the key breaks when that person leaves the organization. Given the owner of a key
//! (from `GET /users/me`) and the organization as the last poll left it, this says
//! which risks apply: the owner left the listing, went inactive by the connector's
//! own rule ([`is_inactive`], the rule of INACTIVE events), or is no longer an admin.
//! They feed `streak_connector_api_key_owner_at_risk{org,key,reason}`.
//!
//! Pure, like the rest of the module: the time comes in, the verdict goes out.
//!
//! The owner is found by user key, Streak's stable identity: an email now listed
//! under another user key is another account, and the key still belongs to the old
//! one. The email is kept for reports (`check`), not for matching.

use std::fmt;

use super::diff::is_inactive;
use super::model::{Member, MemberState};
use super::settings::Settings;
use super::state::OrgState;

/// Why a key's owner puts the key at risk: the `reason` label of
/// `streak_connector_api_key_owner_at_risk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerRisk {
    /// The owner is no longer in the organization's listing.
    Left,
    /// The owner's last activity is older than the inactivity threshold.
    Inactive,
    /// The owner is listed as not an admin (an unknown admin flag is no risk).
    NotAdmin,
}

impl OwnerRisk {
    /// Every reason, for zero-valued series.
    pub const ALL: [OwnerRisk; 3] = [OwnerRisk::Left, OwnerRisk::Inactive, OwnerRisk::NotAdmin];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerRisk::Left => "left",
            OwnerRisk::Inactive => "inactive",
            OwnerRisk::NotAdmin => "not_admin",
        }
    }
}

impl fmt::Display for OwnerRisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who owns a key, as `GET /users/me` answered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The owner's Streak user key: what is matched against the listing.
    pub user_key: String,
    /// The owner's email, for reports only.
    pub email: Option<String>,
}

/// Which risks apply to one key's owner; each is 1 or 0 in the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnerRisks {
    pub left: bool,
    pub inactive: bool,
    pub not_admin: bool,
}

impl OwnerRisks {
    /// Whether `risk` applies.
    pub fn get(&self, risk: OwnerRisk) -> bool {
        match risk {
            OwnerRisk::Left => self.left,
            OwnerRisk::Inactive => self.inactive,
            OwnerRisk::NotAdmin => self.not_admin,
        }
    }

    /// `(reason, 1 or 0)` for every reason, in [`OwnerRisk::ALL`] order: the
    /// metric's series, zeros included.
    pub fn series(&self) -> impl Iterator<Item = (OwnerRisk, i64)> + '_ {
        OwnerRisk::ALL
            .into_iter()
            .map(|r| (r, i64::from(self.get(r))))
    }

    /// The reasons that apply, in [`OwnerRisk::ALL`] order.
    pub fn reasons(&self) -> Vec<OwnerRisk> {
        OwnerRisk::ALL
            .into_iter()
            .filter(|r| self.get(*r))
            .collect()
    }

    /// Whether any reason applies.
    pub fn any(&self) -> bool {
        self.left || self.inactive || self.not_admin
    }
}

/// The owner as the organization lists them, and the risks that follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerAssessment {
    /// The owner's state in the organization; `None` when not listed.
    pub listed: Option<MemberState>,
    pub risks: OwnerRisks,
}

/// The risks of one member as the owner of a key (`None`: the owner is not listed).
/// Someone who left is only `left`: their activity and admin flag are unknown.
pub fn owner_risks(owner: Option<&Member>, now_ms: i64, settings: &Settings) -> OwnerRisks {
    match owner {
        None => OwnerRisks {
            left: true,
            ..OwnerRisks::default()
        },
        Some(m) => OwnerRisks {
            left: false,
            inactive: is_inactive(m, now_ms, settings.inactive_after_ms),
            not_admin: m.is_org_admin == Some(false),
        },
    }
}

/// Looks the key's owner up in the organization's state after a poll and assesses
/// the risks at `now_ms`.
pub(crate) fn assess_owner(
    owner: &KeyOwner,
    state: &OrgState,
    now_ms: i64,
    settings: &Settings,
) -> OwnerAssessment {
    let listed = state.get(&owner.user_key);
    let risks = owner_risks(listed.as_ref().map(|s| &s.member), now_ms, settings);
    OwnerAssessment { listed, risks }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;
    const NOW: i64 = 1_000 * DAY;

    fn member(key: &str, admin: Option<bool>, last_seen_days_ago: Option<i64>) -> Member {
        Member {
            key: key.into(),
            email: Some(format!("{key}@example.com")),
            is_org_admin: admin,
            last_seen_ms: last_seen_days_ago.map(|d| NOW - d * DAY),
            ..Member::default()
        }
    }

    fn state(members: &[Member]) -> OrgState {
        let mut s = OrgState::new("org-a");
        for m in members {
            s.insert(MemberState {
                member: m.clone(),
                inactive: false,
                first_seen_ms: 0,
                last_changed_ms: 0,
            });
        }
        s
    }

    fn owner(key: &str) -> KeyOwner {
        KeyOwner {
            user_key: key.into(),
            email: Some(format!("{key}@example.com")),
        }
    }

    #[test]
    fn an_active_admin_owner_is_no_risk() {
        let s = state(&[member("u-alice", Some(true), Some(1))]);
        let a = assess_owner(&owner("u-alice"), &s, NOW, &Settings::default());
        assert_eq!(a.risks, OwnerRisks::default());
        assert!(!a.risks.any());
        assert_eq!(a.listed.map(|l| l.member.key), Some("u-alice".into()));
        let series: Vec<_> = a.risks.series().collect();
        assert_eq!(
            series,
            [
                (OwnerRisk::Left, 0),
                (OwnerRisk::Inactive, 0),
                (OwnerRisk::NotAdmin, 0)
            ]
        );
    }

    #[test]
    fn an_owner_who_left_is_only_left() {
        let s = state(&[member("u-bob", Some(true), Some(1))]);
        let a = assess_owner(&owner("u-alice"), &s, NOW, &Settings::default());
        assert_eq!(a.listed, None);
        assert_eq!(a.risks.reasons(), [OwnerRisk::Left]);
    }

    #[test]
    fn the_same_email_under_another_user_key_is_another_account() {
        let mut other = member("u-alice-new", Some(true), Some(1));
        other.email = Some("u-alice@example.com".into());
        let s = state(&[other]);
        let a = assess_owner(&owner("u-alice"), &s, NOW, &Settings::default());
        assert_eq!(a.risks.reasons(), [OwnerRisk::Left]);
    }

    #[test]
    fn inactivity_follows_the_connectors_own_rule() {
        let settings = Settings::default(); // 30 days
        let s = state(&[
            member("u-quiet", Some(true), Some(31)),
            member("u-edge", Some(true), Some(30)),
            member("u-never", Some(true), None),
        ]);
        let risks = |k| assess_owner(&owner(k), &s, NOW, &settings).risks;
        assert_eq!(risks("u-quiet").reasons(), [OwnerRisk::Inactive]);
        assert!(
            !risks("u-edge").inactive,
            "exactly 30 days is not beyond 30"
        );
        assert!(!risks("u-never").inactive, "no timestamp: never inactive");
        let strict = Settings {
            inactive_after_ms: DAY,
            ..Settings::default()
        };
        assert!(
            assess_owner(&owner("u-edge"), &s, NOW, &strict)
                .risks
                .inactive
        );
    }

    #[test]
    fn a_demoted_owner_is_not_admin_and_an_unknown_flag_is_no_risk() {
        let s = state(&[
            member("u-demoted", Some(false), Some(1)),
            member("u-unknown", None, Some(1)),
            member("u-both", Some(false), Some(90)),
        ]);
        let risks = |k| assess_owner(&owner(k), &s, NOW, &Settings::default()).risks;
        assert_eq!(risks("u-demoted").reasons(), [OwnerRisk::NotAdmin]);
        assert!(!risks("u-unknown").any());
        assert_eq!(
            risks("u-both").reasons(),
            [OwnerRisk::Inactive, OwnerRisk::NotAdmin]
        );
        assert_eq!(OwnerRisk::NotAdmin.to_string(), "not_admin");
        assert_eq!(
            OwnerRisk::ALL.map(OwnerRisk::as_str),
            ["left", "inactive", "not_admin"]
        );
    }
}
