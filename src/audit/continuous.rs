//! Continuous reconciliation: the directory held beside the organizations' state,
//! and the finding CHANGES of each poll (appeared, changed, cleared) as records to
//! publish in that poll's transaction.
//!
//! [`Reconciler`] is pure, like the membership engine, and moves on the same way:
//! [`Reconciler::poll`] computes what a poll would publish from the state before
//! the poll and the poll's outcome (the state after it), without changing
//! anything; [`Reconciler::commit`] takes it in only after the transaction
//! committed. A restart rebuilds the last published findings by replaying the
//! findings topic (read committed) into [`Reconciler::restore`], so the first poll
//! after it publishes only what really changed: nothing is repeated, and what
//! changed while the process was down is not lost.
//!
//! The directory must be complete before findings are judged (a half-read
//! directory topic would flag everyone `not_in_directory`): polls yield nothing
//! until [`Reconciler::set_directory_loaded`].

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use crate::membership::{OrgState, PollChanges};

use super::directory::{Directory, DirectoryUpdate};
use super::reconcile::{Finding, FindingKind, ReconcileOptions, Reconciliation, Subject};

/// The version of the finding record's JSON shape.
pub(crate) const FINDING_SCHEMA_VERSION: u32 = 1;

/// The UUIDv5 namespace of finding ids:
/// `uuid5(NAMESPACE_URL, "urn:streak-connector:reconcile-finding")`.
pub(crate) fn finding_id_namespace() -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        b"urn:streak-connector:reconcile-finding",
    )
}

/// What happened to a subject's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FindingChange {
    /// A finding where there was none.
    Appeared,
    /// A finding that differs from the last one (kind or any field).
    Changed,
    /// No finding any more where there was one.
    Cleared,
}

impl FindingChange {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingChange::Appeared => "APPEARED",
            FindingChange::Changed => "CHANGED",
            FindingChange::Cleared => "CLEARED",
        }
    }
}

/// One finding change: the value of a findings topic record (see `docs/audit.md`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FindingRecord {
    pub schema_version: u32,
    /// UUIDv5 of organization, subject, change and poll sequence: a replayed poll
    /// gets the same ids, so consumers can drop duplicates.
    pub finding_id: String,
    pub change: FindingChange,
    pub org_key: String,
    /// The member; `None` for `directory_only`.
    pub user_key: Option<String>,
    /// The subject's normalised email (from `after`, else `before`).
    pub email: Option<String>,
    /// The poll's `now` (connector clock, epoch ms).
    pub detected_at_ms: i64,
    pub poll_seq: u64,
    pub before: Option<Finding>,
    pub after: Option<Finding>,
}

/// A findings topic record key: the organization and the subject, so that a
/// compacted topic keeps each subject's last finding.
#[derive(Debug, serde::Serialize)]
struct RecordKey<'a> {
    org_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

impl FindingRecord {
    pub fn subject(&self) -> Subject {
        match &self.user_key {
            Some(k) => Subject::Member(k.clone()),
            None => Subject::Directory(self.email.clone().unwrap_or_default()),
        }
    }

