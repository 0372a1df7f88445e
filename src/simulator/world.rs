//! The simulator's live state: organizations and their members, API keys, the
//! timeline's progress, request counters; and the decision of what one request gets.
//!
//! Synchronous and lock-free by itself: the server holds it behind one mutex and calls
//! [`World::handle`] per request, so request numbering, timeline and faults see one
//! consistent order. Must not sleep or do I/O (delays are returned, not waited).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{json, Value};

use super::clock::Clock;
use super::faults::{self, Class, Fault, FaultKind};
use super::generate::generate_members_at;
use super::model::{duration_ms, Change, Endpoint, SimMember, WireUser};
use super::org::OrgRuntime;
use super::reply::{status_reply, Plan, Reply};
use super::scenario::{Scenario, Settings, Timeline, Trigger};
use super::stats::{ChangeApplied, FaultInjected, SimStats};
use super::SimError;

/// A catch-up cap: after a long pause, a repeating timeline replays at most this many
/// of each entry's missed occurrences (older whole cycles are skipped).
const MAX_CATCH_UP: u64 = 1000;

#[derive(Debug)]
struct KeyState {
    org: usize,
    /// The owner's member key.
    owner: String,
    revoked: bool,
    /// The owner as last listed, after [`Change::OwnerLeaves`]: the key keeps
    /// working and `/users/me` answers with this copy until the owner rejoins, leaves
    /// for good or the key is revoked.
    detached: Option<SimMember>,
}

/// One API key of a running simulator, as a test or the demo sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApiKey {
    /// The (fake) API key.
    pub api_key: String,
    pub org: String,
    /// The owner's member key.
    pub owner: String,
    /// Revoked: every request with it gets 401.
    pub revoked: bool,
    /// Whether the owner is in the organization's listing now.
    pub owner_listed: bool,
}

/// Everything the simulator knows, behind the server's mutex.
#[derive(Debug)]
pub(crate) struct World {
    orgs: Vec<OrgRuntime>,
    org_index: HashMap<String, usize>,
    keys: HashMap<String, KeyState>,
    settings: Settings,
    timeline: Timeline,
    /// Occurrences of each timeline entry already applied.
    applied: Vec<u64>,
    faults: Vec<Fault>,
    stats: SimStats,
}

/// Who sent a request, as far as its `Authorization` header says.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credentials<'a> {
    /// No header, or not HTTP Basic, or not decodable.
    Missing,
    /// The Basic username: the API key.
    Key(&'a str),
}

