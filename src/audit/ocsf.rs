//! Finding records as OCSF 1.8.0: the class **Detection Finding** (2004, category
//! Findings), one record per [`FindingRecord`].
//!
//! Why Detection Finding and not Account Change (3001): Account Change reports a
//! change made to an account (a password set, an MFA enabled), with the actor who
//! made it. A reconciliation finding is no such change: nothing happened to the
//! Streak account, the connector *concluded* that an account needs a person's look
//! (an orphan, a leaver still a member). That is what the Findings category is for:
//! a finding with a lifecycle (appears, is updated, is closed), a stable id across
//! its updates, a remediation and the affected resource. Detection Finding is the
//! general class of it (Compliance Finding would need a compliance standard and
//! control, which a directory comparison does not have).
//!
//! | change | `activity_id` | `status_id` |
//! | --- | --- | --- |
//! | APPEARED | Create (1) | New (1) |
//! | CHANGED | Update (2) | New (1) |
//! | CLEARED | Close (3) | Resolved (4) |
//!
//! `finding_info.uid` is the subject's finding (organization and subject), the same
//! for every record of one finding's life; `metadata.uid` is the record's
//! `finding_id`. The affected member is `resources[0]` (type "Streak member", owner
//! the user); what OCSF has no attribute for (the kinds before and after, the
//! directory status, the poll sequence) goes under `unmapped.streak`.

use serde_json::{json, Map, Value};

use super::continuous::{FindingChange, FindingRecord};
use super::reconcile::{Finding, FindingKind};
use crate::siem::ocsf::{is_ocsf_email, OCSF_VERSION};
use crate::siem::PRODUCT_NAME;

/// The OCSF class of every finding record.
pub const FINDING_CLASS_UID: u32 = 2004;

fn title(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::NotInDirectory => "Streak member not in the directory",
        FindingKind::InactiveInDirectory => "Streak member suspended or deleted in the directory",
        FindingKind::DirectoryOnly => "Active directory entry not a Streak member",
    }
}

/// The severity of a finding: an admin account without a directory identity, or of
/// someone who left, is High; any other member Medium; `directory_only` (nobody has
/// access) Informational. A cleared finding keeps the severity it had.
fn severity(f: &Finding) -> (u32, &'static str) {
    match (f.kind, f.is_org_admin) {
        (FindingKind::DirectoryOnly, _) => (1, "Informational"),
        (_, Some(true)) => (4, "High"),
        _ => (3, "Medium"),
    }
}

/// The OCSF record of a finding change.
pub fn finding_record(r: &FindingRecord, product_version: &str) -> Value {
    let (activity_id, activity, status_id, status) = match r.change {
        FindingChange::Appeared => (1, "Create", 1, "New"),
        FindingChange::Changed => (2, "Update", 1, "New"),
        FindingChange::Cleared => (3, "Close", 4, "Resolved"),
    };
    // Every record has a finding before or after it (a change of nothing is none).
    let latest = r.after.as_ref().or(r.before.as_ref());
    let kind = latest.map_or(FindingKind::NotInDirectory, |f| f.kind);
    let (severity_id, severity) = latest.map_or((1, "Informational"), severity);
    let subject = match &r.user_key {
        Some(k) => format!("member:{k}"),
        None => format!("directory:{}", r.email.as_deref().unwrap_or_default()),
    };
    let mut streak = Map::new();
    streak.insert("change".into(), json!(r.change.as_str()));
    streak.insert("poll_seq".into(), json!(r.poll_seq));
    streak.insert(
        "kind_before".into(),
        json!(r.before.as_ref().map(|f| f.kind)),
    );
    streak.insert("kind_after".into(), json!(r.after.as_ref().map(|f| f.kind)));
    streak.insert(
        "directory_status".into(),
        json!(latest.and_then(|f| f.directory_status).map(|s| s.as_str())),
    );
    let message = match r.change {
        FindingChange::Cleared => format!("Cleared: {}", title(kind)),
        _ => format!("{}: {}", title(kind), kind.action()),
    };
    let mut record = json!({
        "activity_id": activity_id,
        "activity_name": activity,
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": FINDING_CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": u64::from(FINDING_CLASS_UID) * 100 + activity_id,
        "type_name": format!("Detection Finding: {activity}"),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "time": r.detected_at_ms,
        "message": message,
        "metadata": {
            "uid": r.finding_id,
            "version": OCSF_VERSION,
            "product": { "name": PRODUCT_NAME, "version": product_version },
            "tenant_uid": r.org_key,
            "event_code": kind.as_str(),
        },
        "finding_info": {
            "uid": format!("{}/{subject}", r.org_key),
            "title": title(kind),
            "types": [kind.as_str()],
        },
        "remediation": { "desc": kind.action() },
    });
    if let Some(f) = latest {
        let resource = resource(f, &mut streak);
        if let Some(o) = record.as_object_mut() {
            o.insert("resources".into(), json!([resource]));
        }
    }
    if let Some(o) = record.as_object_mut() {
        o.insert("unmapped".into(), json!({ "streak": streak }));
    }
    record
}

/// The affected member (or directory entry) as an OCSF `resource_details`.
fn resource(f: &Finding, streak: &mut Map<String, Value>) -> Value {
    let mut user = Map::new();
    if let Some(k) = &f.user_key {
        user.insert("uid".into(), json!(k));
    }
    let (type_id, type_caption) = match f.is_org_admin {
        Some(true) => (2, "Admin"),
        Some(false) => (1, "User"),
        None => (0, "Unknown"),
    };
    user.insert("type_id".into(), json!(type_id));
    user.insert("type".into(), json!(type_caption));
    if let Some(email) = &f.email {
        user.insert("name".into(), json!(email));
        if is_ocsf_email(email) {
            user.insert("email_addr".into(), json!(email));
        } else {
            streak.insert("email".into(), json!(email));
        }
    }
    if let Some(d) = &f.display_name {
        user.insert("display_name".into(), json!(d));
    }
    let (uid, kind) = match &f.user_key {
        Some(k) => (k.clone(), "Streak member"),
        None => (
            f.normalised_email.clone().unwrap_or_default(),
            "Directory entry",
        ),
    };
    json!({
        "uid": uid,
        "type": kind,
        "group": { "uid": f.org_key, "name": f.org_key },
        "owner": Value::Object(user),
    })
}

/// [`finding_record`] as compact UTF-8 JSON (a Kafka record's value).
pub fn finding_record_bytes(r: &FindingRecord, product_version: &str) -> Vec<u8> {
    finding_record(r, product_version).to_string().into_bytes()
}