    /// The record key: `{"org_key":..,"user_key":..}`, or `{"org_key":..,"email":..}`
    /// for `directory_only`.
    pub fn key_json(&self) -> String {
        let key = RecordKey {
            org_key: &self.org_key,
            user_key: self.user_key.as_deref(),
            email: self
                .user_key
                .is_none()
                .then_some(self.email.as_deref())
                .flatten(),
        };
        // A struct of strings always serializes.
        serde_json::to_string(&key).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        // Strings, integers and enums only: always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

fn finding_id(org_key: &str, subject: &Subject, change: FindingChange, poll_seq: u64) -> String {
    let (tag, id) = match subject {
        Subject::Member(k) => ("member", k.as_str()),
        Subject::Directory(e) => ("directory", e.as_str()),
    };
    let mut name = Vec::new();
    for part in [org_key, tag, id, change.as_str()] {
        name.extend_from_slice(&(part.len() as u32).to_be_bytes());
        name.extend_from_slice(part.as_bytes());
    }
    name.extend_from_slice(&poll_seq.to_be_bytes());
    Uuid::new_v5(&finding_id_namespace(), &name).to_string()
}

/// What one poll would publish; hand it to [`Reconciler::commit`] once the poll's
/// transaction committed, drop it if the transaction aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFindings {
    pub org_key: String,
    /// In subject order (members by key, then directory entries by email).
    pub records: Vec<FindingRecord>,
    /// The directory version judged, `None` when the poll judged nothing.
    evaluated: Option<u64>,
}

#[derive(Debug, Default)]
struct OrgFindings {
    findings: BTreeMap<Subject, Finding>,
    /// The directory version of the last committed evaluation.
    evaluated: Option<u64>,
}

/// The directory and the last published findings of every organization.
#[derive(Debug)]
pub struct Reconciler {
    options: ReconcileOptions,
    directory: Directory,
    /// Bumped by every directory update that changed something.
    version: u64,
    loaded: bool,
    orgs: HashMap<String, OrgFindings>,
}

impl Reconciler {
    /// A reconciler over `directory` (often empty, filled from the directory topic).
    pub fn new(directory: Directory, options: ReconcileOptions) -> Self {
        Reconciler {
            options,
            directory,
            version: 0,
            loaded: false,
            orgs: HashMap::new(),
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Apply a directory topic record. Its effect is published by the next poll of
    /// each organization.
    pub fn apply_directory(&mut self, update: DirectoryUpdate) {
        let unchanged = match &update {
            DirectoryUpdate::Upsert { normalised, entry } => {
                self.directory.get(normalised).map(|e| (&e.email, e.status))
                    == Some((&entry.email, entry.status))
            }
            DirectoryUpdate::Remove { normalised } => self.directory.get(normalised).is_none(),
        };
        self.directory.apply(update);
        if !unchanged {
            self.version += 1;
        }
    }

    /// The directory topic was read to its end: polls may judge findings now.
    pub fn set_directory_loaded(&mut self) {
        self.loaded = true;
    }

    pub fn directory_loaded(&self) -> bool {
        self.loaded
    }

    /// Replay one committed findings topic record (oldest first): the subject's
    /// finding becomes the record's `after`.
    pub fn restore(&mut self, record: &FindingRecord) {
        let org = self.orgs.entry(record.org_key.clone()).or_default();
        match &record.after {
            Some(f) => org.findings.insert(record.subject(), f.clone()),
            None => org.findings.remove(&record.subject()),
        };
    }

    /// The organization's last published findings, in their documented order.
    pub fn findings(&self, org_key: &str) -> Vec<Finding> {
        let mut all: Vec<Finding> = self
            .orgs
            .get(org_key)
            .map(|o| o.findings.values().cloned().collect())
            .unwrap_or_default();
        super::reconcile::sort_findings(&mut all);
        all
    }

    /// Published findings by kind (for `streak_connector_reconcile_findings`).
    pub fn counts(&self, org_key: &str) -> [(FindingKind, usize); 3] {
        let org = self.orgs.get(org_key);
        FindingKind::ALL.map(|kind| {
            let n = org.map_or(0, |o| {
                o.findings.values().filter(|f| f.kind == kind).count()
            });
            (kind, n)
        })
    }

    /// The finding changes of one poll: `state` is the organization before the
    /// poll, `changes` the poll's (not yet committed) changes. A held poll, or any
    /// poll before the directory is loaded, yields nothing.
    pub(crate) fn poll(&self, state: &OrgState, changes: &PollChanges) -> PendingFindings {
        let org_key = state.org_key();
        let mut pending = PendingFindings {
            org_key: org_key.to_owned(),
            records: Vec::new(),
            evaluated: None,
        };
        let Some(checkpoint) = changes.checkpoint().filter(|_| self.loaded) else {
            return pending;
        };
        let known = self.orgs.get(org_key);
        let members_written = !changes.is_empty();
        pending.evaluated = Some(self.version);
        if !members_written && known.and_then(|o| o.evaluated) == Some(self.version) {
            // Neither the members nor the directory changed: nor can the findings.
            return pending;
        }
        let now = self.judge(state, changes);
        let empty = BTreeMap::new();
        let before = known.map_or(&empty, |o| &o.findings);
        let subjects: BTreeMap<&Subject, ()> =
            before.keys().chain(now.keys()).map(|s| (s, ())).collect();
        for subject in subjects.keys() {
            let (old, new) = (before.get(*subject), now.get(*subject));
            let change = match (old, new) {
                (None, Some(_)) => FindingChange::Appeared,
                (Some(_), None) => FindingChange::Cleared,
                (Some(o), Some(n)) if o != n => FindingChange::Changed,
                _ => continue,
            };
            let latest = new.or(old);
            pending.records.push(FindingRecord {
                schema_version: FINDING_SCHEMA_VERSION,
                finding_id: finding_id(org_key, subject, change, checkpoint.poll_seq),
                change,
                org_key: org_key.to_owned(),
                user_key: latest.and_then(|f| f.user_key.clone()),
                email: latest.and_then(|f| f.normalised_email.clone()),
                detected_at_ms: checkpoint.last_poll_ms,
                poll_seq: checkpoint.poll_seq,
                before: old.cloned(),
                after: new.cloned(),
            });
        }
        pending
    }

    /// All findings of the organization as it is after the poll: the state with
    /// the changed members laid over it.
    fn judge(&self, state: &OrgState, changes: &PollChanges) -> BTreeMap<Subject, Finding> {
        let mut r = Reconciliation::new(state.org_key(), &self.directory, self.options);
        let mut written = HashSet::new();
        for i in 0..changes.len() {
            written.insert(changes.user_key(i, state));
            if let Some(s) = changes.after(i) {
                r.member(&s.member);
            }
        }
        for s in state.iter() {
            if !written.contains(s.member.key.as_str()) {
                r.member(&s.member);
            }
        }
        r.finish().into_iter().map(|f| (f.subject(), f)).collect()
    }

    /// Take in a poll's findings after its transaction committed.
    pub fn commit(&mut self, pending: PendingFindings) {
        for record in &pending.records {
            self.restore(record);
        }
        if let Some(version) = pending.evaluated {
            self.orgs.entry(pending.org_key).or_default().evaluated = Some(version);
        }
    }
}
