//! The OCSF 1.8.0 mapping: one record per change event, of the class that fits the
//! change (see `docs/siem.md` for the table and the reasons):
//!
//! | change | class | activity |
//! | --- | --- | --- |
//! | SNAPSHOT | User Inventory Info (5003) | Collect (2) |
//! | JOINED / LEFT | Group Management (3006) | Add User (3) / Remove User (4) |
//! | ADMIN_CHANGED | User Access Management (3005) | Assign (1) / Revoke Privileges (2), Other (99) for a first report of "not admin" |
//! | PROFILE_CHANGED | Account Change (3001) | Other (99), `activity_name` "Profile Change" |
//! | WENT_INACTIVE / REACTIVATED | Entity Management (3004) | Deactivate (11) / Activate (10) |
//!
//! Only attributes of the 1.8.0 class (with no profile) are written, so each record
//! validates against `OcsfJsonSchemaEmbedded(...).get_class_schema(class)`; what OCSF
//! has no attribute for goes under `unmapped.streak`. No actor: Streak has no audit log.

use serde_json::{json, Map, Value};

use super::{
    changed_fields, full_name, message, subject, Change, SiemOptions, ADMIN_PRIVILEGE, NO_ACTOR,
    PRODUCT_NAME,
};
use crate::membership::{ChangeEvent, MemberState};

/// The OCSF schema version of every record (`metadata.version`).
pub(crate) const OCSF_VERSION: &str = "1.8.0";

/// An OCSF event class, as the records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct OcsfClass {
    /// `class_uid`.
    pub uid: u32,
    /// The schema's class name (`group_management`): what a JSON Schema of the class is
    /// built from, and a natural name for one Security Lake custom source per class.
    pub name: &'static str,
    /// `class_name`, the class caption.
    pub caption: &'static str,
    /// `category_uid`.
    pub category_uid: u32,
    /// `category_name`.
    pub category_name: &'static str,
}

const IAM: (u32, &str) = (3, "Identity & Access Management");
const DISCOVERY: (u32, &str) = (5, "Discovery");