impl World {
    /// Builds the state at start: members resolved against the clock's start time.
    pub(crate) fn new(scenario: Scenario, clock: &dyn Clock) -> World {
        let now_ms = clock.start_ms();
        let mut orgs = Vec::new();
        let mut keys = HashMap::new();
        for (i, spec) in scenario.orgs.into_iter().enumerate() {
            let mut org = OrgRuntime {
                key: spec.key,
                name: spec.name,
                creation_ms: spec.creation.map(|s| s.resolve(now_ms)),
                members: BTreeMap::new(),
                index: HashMap::new(),
                next_seq: 0,
                cache: None,
            };
            let generated = spec
                .generate
                .map(|(count, seed)| generate_members_at(count, seed, now_ms))
                .unwrap_or_default();
            let members = spec.members.iter().map(|m| m.resolve(now_ms));
            for m in members.chain(generated) {
                // Validation refused duplicate keys; a clash here would be a bug,
                // and dropping the second copy is the harmless outcome.
                let _ = org.insert(m);
            }
            for (key, owner) in spec.api_keys {
                keys.insert(
                    key,
                    KeyState {
                        org: i,
                        owner,
                        revoked: false,
                        detached: None,
                    },
                );
            }
            orgs.push(org);
        }
        let org_index = orgs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.key.clone(), i))
            .collect();
        World {
            orgs,
            org_index,
            keys,
            settings: scenario.settings,
            applied: vec![0; scenario.timeline.entries.len()],
            timeline: scenario.timeline,
            faults: scenario.faults,
            stats: SimStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> SimStats {
        self.stats.clone()
    }

    /// The members of `org` now (after any change due by now).
    pub(crate) fn members(
        &mut self,
        org: &str,
        clock: &dyn Clock,
    ) -> Result<Vec<SimMember>, SimError> {
        self.advance(clock);
        let i = self.org(org)?;
        Ok(self.orgs[i].members.values().cloned().collect())
    }

    /// Applies a change from a test, after any timeline change due by now.
    pub(crate) fn apply_now(
        &mut self,
        org: &str,
        change: Change,
        clock: &dyn Clock,
    ) -> Result<(), SimError> {
        self.advance(clock);
        let i = self.org(org)?;
        self.apply(i, change, clock.now_ms(), "api")
    }

    /// The organization of an API key.
    pub(crate) fn key_org(&self, api_key: &str) -> Option<&str> {
        self.keys
            .get(api_key)
            .map(|k| self.orgs[k.org].key.as_str())
    }

    /// Every API key of `org`, sorted by key, after any change due by now.
    pub(crate) fn api_keys(
        &mut self,
        org: &str,
        clock: &dyn Clock,
    ) -> Result<Vec<SimApiKey>, SimError> {
        self.advance(clock);
        let i = self.org(org)?;
        let mut keys: Vec<SimApiKey> = self
            .keys
            .iter()
            .filter(|(_, k)| k.org == i)
            .map(|(api_key, k)| SimApiKey {
                api_key: api_key.clone(),
                org: org.to_owned(),
                owner: k.owner.clone(),
                revoked: k.revoked,
                owner_listed: self.orgs[i].member(&k.owner).is_some(),
            })
            .collect();
        keys.sort_by(|a, b| a.api_key.cmp(&b.api_key));
        Ok(keys)
    }

    fn org(&self, key: &str) -> Result<usize, SimError> {
        self.org_index
            .get(key)
            .copied()
            .ok_or_else(|| SimError::UnknownOrganization(key.to_owned()))
    }

    fn apply(
        &mut self,
        org: usize,
        change: Change,
        now_ms: i64,
        source: &'static str,
    ) -> Result<(), SimError> {
        let action = change.action();
        let member = match change.api_key() {
            Some(api_key) => Some(self.owner_of(org, api_key)?),
            None => change.member_key().map(str::to_owned),
        };
        let o = &mut self.orgs[org];
        match change {
            Change::Join(spec) => {
                let key = spec.key.clone();
                o.insert(spec.resolve(now_ms))?;
                self.detach(org, &key, None);
            }
            Change::Leave { key } => {
                o.remove(&key)?;
                self.detach(org, &key, None);
            }
            Change::OwnerLeaves { .. } => {
                let owner = member.clone().unwrap_or_default();
                let gone = o.remove(&owner)?;
                self.detach(org, &owner, Some(gone));
            }
            Change::DemoteOwner { .. } => {
                let owner = member.as_deref().unwrap_or_default();
                o.member_mut(owner)?.is_org_admin = Some(false);
            }
            Change::SetAdmin { key, admin } => o.member_mut(&key)?.is_org_admin = Some(admin),
            Change::Profile { key, patch } => patch.apply_to(o.member_mut(&key)?),
            Change::SetLastSeen { key, at } => {
                o.member_mut(&key)?.last_seen_ms = Some(at.resolve(now_ms));
            }
            Change::RevokeKey { api_key } => self.set_revoked(org, &api_key, true)?,
            Change::RestoreKey { api_key } => self.set_revoked(org, &api_key, false)?,
        }
        ChangeApplied {
            org: &self.orgs[org].key,
            action,
            member: member.as_deref(),
            source,
        }
        .emit(&mut self.stats);
        Ok(())
    }

    /// The owner of `api_key`, which must be a key of `org`.
    fn owner_of(&self, org: usize, api_key: &str) -> Result<String, SimError> {
        match self.keys.get(api_key) {
            Some(k) if k.org == org => Ok(k.owner.clone()),
            _ => Err(SimError::UnknownApiKey {
                org: self.orgs[org].key.clone(),
            }),
        }
    }

    /// Sets (or clears) the detached copy of `owner` on every key of `org` they own.
    fn detach(&mut self, org: usize, owner: &str, copy: Option<SimMember>) {
        for k in self.keys.values_mut() {
            if k.org == org && k.owner == owner {
                k.detached = copy.clone();
            }
        }
    }

    fn set_revoked(&mut self, org: usize, api_key: &str, revoked: bool) -> Result<(), SimError> {
        match self.keys.get_mut(api_key) {
            Some(k) if k.org == org => {
                k.revoked = revoked;
                Ok(())
            }
            _ => Err(SimError::UnknownApiKey {
                org: self.orgs[org].key.clone(),
            }),
        }
    }

    /// Applies every timeline occurrence due by now, in order.
    fn advance(&mut self, clock: &dyn Clock) {
        let elapsed = clock.elapsed();
        // (trigger class, position, entry, occurrence time in ms or None)
        let mut due: Vec<(u8, u128, usize, Option<i64>)> = Vec::new();
        for (i, e) in self.timeline.entries.iter().enumerate() {
            let target = match e.trigger {
                Trigger::At(t) => occurrences(
                    elapsed.as_nanos(),
                    t.as_nanos(),
                    self.timeline.repeat_every.map(|p| p.as_nanos()),
                ),
                Trigger::AfterRequests(n) => {
                    let count = self.stats.org_requests(&e.org, Endpoint::OrganizationUsers);
                    occurrences(
                        count.into(),
                        n.into(),
                        self.timeline.repeat_every_requests.map(u128::from),
                    )
                }
            } as u64;
            let from = self.applied[i].max(target.saturating_sub(MAX_CATCH_UP));
            for j in from..target {
                match e.trigger {
                    Trigger::At(t) => {
                        let p = self.timeline.repeat_every.unwrap_or_default();
                        let at = t + p * u32::try_from(j).unwrap_or(u32::MAX);
                        due.push((
                            0,
                            at.as_nanos(),
                            i,
                            Some(clock.start_ms() + duration_ms(at)),
                        ));
                    }
                    Trigger::AfterRequests(n) => {
                        let p = self.timeline.repeat_every_requests.unwrap_or(0);
                        due.push((1, u128::from(n + p * j), i, None));
                    }
                }
            }
            self.applied[i] = target;
        }
        due.sort();
        for (_, _, i, at_ms) in due {
            let entry = &self.timeline.entries[i];
            let (org_key, change) = (entry.org.clone(), entry.change.clone());
            let now_ms = at_ms.unwrap_or_else(|| clock.now_ms());
            let result = self
                .org(&org_key)
                .and_then(|org| self.apply(org, change, now_ms, "timeline"));
            if let Err(error) = result {
                tracing::warn!(org = %org_key, entry = i, %error, "Timeline change skipped");
            }
        }
    }

    /// Decides the response to one request.
    pub(crate) fn handle(
        &mut self,
        endpoint: Endpoint,
        path_org: Option<&str>,
        credentials: Credentials<'_>,
        clock: &dyn Clock,
    ) -> Plan {
        self.advance(clock);
        let key_state = match credentials {
            Credentials::Key(k) => self.keys.get(k),
            Credentials::Missing => None,
        };
        // The organization the request is about, for counters and fault targeting.
        let org: Option<usize> = match endpoint {
            Endpoint::OrganizationUsers => path_org.and_then(|p| self.org_index.get(p).copied()),
            _ => key_state.map(|k| k.org),
        };
        let org_key = org.map(|i| self.orgs[i].key.clone());
        let numbers = self.stats.count(endpoint, org_key.as_deref());

        let mut delay = Duration::ZERO;
        let mut delays = Vec::new();
        let mut status_fault = None;
        let mut transforms = Vec::new();
        let mut serialization = None;
        for (fi, f) in self.faults.iter().enumerate() {
            if !f.targets(org_key.as_deref(), endpoint) {
                continue;
            }
            let n = numbers.for_scope(f.org.is_some(), f.endpoint.is_some());
            if !f.when.matches(n) {
                continue;
            }
            match f.kind.class() {
                Class::Delay => {
                    if let FaultKind::Delay(d) = f.kind {
                        delay += d;
                    }
                    delays.push((fi, n));
                }
                Class::Status => {
                    status_fault.get_or_insert((fi, n));
                }
                Class::Transform => transforms.push((fi, n)),
                Class::Serialization => {
                    serialization.get_or_insert((fi, n));
                }
            }
        }
        for (fi, n) in delays {
            self.record_fault(fi, org_key.as_deref(), endpoint, n);
        }
        let reply = if let Some((fi, n)) = status_fault {
            self.record_fault(fi, org_key.as_deref(), endpoint, n);
            status_reply(&self.faults[fi].kind)
        } else {
            self.respond(
                endpoint,
                path_org,
                credentials,
                &transforms,
                serialization,
                org_key.as_deref(),
            )
        };
        self.stats.record_status(reply.status.as_u16());
        Plan { delay, reply }
    }

    fn record_fault(&mut self, fi: usize, org: Option<&str>, endpoint: Endpoint, n: u64) {
        FaultInjected {
            kind: self.faults[fi].kind.name(),
            org,
            endpoint,
            request: n,
        }
        .emit(&mut self.stats);
    }

    /// The normal answer (auth checked), with transforms and a serialization fault.
    fn respond(
        &mut self,
        endpoint: Endpoint,
        path_org: Option<&str>,
        credentials: Credentials<'_>,
        transforms: &[(usize, u64)],
        serialization: Option<(usize, u64)>,
        org_key: Option<&str>,
    ) -> Reply {
        let key = match credentials {
            Credentials::Missing => return Reply::unauthorized(
                "Authentication required: use HTTP Basic auth with your API key as the user name",
            ),
            Credentials::Key(k) => k,
        };
        let Some(state) = self.keys.get(key) else {
            return Reply::unauthorized("Invalid API key");
        };
        if state.revoked {
            return Reply::unauthorized("This API key has been revoked");
        }
        let key_org = state.org;
        let listed = self.orgs[key_org].member(&state.owner).cloned();
        let Some(owner) = listed.or_else(|| state.detached.clone()) else {
            return Reply::unauthorized(
                "The owner of this API key is no longer a member of the organization",
            );
        };
        let list = endpoint == Endpoint::OrganizationUsers;
        if list {
            match path_org.and_then(|p| self.org_index.get(p).copied()) {
                None => return Reply::error(StatusCode::NOT_FOUND, "Organization not found"),
                Some(i) if i != key_org => {
                    return Reply::error(
                        self.settings.foreign_org_status,
                        "This API key has no access to that organization",
                    )
                }
                Some(_) => {}
            }
        }
        for &(fi, n) in transforms.iter().chain(serialization.iter()) {
            self.record_fault(fi, org_key, endpoint, n);
        }
        let o = &mut self.orgs[key_org];
        let body: Bytes = if endpoint == Endpoint::Organization {
            let mut org = json!({ "key": o.key, "name": o.name });
            if let Some(ms) = o.creation_ms {
                org["creationTimestamp"] = json!(ms);
            }
            Bytes::from(serde_json::to_vec(&org).unwrap_or_default())
        } else if transforms.is_empty() {
            if list {
                o.listing_bytes()
            } else {
                Bytes::from(serde_json::to_vec(&WireUser::new(&owner, &o.key)).unwrap_or_default())
            }
        } else {
            let mut entries = if list {
                o.entries()
            } else {
                vec![owner.to_wire(&o.key)]
            };
            let mut as_object = false;
            for &(fi, _) in transforms {
                let kind = &self.faults[fi].kind;
                as_object |= matches!(kind, FaultKind::ObjectBody);
                faults::transform(kind, &mut entries);
            }
            let value = if !list {
                entries.into_iter().next().unwrap_or(Value::Null)
            } else if as_object {
                faults::object_body(entries)
            } else {
                Value::Array(entries)
            };
            Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
        };
        match serialization.map(|(fi, _)| &self.faults[fi].kind) {
            Some(FaultKind::MalformedJson) => Reply::json(
                StatusCode::OK,
                Bytes::from_static(faults::malformed_body(list)),
            ),
            Some(FaultKind::TruncatedBody {
                fraction,
                abort_connection,
            }) => {
                let keep = faults::truncated_len(body.len(), *fraction);
                if *abort_connection {
                    Reply {
                        abort_after: Some(keep),
                        ..Reply::json(StatusCode::OK, body)
                    }
                } else {
                    Reply::json(StatusCode::OK, body.slice(..keep))
                }
            }
            _ => Reply::json(StatusCode::OK, body),
        }
    }
}

/// How many occurrences of a trigger at `at`, repeating every `period`, are due at
/// `now` (all in the same unit).
fn occurrences(now: u128, at: u128, period: Option<u128>) -> u128 {
    if now < at {
        0
    } else {
        match period {
            Some(p) if p > 0 => (now - at) / p + 1,
            _ => 1,
        }
    }
}
