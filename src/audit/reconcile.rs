//! Reconciliation: an organization's members against the directory, by normalised
//! email (the directory's [`super::EmailNormalisation`], so both sides are
//! normalised alike). It owns the finding rules and their order, and must not read
//! anything: the members and the directory are handed in.
//!
//! - `not_in_directory`: a member whose email the directory does not hold (or who
//!   has no usable email): an account no directory identity backs.
//! - `inactive_in_directory`: a member whose directory entry is suspended or
//!   deleted: still in Streak, gone from the company.
//! - `directory_only` (optional): an active directory entry that no member of the
//!   organization has.
//!
//! Findings are sorted admins first, then by normalised email (none last), then
//! kind and user key: the same inputs always give the same list.

use std::collections::HashSet;

use crate::membership::Member;

use super::directory::Directory;
use super::status::DirectoryStatus;

/// The kinds of finding.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    NotInDirectory,
    InactiveInDirectory,
    DirectoryOnly,
}

impl FindingKind {
    pub const ALL: [FindingKind; 3] = [
        FindingKind::NotInDirectory,
        FindingKind::InactiveInDirectory,
        FindingKind::DirectoryOnly,
    ];

    /// The wire name (JSON, CSV, metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::NotInDirectory => "not_in_directory",
            FindingKind::InactiveInDirectory => "inactive_in_directory",
            FindingKind::DirectoryOnly => "directory_only",
        }
    }

    /// What a person does about it.
    pub fn action(self) -> &'static str {
        match self {
            FindingKind::NotInDirectory => {
                "no directory identity: confirm the owner, then remove in the Streak UI"
            }
            FindingKind::InactiveInDirectory => {
                "suspended or deleted in the directory: remove in the Streak UI"
            }
            FindingKind::DirectoryOnly => "in the directory, not in Streak: invite if expected",
        }
    }
}

/// Who a finding is about: a member by user key, or (directory only) a directory
/// entry by normalised email.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Member(String),
    Directory(String),
}

/// One finding of one organization.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub org_key: String,
    /// The member's key; `None` for `directory_only`.
    pub user_key: Option<String>,
    /// As Streak has it (a member) or as the directory has it (`directory_only`).
    pub email: Option<String>,
    /// The normalised email compared; `None` when the member has no usable email.
    pub normalised_email: Option<String>,
    pub display_name: Option<String>,
    pub is_org_admin: Option<bool>,
    /// The directory's status, for `inactive_in_directory` and `directory_only`.
    pub directory_status: Option<DirectoryStatus>,
}

impl Finding {
    pub fn subject(&self) -> Subject {
        match &self.user_key {
            Some(k) => Subject::Member(k.clone()),
            None => Subject::Directory(self.normalised_email.clone().unwrap_or_default()),
        }
    }

    fn order_key(&self) -> (bool, bool, Option<&str>, FindingKind, Option<&str>) {
        let email = self.normalised_email.as_deref();
        (
            self.is_org_admin != Some(true),
            email.is_none(),
            email,
            self.kind,
            self.user_key.as_deref(),
        )
    }
}

/// Sort findings into their documented order.
pub(crate) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// What to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// Also report `directory_only`.
    pub directory_only: bool,
}

/// The finding of one member, if any.
pub(crate) fn member_finding(
    org_key: &str,
    member: &Member,
    directory: &Directory,
) -> Option<Finding> {
    let normalised = member
        .email
        .as_deref()
        .and_then(|e| directory.normalisation().normalise(e));
    let entry = normalised.as_deref().and_then(|n| directory.get(n));
    let (kind, status) = match entry {
        None => (FindingKind::NotInDirectory, None),
        Some(e) if e.status == DirectoryStatus::Active => return None,
        Some(e) => (FindingKind::InactiveInDirectory, Some(e.status)),
    };
    Some(Finding {
        kind,
        org_key: org_key.to_owned(),
        user_key: Some(member.key.clone()),
        email: member.email.clone(),
        normalised_email: normalised,
        display_name: super::roster::display_name(member),
        is_org_admin: member.is_org_admin,
        directory_status: status,
    })
}

/// Collects the findings of one organization member by member, so a caller can
/// stream members without collecting them.
#[derive(Debug)]
pub(crate) struct Reconciliation<'d> {
    org_key: String,
    directory: &'d Directory,
    options: ReconcileOptions,
    findings: Vec<Finding>,
    /// Members' normalised emails, for `directory_only`.
    seen: HashSet<String>,
}

impl<'d> Reconciliation<'d> {
    pub(crate) fn new(org_key: &str, directory: &'d Directory, options: ReconcileOptions) -> Self {
        Reconciliation {
            org_key: org_key.to_owned(),
            directory,
            options,
            findings: Vec::new(),
            seen: HashSet::new(),
        }
    }

    pub(crate) fn member(&mut self, member: &Member) {
        if self.options.directory_only {
            if let Some(n) = member
                .email
                .as_deref()
                .and_then(|e| self.directory.normalisation().normalise(e))
            {
                self.seen.insert(n);
            }
        }
        if let Some(f) = member_finding(&self.org_key, member, self.directory) {
            self.findings.push(f);
        }
    }

    /// The findings, in their documented order.
    pub(crate) fn finish(mut self) -> Vec<Finding> {
        if self.options.directory_only {
            for (normalised, entry) in self.directory.iter() {
                if entry.status == DirectoryStatus::Active && !self.seen.contains(normalised) {
                    self.findings.push(Finding {
                        kind: FindingKind::DirectoryOnly,
                        org_key: self.org_key.clone(),
                        user_key: None,
                        email: Some(entry.email.clone()),
                        normalised_email: Some(normalised.to_owned()),
                        display_name: None,
                        is_org_admin: None,
                        directory_status: Some(entry.status),
                    });
                }
            }
        }
        sort_findings(&mut self.findings);
        self.findings
    }
}

/// The findings of one organization's members against the directory.
pub fn reconcile<'m>(
    org_key: &str,
    members: impl IntoIterator<Item = &'m Member>,
    directory: &Directory,
    options: ReconcileOptions,
) -> Vec<Finding> {
    let mut r = Reconciliation::new(org_key, directory, options);
    members.into_iter().for_each(|m| r.member(m));
    r.finish()
}

/// The findings of one organization's state against the directory.
pub(crate) fn reconcile_state(
    state: &crate::membership::OrgState,
    directory: &Directory,
    options: ReconcileOptions,
) -> Vec<Finding> {
    let mut r = Reconciliation::new(state.org_key(), directory, options);
    state.iter().for_each(|s| r.member(&s.member));
    r.finish()
}
