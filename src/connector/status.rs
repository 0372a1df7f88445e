//! The connector's status as a person asks for it: what `/status` serves (JSON) and
//! `streak-connector status` prints, in the spirit of Kafka Connect's
//! `/connectors/<name>/status`.
//!
//! [`StatusBoard`] is written by the poll cycle (like [`super::Health`]: the poller
//! calls it where it updates health) and read by the HTTP side door, which takes a
//! [`ConnectorStatus`] snapshot. The same types deserialize on the command's side.
//!
//! Keys: each organization lists its API keys by fingerprint (never a key) with
//! their state, and `key_at_risk` says whether the owner of a healthy key is at risk.
//! Both are filled through [`StatusBoard::set_keys`]: today the poller sets the one
//! key that polls the organization, `active`, with no risk known; the key pools
//! (`keypool::KeyPool`: active, standby, rejected) and the owner watch
//! (`membership::owner`: left, inactive, not_admin) fill them with every key of the
//! pool and its owner's risks, through the same call.
//!
//! Nothing here reads a clock or awaits: time comes in as epoch milliseconds.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::audit::rfc3339;

/// One organization's state, worst first: a failing organization may also be
/// held or have a key at risk, and is shown as failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgState {
    /// Its last poll failed.
    Failing,
    /// The departure guard holds it: nothing is written until an operator acts.
    Held,
    /// Polling works, but the owner of a healthy key is at risk (left, inactive,
    /// not an admin): the key may stop working.
    KeyAtRisk,
    /// Its last poll committed.
    Running,
    /// No poll has finished yet.
    Starting,
}

impl OrgState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgState::Failing => "failing",
            OrgState::Held => "held",
            OrgState::KeyAtRisk => "key_at_risk",
            OrgState::Running => "running",
            OrgState::Starting => "starting",
        }
    }
}

/// One API key of an organization, named by its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// The first 8 hex digits of the key's SHA-256 ([`crate::streak::ApiKey::fingerprint`]).
    pub fingerprint: String,
    /// `active` (it polls), `standby` or `rejected`: [`crate::keypool::KeyState`]'s
    /// labels.
    pub state: String,
    /// Why the key's owner puts the key at risk (`left`, `inactive`, `not_admin`:
    /// [`crate::membership::owner::OwnerRisk`]'s labels); empty when none is known.
    #[serde(default)]
    pub owner_risks: Vec<String>,
}

impl KeyStatus {
    /// The key that polls its organization, with no risk known.
    pub fn active(fingerprint: &str) -> Self {
        KeyStatus {
            fingerprint: fingerprint.to_string(),
            state: crate::keypool::KeyState::Active.as_str().to_string(),
            owner_risks: Vec::new(),
        }
    }

    /// Healthy (not rejected) and its owner at risk.
    fn at_risk(&self) -> bool {
        self.state != crate::keypool::KeyState::Rejected.as_str() && !self.owner_risks.is_empty()
    }
}

/// One organization in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgStatus {
    /// The organization key (or `key:<fingerprint>` while the key's organization is
    /// not known yet).
    pub org: String,
    pub state: OrgState,
    /// When the last poll committed (RFC 3339, UTC), if one did since start-up.
    pub last_success_at: Option<String>,
    /// Seconds from the last committed poll to the snapshot.
    pub seconds_since_last_success: Option<i64>,
    /// The checkpoint's poll sequence number: polls committed, ever.
    pub poll_seq: u64,
    /// Known members after the last committed poll (or the restore).
    pub members: usize,
    /// Failed polls in a row (0 after a poll that committed or was held).
    pub consecutive_failures: u32,
    /// The fixed error code of the last failure, while failing.
    pub last_error_code: Option<String>,
    /// Departures of the poll the guard holds, while held.
    pub held_departures: Option<usize>,
    /// Whether the owner of a healthy key is at risk.
    pub key_at_risk: bool,
    pub keys: Vec<KeyStatus>,
}

/// Who answers: the connector's name, version and instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    /// The connector name (the root of its transactional id).
    pub name: String,
    pub version: String,
    /// This run of the connector: the host (the pod name in Kubernetes) and a
    /// start nonce, as in the events' `source.instance`.
    pub instance: String,
    pub pid: u32,
    /// When the process started (RFC 3339, UTC).
    pub started_at: String,
}

impl ConnectorInfo {
    /// This process, named `name`, started at `started_ms` (epoch ms), with a new
    /// instance id ([`instance_id`]).
    pub fn this_process(name: &str, started_ms: i64) -> Self {
        ConnectorInfo {
            name: name.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            instance: instance_id(),
            pid: std::process::id(),
            started_at: rfc3339(started_ms),
        }
    }
}

