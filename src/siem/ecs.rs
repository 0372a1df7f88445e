//! The Elastic Common Schema mapping: one ECS document per change event.
//!
//! `event.kind` is `state` for a SNAPSHOT (a baseline, not a change) and `event` for
//! the others; `event.category` is always `iam`. The member is `user.target.*` in
//! every change, and `user.*` itself stays empty there: in ECS `user.*` is who did
//! it, and Streak has no audit log to say. Only a SNAPSHOT (a state, no actor to
//! speak of) describes the member as `user.*`. A PROFILE_CHANGED has the member as it
//! was in `user.target.*` and the new values of the changed fields in `user.changes.*`. The organization is `group.*` and
//! `organization.*`; `related.user` lists every identifier of the member seen in the
//! event. Fields ECS has none for are under `streak.*`.

use serde_json::{json, Map, Value};

use super::time::rfc3339_millis;
use super::{
    changed_fields, message, shown_name, subject, Change, SiemOptions, ADMIN_PRIVILEGE, NO_ACTOR,
    PRODUCT_NAME,
};
use crate::membership::{ChangeEvent, MemberState};

/// The ECS version the documents follow (`ecs.version`).
pub(crate) const ECS_VERSION: &str = "8.17.0";

/// `event.action`, `event.type` and `event.kind` of a change.
pub(crate) fn action(change: Change) -> (&'static str, &'static [&'static str], &'static str) {
    match change {
        Change::Snapshot => ("member-snapshot", &["info", "user"], "state"),
        Change::Joined => ("member-joined", &["group", "change", "user"], "event"),
        Change::Left => ("member-left", &["group", "change", "user"], "event"),
        Change::AdminGranted => ("admin-granted", &["user", "change"], "event"),
        Change::AdminRevoked => ("admin-revoked", &["user", "change"], "event"),
        Change::AdminReported => ("admin-status-reported", &["user", "info"], "event"),
        Change::ProfileChanged => ("profile-changed", &["user", "change"], "event"),
        Change::WentInactive => ("member-went-inactive", &["user", "change"], "event"),
        Change::Reactivated => ("member-reactivated", &["user", "change"], "event"),
    }
}

/// [`record`] as compact UTF-8 JSON, keys sorted: the value of a Kafka record, or
/// one line of `tail` output (without the newline).
pub(crate) fn record_bytes(event: &ChangeEvent, options: &SiemOptions) -> Vec<u8> {
    record(event, options).to_string().into_bytes()
}

/// The ECS document of one change event.
pub(crate) fn record(event: &ChangeEvent, options: &SiemOptions) -> Value {
    let change = Change::of(event);
    let (action, types, kind) = action(change);
    let severity = change.severity(event, &options.severities);
    let org_name = options.org_name(&event.org_key);
    // The member as the change found it: `before` for a profile change (the new
    // values are in `user.changes`), else as last seen.
    let state = match change {
        Change::ProfileChanged => event.before.as_ref(),
        _ => subject(event),
    };
    let member = state.map_or_else(|| json!({ "id": event.user_key }), |s| user(event, s));
    let user = match change {
        Change::Snapshot => member,
        Change::ProfileChanged => json!({ "target": member, "changes": changes(event) }),
        _ => json!({ "target": member }),
    };
    json!({
        "@timestamp": rfc3339_millis(event.detected_at_ms),
        "ecs": { "version": ECS_VERSION },
        "message": message(event, change, options),
        "event": {
            "id": event.event_id.to_string(),
            "kind": kind,
            "category": ["iam"],
            "type": types,
            "action": action,
            "outcome": "success",
            "code": event.event_type.as_str(),
            "severity": severity.id(),
            "module": "streak",
            "dataset": "streak.membership",
            "provider": PRODUCT_NAME,
        },
        "observer": { "product": PRODUCT_NAME, "version": options.product_version },
        "organization": { "id": event.org_key, "name": org_name },
        "group": { "id": event.org_key, "name": org_name },
        "user": user,
        "related": { "user": related_users(event) },
        "streak": streak_fields(event, change),
    })
}

/// The member as ECS `user` fields (used as `user.target` in changes).
fn user(event: &ChangeEvent, state: &MemberState) -> Value {
    let m = &state.member;
    let mut u = Map::new();
    u.insert("id".into(), json!(event.user_key));
    if let Some(email) = &m.email {
        u.insert("email".into(), json!(email));
        u.insert("name".into(), json!(email));
    }
    if let Some(f) = shown_name(state) {
        u.insert("full_name".into(), json!(f));
    }
    if m.is_org_admin == Some(true) {
        u.insert("roles".into(), json!([ADMIN_PRIVILEGE]));
    }
    Value::Object(u)
}

/// `user.changes.*`: the new values of the fields a PROFILE_CHANGED changed (ECS
/// has `email`, `full_name` and `name`; the raw list is `streak.changed_fields`).
/// `full_name` is the name Streak shows (display name, else first and last name).
fn changes(event: &ChangeEvent) -> Value {
    let Some(after) = &event.after else {
        return json!({});
    };
    let fields = changed_fields(event);
    let mut c = Map::new();
    if fields.contains(&"email") {
        c.insert("email".into(), json!(after.member.email));
        c.insert("name".into(), json!(after.member.email));
    }
    if fields
        .iter()
        .any(|f| ["display_name", "first_name", "last_name"].contains(f))
    {
        c.insert("full_name".into(), json!(shown_name(after)));
    }
    Value::Object(c)
}

/// Every identifier of the member in the event: the user key, then each distinct
/// email of `before` and `after`.
fn related_users(event: &ChangeEvent) -> Vec<String> {
    let mut ids = vec![event.user_key.clone()];
    for state in [&event.before, &event.after].into_iter().flatten() {
        if let Some(email) = &state.member.email {
            if !ids.contains(email) {
                ids.push(email.clone());
            }
        }
    }
    ids
}

fn streak_fields(event: &ChangeEvent, change: Change) -> Value {
    let mut s = Map::new();
    s.insert("event_type".into(), json!(event.event_type.as_str()));
    s.insert("poll_seq".into(), json!(event.poll_seq));
    s.insert("actor".into(), json!(NO_ACTOR));
    let admin = |st: &Option<MemberState>| json!(st.as_ref().and_then(|x| x.member.is_org_admin));
    match change {
        Change::AdminGranted | Change::AdminRevoked | Change::AdminReported => {
            s.insert("is_org_admin_before".into(), admin(&event.before));
            s.insert("is_org_admin_after".into(), admin(&event.after));
        }
        Change::ProfileChanged => {
            s.insert("changed_fields".into(), json!(changed_fields(event)));
        }
        Change::WentInactive | Change::Reactivated => {
            let last_seen = subject(event).and_then(|x| x.member.last_seen_ms);
            s.insert("last_seen_at".into(), json!(last_seen));
            s.insert("inactive".into(), json!(change == Change::WentInactive));
        }
        Change::Snapshot | Change::Joined | Change::Left => {
            s.insert(
                "is_org_admin".into(),
                json!(subject(event).and_then(|x| x.member.is_org_admin)),
            );
        }
    }
    Value::Object(s)
}