const fn class(
    uid: u32,
    name: &'static str,
    caption: &'static str,
    cat: (u32, &'static str),
) -> OcsfClass {
    OcsfClass {
        uid,
        name,
        caption,
        category_uid: cat.0,
        category_name: cat.1,
    }
}

pub(crate) const USER_INVENTORY: OcsfClass =
    class(5003, "user_inventory", "User Inventory Info", DISCOVERY);
pub(crate) const GROUP_MANAGEMENT: OcsfClass =
    class(3006, "group_management", "Group Management", IAM);
pub(crate) const USER_ACCESS: OcsfClass = class(3005, "user_access", "User Access Management", IAM);
pub(crate) const ACCOUNT_CHANGE: OcsfClass = class(3001, "account_change", "Account Change", IAM);
pub(crate) const ENTITY_MANAGEMENT: OcsfClass =
    class(3004, "entity_management", "Entity Management", IAM);

/// The class and activity of a change: `(class, activity_id, activity caption,
/// activity_name)`. The caption is OCSF's (it names `type_name`); `activity_name`
/// differs only for Other (99), where it is Streak's own name for the activity.
pub(crate) fn activity(change: Change) -> (OcsfClass, u32, &'static str, &'static str) {
    match change {
        Change::Snapshot => (USER_INVENTORY, 2, "Collect", "Collect"),
        Change::Joined => (GROUP_MANAGEMENT, 3, "Add User", "Add User"),
        Change::Left => (GROUP_MANAGEMENT, 4, "Remove User", "Remove User"),
        Change::AdminGranted => (USER_ACCESS, 1, "Assign Privileges", "Assign Privileges"),
        Change::AdminRevoked => (USER_ACCESS, 2, "Revoke Privileges", "Revoke Privileges"),
        Change::AdminReported => (USER_ACCESS, 99, "Other", "Admin Status Reported"),
        Change::ProfileChanged => (ACCOUNT_CHANGE, 99, "Other", "Profile Change"),
        Change::WentInactive => (ENTITY_MANAGEMENT, 11, "Deactivate", "Deactivate"),
        Change::Reactivated => (ENTITY_MANAGEMENT, 10, "Activate", "Activate"),
    }
}

#[cfg(test)]
/// The OCSF class of an event's record (to route records per class).
pub(crate) fn class_of(event: &ChangeEvent) -> OcsfClass {
    activity(Change::of(event)).0
}

/// [`record`] as compact UTF-8 JSON, keys sorted: the value of a Kafka record, or
/// one line of `tail` output (without the newline).
pub(crate) fn record_bytes(event: &ChangeEvent, options: &SiemOptions) -> Vec<u8> {
    record(event, options).to_string().into_bytes()
}

/// The OCSF 1.8.0 record of one change event.
pub(crate) fn record(event: &ChangeEvent, options: &SiemOptions) -> Value {
    let change = Change::of(event);
    let (class, activity_id, caption, activity_name) = activity(change);
    let severity = change.severity(event, &options.severities);
    let mut streak = Map::new();
    streak.insert("event_type".into(), json!(event.event_type.as_str()));
    streak.insert("poll_seq".into(), json!(event.poll_seq));
    streak.insert("actor".into(), json!(NO_ACTOR));
    let mut r = json!({
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": class.category_uid,
        "category_name": class.category_name,
        "class_uid": class.uid,
        "class_name": class.caption,
        "type_uid": u64::from(class.uid) * 100 + u64::from(activity_id),
        "type_name": format!("{}: {}", class.caption, caption),
        "severity_id": severity.id(),
        "severity": severity.caption(),
        "status_id": 1,
        "status": "Success",
        "time": event.detected_at_ms,
        "message": message(event, change, options),
        "metadata": {
            "uid": event.event_id.to_string(),
            "version": OCSF_VERSION,
            "product": { "name": PRODUCT_NAME, "version": options.product_version },
            "tenant_uid": event.org_key,
            "event_code": event.event_type.as_str(),
        },
    });
    let body = class_body(event, change, options, &mut streak);
    if let (Some(r), Value::Object(body)) = (r.as_object_mut(), body) {
        r.extend(body);
        r.insert("unmapped".into(), json!({ "streak": streak }));
    }
    r
}

/// The class-specific attributes; what OCSF has no attribute for goes into `streak`.
fn class_body(
    event: &ChangeEvent,
    change: Change,
    o: &SiemOptions,
    streak: &mut Map<String, Value>,
) -> Value {
    let subject = subject(event);
    match change {
        Change::Snapshot => json!({ "user": user(event, subject, o, true, streak) }),
        Change::Joined | Change::Left => json!({
            "user": user(event, subject, o, false, streak),
            "group": group(event, o),
        }),
        Change::AdminGranted | Change::AdminRevoked | Change::AdminReported => {
            streak.insert(
                "is_org_admin_before".into(),
                admin_of(event.before.as_ref()),
            );
            streak.insert("is_org_admin_after".into(), admin_of(event.after.as_ref()));
            json!({
                "user": user(event, subject, o, true, streak),
                "privileges": [ADMIN_PRIVILEGE],
            })
        }
        Change::ProfileChanged => {
            streak.insert("changed_fields".into(), json!(changed_fields(event)));
            json!({
                "user": user(event, event.before.as_ref(), o, true, streak),
                "user_result": user(event, event.after.as_ref(), o, true, streak),
            })
        }
        Change::WentInactive | Change::Reactivated => {
            let last_seen = subject.and_then(|s| s.member.last_seen_ms);
            streak.insert("last_seen_at".into(), json!(last_seen));
            streak.insert("inactive".into(), json!(change == Change::WentInactive));
            json!({
                "entity": entity(event, event.before.as_ref(), o, streak),
                "entity_result": entity(event, event.after.as_ref(), o, streak),
                "comment": "Inactivity is derived by the connector: a member is inactive when its \
                            last activity in Streak is older than the connector's inactivity threshold",
            })
        }
    }
}

fn admin_of(state: Option<&MemberState>) -> Value {
    json!(state.and_then(|s| s.member.is_org_admin))
}

/// The Streak organization as an OCSF `group`.
fn group(event: &ChangeEvent, o: &SiemOptions) -> Value {
    json!({
        "uid": event.org_key,
        "name": o.org_name(&event.org_key),
        "type": "Streak organization",
    })
}

/// A managed entity of type User (Entity Management) wrapping the member.
fn entity(
    event: &ChangeEvent,
    state: Option<&MemberState>,
    o: &SiemOptions,
    streak: &mut Map<String, Value>,
) -> Value {
    let name = state
        .map(|s| &s.member)
        .and_then(|m| m.display_name.clone().or_else(|| m.email.clone()))
        .unwrap_or_else(|| event.user_key.clone());
    json!({
        "type_id": 2,
        "type": "User",
        "uid": event.user_key,
        "name": name,
        "user": user(event, state, o, true, streak),
    })
}

/// The member as an OCSF `user`. `with_groups` adds the organization as
/// `user.groups` (classes without a `group` attribute). An email that OCSF's
/// `email_t` pattern rejects stays in `name` and goes to `unmapped.streak.email`
/// instead of `email_addr`, so the record still validates.
fn user(
    event: &ChangeEvent,
    state: Option<&MemberState>,
    o: &SiemOptions,
    with_groups: bool,
    streak: &mut Map<String, Value>,
) -> Value {
    let mut u = Map::new();
    u.insert("uid".into(), json!(event.user_key));
    let admin = state.and_then(|s| s.member.is_org_admin);
    let (type_id, type_caption) = match admin {
        Some(true) => (2, "Admin"),
        Some(false) => (1, "User"),
        None => (0, "Unknown"),
    };
    u.insert("type_id".into(), json!(type_id));
    u.insert("type".into(), json!(type_caption));
    if let Some(s) = state {
        if let Some(email) = &s.member.email {
            u.insert("name".into(), json!(email));
            if is_ocsf_email(email) {
                u.insert("email_addr".into(), json!(email));
            } else {
                streak.insert("email".into(), json!(email));
            }
        }
        if let Some(d) = &s.member.display_name {
            u.insert("display_name".into(), json!(d));
        }
        if let Some(f) = full_name(s) {
            u.insert("full_name".into(), json!(f));
        }
    }
    if with_groups {
        u.insert("groups".into(), json!([group(event, o)]));
    }
    Value::Object(u)
}

/// OCSF 1.8.0's `email_t` pattern,
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`, by hand
/// (`+-/` in the class is the range `+ , - . /`).
pub(crate) fn is_ocsf_email(s: &str) -> bool {
    let local_ok = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+,-./=?^_`{|}~".contains(c);
    let label_ok = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((first, rest)) = domain.split_once('.') else {
        return false;
    };
    !local.is_empty()
        && local.chars().all(local_ok)
        && !first.is_empty()
        && first.chars().all(label_ok)
        && !rest.is_empty()
        && rest.chars().all(|c| label_ok(c) || c == '.')
}