/// What `/status` serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorStatus {
    pub connector: ConnectorInfo,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub generated_at: String,
    /// What `/readyz` says.
    pub ready: bool,
    pub not_ready_reason: Option<String>,
    /// By organization key.
    pub organizations: Vec<OrgStatus>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    last_success_ms: Option<i64>,
    poll_seq: u64,
    members: usize,
    consecutive_failures: u32,
    last_error_code: Option<&'static str>,
    held_departures: Option<usize>,
    polled: bool,
    keys: Vec<KeyStatus>,
}

/// The status the poll cycle keeps for `/status`.
#[derive(Debug, Default)]
pub struct StatusBoard {
    connector: OnceLock<ConnectorInfo>,
    orgs: Mutex<BTreeMap<String, Entry>>,
}

impl StatusBoard {
    /// Names the connector (once; later calls are ignored).
    pub fn identify(&self, info: ConnectorInfo) {
        let _ = self.connector.set(info);
    }

    /// The instance id, once identified: the events carry the same.
    pub fn instance(&self) -> Option<String> {
        self.connector.get().map(|c| c.instance.clone())
    }

    fn with(&self, org: &str, f: impl FnOnce(&mut Entry)) {
        if let Ok(mut orgs) = self.orgs.lock() {
            f(orgs.entry(org.to_string()).or_default());
        }
    }

    /// The key with `fingerprint` learned its organization: its restored members and
    /// poll sequence; the key polls it. Drops the `key:<fingerprint>` entry that
    /// failures before the organization was known made.
    pub fn org_resolved(&self, org: &str, fingerprint: &str, members: usize, poll_seq: u64) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.remove(&format!("key:{fingerprint}"));
        }
        self.with(org, |e| {
            e.members = members;
            e.poll_seq = poll_seq;
        });
        self.set_keys(org, vec![KeyStatus::active(fingerprint)]);
    }

    /// The organization's keys and their states (the key pool's view).
    pub fn set_keys(&self, org: &str, keys: Vec<KeyStatus>) {
        self.with(org, |e| e.keys = keys);
    }

    /// A poll committed at `now_ms`.
    pub fn poll_committed(&self, org: &str, poll_seq: u64, members: usize, now_ms: i64) {
        self.with(org, |e| {
            e.polled = true;
            e.last_success_ms = Some(now_ms);
            e.poll_seq = poll_seq;
            e.members = members;
            e.consecutive_failures = 0;
            e.last_error_code = None;
            e.held_departures = None;
        });
    }

    /// The departure guard held a poll with `departures`.
    pub fn poll_held(&self, org: &str, departures: usize) {
        self.with(org, |e| {
            e.polled = true;
            e.consecutive_failures = 0;
            e.last_error_code = None;
            e.held_departures = Some(departures);
        });
    }

    /// A poll failed with a fixed error code.
    pub fn poll_failed(&self, org: &str, error_code: &'static str) {
        self.with(org, |e| {
            e.polled = true;
            e.consecutive_failures += 1;
            e.last_error_code = Some(error_code);
        });
    }

    /// The status at `now_ms`, with what `/readyz` says.
    pub fn snapshot(&self, now_ms: i64, readiness: Result<(), String>) -> ConnectorStatus {
        let organizations = match self.orgs.lock() {
            Ok(orgs) => orgs
                .iter()
                .map(|(org, e)| org_status(org, e, now_ms))
                .collect(),
            Err(_) => Vec::new(),
        };
        let connector = self
            .connector
            .get()
            .cloned()
            .unwrap_or_else(|| ConnectorInfo::this_process("", now_ms));
        ConnectorStatus {
            connector,
            generated_at: rfc3339(now_ms),
            ready: readiness.is_ok(),
            not_ready_reason: readiness.err(),
            organizations,
        }
    }
}

fn org_status(org: &str, e: &Entry, now_ms: i64) -> OrgStatus {
    let key_at_risk = e.keys.iter().any(KeyStatus::at_risk);
    let state = if e.last_error_code.is_some() {
        OrgState::Failing
    } else if e.held_departures.is_some() {
        OrgState::Held
    } else if key_at_risk {
        OrgState::KeyAtRisk
    } else if e.polled {
        OrgState::Running
    } else {
        OrgState::Starting
    };
    OrgStatus {
        org: org.to_string(),
        state,
        last_success_at: e.last_success_ms.map(rfc3339),
        seconds_since_last_success: e.last_success_ms.map(|t| (now_ms - t).max(0) / 1000),
        poll_seq: e.poll_seq,
        members: e.members,
        consecutive_failures: e.consecutive_failures,
        last_error_code: e.last_error_code.map(str::to_string),
        held_departures: e.held_departures,
        key_at_risk,
        keys: e.keys.clone(),
    }
}

