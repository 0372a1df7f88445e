//! The reference encoder: domain types into apache-avro `Value`s of the current
//! schemas, written through apache-avro. This was the connector's encoder before
//! `direct_encode.rs`; the property tests now hold the direct bytes equal to these.
//! Tests only.

use apache_avro::types::Value;

use crate::membership::{ChangeEvent, MemberState, SourceInfo, StateRecord};

use super::direct_encode::event_type_index;
use super::errors::EncodeError;

fn opt_string(v: &Option<String>) -> Value {
    match v {
        Some(s) => Value::Union(1, Box::new(Value::String(s.clone()))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

fn opt_bool(v: Option<bool>) -> Value {
    match v {
        Some(b) => Value::Union(1, Box::new(Value::Boolean(b))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

fn opt_timestamp(v: Option<i64>) -> Value {
    match v {
        Some(ms) => Value::Union(1, Box::new(Value::TimestampMillis(ms))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

fn long(field: &'static str, v: u64) -> Result<Value, EncodeError> {
    i64::try_from(v)
        .map(Value::Long)
        .map_err(|_| EncodeError::OutOfRange { field, value: v })
}

/// The Avro value of a key.
pub(crate) fn key_to_value(org_key: &str, user_key: Option<&str>) -> Value {
    Value::Record(vec![
        ("org_key".into(), Value::String(org_key.to_owned())),
        ("user_key".into(), opt_string(&user_key.map(str::to_owned))),
    ])
}

/// The Avro value of a `MemberState` record.
pub(crate) fn member_state_to_value(s: &MemberState) -> Value {
    let m = &s.member;
    Value::Record(vec![
        ("user_key".into(), Value::String(m.key.clone())),
        ("email".into(), opt_string(&m.email)),
        ("display_name".into(), opt_string(&m.display_name)),
        ("first_name".into(), opt_string(&m.first_name)),
        ("last_name".into(), opt_string(&m.last_name)),
        ("image".into(), opt_string(&m.image)),
        ("is_org_admin".into(), opt_bool(m.is_org_admin)),
        ("last_seen_at".into(), opt_timestamp(m.last_seen_ms)),
        ("created_at".into(), opt_timestamp(m.creation_ms)),
        ("inactive".into(), Value::Boolean(s.inactive)),
        (
            "first_seen_at".into(),
            Value::TimestampMillis(s.first_seen_ms),
        ),
        (
            "last_changed_at".into(),
            Value::TimestampMillis(s.last_changed_ms),
        ),
    ])
}

fn opt_member_state(s: &Option<MemberState>) -> Value {
    match s {
        Some(s) => Value::Union(1, Box::new(member_state_to_value(s))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

/// The Avro value of a change event (`ChangeEvent` record).
pub(crate) fn event_to_value(e: &ChangeEvent, source: &SourceInfo) -> Result<Value, EncodeError> {
    Ok(Value::Record(vec![
        ("event_id".into(), Value::Uuid(e.event_id)),
        (
            "event_type".into(),
            Value::Enum(
                u32::try_from(event_type_index(e.event_type)).unwrap_or(0),
                e.event_type.as_str().to_owned(),
            ),
        ),
        ("org_key".into(), Value::String(e.org_key.clone())),
        ("user_key".into(), Value::String(e.user_key.clone())),
        ("email".into(), opt_string(&e.email)),
        (
            "detected_at".into(),
            Value::TimestampMillis(e.detected_at_ms),
        ),
        ("poll_seq".into(), long("poll_seq", e.poll_seq)?),
        ("before".into(), opt_member_state(&e.before)),
        ("after".into(), opt_member_state(&e.after)),
        (
            "source".into(),
            Value::Record(vec![
                ("connector".into(), Value::String(source.connector.clone())),
                ("version".into(), Value::String(source.version.clone())),
                ("instance".into(), Value::String(source.instance.clone())),
            ]),
        ),
    ]))
}

/// The key value and (unless a tombstone) the `StateValue` value of a state record.
pub(crate) fn state_to_values(r: &StateRecord) -> Result<(Value, Option<Value>), EncodeError> {
    match r {
        StateRecord::Member {
            org_key,
            user_key,
            state,
        } => {
            let key = key_to_value(org_key, Some(user_key));
            let value = state.as_ref().map(|s| {
                Value::Record(vec![
                    (
                        "member".into(),
                        Value::Union(1, Box::new(member_state_to_value(s))),
                    ),
                    ("checkpoint".into(), Value::Union(0, Box::new(Value::Null))),
                ])
            });
            Ok((key, value))
        }
        StateRecord::Checkpoint(c) => {
            let key = key_to_value(&c.org_key, None);
            let checkpoint = Value::Record(vec![
                ("org_key".into(), Value::String(c.org_key.clone())),
                ("poll_seq".into(), long("poll_seq", c.poll_seq)?),
                (
                    "last_poll_at".into(),
                    Value::TimestampMillis(c.last_poll_ms),
                ),
                ("member_count".into(), long("member_count", c.member_count)?),
                (
                    "incarnation".into(),
                    opt_string(&c.incarnation.map(|u| u.hyphenated().to_string())),
                ),
            ]);
            let value = Value::Record(vec![
                ("member".into(), Value::Union(0, Box::new(Value::Null))),
                ("checkpoint".into(), Value::Union(1, Box::new(checkpoint))),
            ]);
            Ok((key, Some(value)))
        }
    }
}