/// This process's identity in events' `source.instance`: the host (or pod) name and
/// a random start nonce, so two runs of one host are told apart.
pub(crate) fn instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    let nonce: u32 = rand::random();
    format!("{host}-{nonce:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org<'a>(s: &'a ConnectorStatus, key: &str) -> &'a OrgStatus {
        s.organizations
            .iter()
            .find(|o| o.org == key)
            .expect("organization listed")
    }

    #[test]
    fn states_follow_the_last_poll_worst_first() {
        let b = StatusBoard::default();
        b.poll_failed("key:abcd1234", "transport");
        b.org_resolved("o1", "abcd1234", 3, 7);
        let s = b.snapshot(0, Err("state not restored yet".into()));
        assert_eq!(s.organizations.len(), 1, "the key: entry is gone: {s:?}");
        let o = org(&s, "o1");
        assert_eq!((o.state, o.poll_seq, o.members), (OrgState::Starting, 7, 3));
        assert_eq!(o.keys, vec![KeyStatus::active("abcd1234")]);
        assert!(!s.ready);

        b.poll_committed("o1", 8, 4, 10_000);
        let s = b.snapshot(72_500, Ok(()));
        let o = org(&s, "o1");
        assert_eq!(o.state, OrgState::Running);
        assert_eq!(o.last_success_at.as_deref(), Some("1970-01-01T00:00:10Z"));
        assert_eq!(o.seconds_since_last_success, Some(62));
        assert_eq!((o.poll_seq, o.members), (8, 4));

        b.poll_held("o1", 12);
        assert_eq!(org(&b.snapshot(0, Ok(())), "o1").state, OrgState::Held);
        b.poll_failed("o1", "unauthorized");
        b.poll_failed("o1", "unauthorized");
        let s = b.snapshot(0, Ok(()));
        let o = org(&s, "o1");
        assert_eq!(o.state, OrgState::Failing);
        assert_eq!(o.consecutive_failures, 2);
        assert_eq!(o.last_error_code.as_deref(), Some("unauthorized"));
        assert_eq!(o.held_departures, Some(12), "still held behind the failure");

        b.poll_committed("o1", 9, 4, 20_000);
        let o = b.snapshot(20_000, Ok(())).organizations.remove(0);
        assert_eq!((o.state, o.consecutive_failures), (OrgState::Running, 0));
        assert_eq!((o.last_error_code, o.held_departures), (None, None));
    }

    #[test]
    fn a_healthy_key_whose_owner_is_at_risk_puts_the_org_at_risk() {
        let b = StatusBoard::default();
        b.poll_committed("o1", 1, 1, 0);
        let key = |fp: &str, state: &str, risks: &[&str]| KeyStatus {
            fingerprint: fp.into(),
            state: state.into(),
            owner_risks: risks.iter().map(|r| r.to_string()).collect(),
        };
        b.set_keys(
            "o1",
            vec![key("aa", "active", &[]), key("bb", "rejected", &["left"])],
        );
        let o = b.snapshot(0, Ok(())).organizations.remove(0);
        assert_eq!((o.state, o.key_at_risk), (OrgState::Running, false));
        b.set_keys(
            "o1",
            vec![key("aa", "active", &[]), key("bb", "standby", &["left"])],
        );
        let o = b.snapshot(0, Ok(())).organizations.remove(0);
        assert_eq!((o.state, o.key_at_risk), (OrgState::KeyAtRisk, true));
    }

    #[test]
    fn the_snapshot_round_trips_through_json_and_names_the_connector() {
        let b = StatusBoard::default();
        b.identify(ConnectorInfo::this_process("crm-prod", 0));
        b.identify(ConnectorInfo::this_process("ignored", 0));
        b.org_resolved("o1", "abcd1234", 2, 1);
        let s = b.snapshot(1_000, Ok(()));
        assert_eq!(s.connector.name, "crm-prod");
        assert_eq!(s.connector.version, env!("CARGO_PKG_VERSION"));
        assert!(!s.connector.instance.is_empty());
        let json = serde_json::to_value(&s).expect("serializes");
        assert_eq!(json["organizations"][0]["state"], "starting");
        assert_eq!(json["organizations"][0]["keys"][0]["state"], "active");
        let back: ConnectorStatus = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, s);
    }
}
