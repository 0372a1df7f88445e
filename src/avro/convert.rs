//! Conversion between the domain types of [`crate::membership`] and Avro values of
//! the schemas in `schemas/`. Pure: no framing, no registry, no I/O.
//!
//! Encoding builds values of the current schemas; decoding expects values already
//! resolved to the current schemas (the decoder resolves older writer schemas first),
//! and checks what the schemas cannot say (non-negative counters, key and value
//! agreeing).

use apache_avro::types::Value;

use crate::membership::{
    ChangeEvent, Checkpoint, EventType, Member, MemberState, SourceInfo, StateRecord,
};

use super::errors::{DecodeError, EncodeError};

/// The key of both topics: a member, or (`user_key: None`) an organization's
/// checkpoint record in the state topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MembershipKey {
    pub org_key: String,
    pub user_key: Option<String>,
}

/// A change event as decoded from the events topic, with its `source` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEvent {
    pub event: ChangeEvent,
    pub source: SourceInfo,
}

/// The symbols of the `EventType` enum, in schema order (a test holds this against
/// `change_event.avsc`). Index 0 is the reader-side default for unknown types.
pub(crate) const EVENT_TYPE_SYMBOLS: [&str; 8] = [
    "UNKNOWN",
    "SNAPSHOT",
    "JOINED",
    "LEFT",
    "ADMIN_CHANGED",
    "PROFILE_CHANGED",
    "WENT_INACTIVE",
    "REACTIVATED",
];

fn event_type_index(t: EventType) -> u32 {
    EVENT_TYPE_SYMBOLS
        .iter()
        .position(|s| *s == t.as_str())
        .map_or(0, |i| i as u32)
}

fn event_type_from_symbol(symbol: &str) -> Option<EventType> {
    EventType::ALL.into_iter().find(|t| t.as_str() == symbol)
}

// ---------- domain -> Avro ----------

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
                event_type_index(e.event_type),
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
            ]);
            let value = Value::Record(vec![
                ("member".into(), Value::Union(0, Box::new(Value::Null))),
                ("checkpoint".into(), Value::Union(1, Box::new(checkpoint))),
            ]);
            Ok((key, Some(value)))
        }
    }
}

// ---------- Avro -> domain ----------

/// The fields of one record value, taken by name.
struct Fields {
    record: &'static str,
    fields: Vec<(String, Value)>,
}

fn invalid(record: &'static str, field: &str, reason: impl Into<String>) -> DecodeError {
    DecodeError::Invalid {
        field: format!("{record}.{field}"),
        reason: reason.into(),
    }
}

impl Fields {
    fn of(record: &'static str, value: Value) -> Result<Fields, DecodeError> {
        match value {
            Value::Record(fields) => Ok(Fields { record, fields }),
            other => Err(invalid(
                record,
                "",
                format!("expected a record, got {other:?}"),
            )),
        }
    }

    fn take(&mut self, name: &str) -> Result<Value, DecodeError> {
        let i = self
            .fields
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| invalid(self.record, name, "missing"))?;
        Ok(unwrap_union(self.fields.swap_remove(i).1))
    }

    fn string(&mut self, name: &str) -> Result<String, DecodeError> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            other => Err(invalid(
                self.record,
                name,
                format!("expected a string, got {other:?}"),
            )),
        }
    }

    fn opt_string(&mut self, name: &str) -> Result<Option<String>, DecodeError> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(invalid(
                self.record,
                name,
                format!("expected a string, got {other:?}"),
            )),
        }
    }

    fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, DecodeError> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(invalid(
                self.record,
                name,
                format!("expected a boolean, got {other:?}"),
            )),
        }
    }

    fn bool(&mut self, name: &str) -> Result<bool, DecodeError> {
        self.opt_bool(name)?
            .ok_or_else(|| invalid(self.record, name, "null"))
    }

    fn opt_timestamp(&mut self, name: &str) -> Result<Option<i64>, DecodeError> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::TimestampMillis(ms) | Value::Long(ms) => Ok(Some(ms)),
            other => Err(invalid(
                self.record,
                name,
                format!("expected a timestamp, got {other:?}"),
            )),
        }
    }

    fn timestamp(&mut self, name: &str) -> Result<i64, DecodeError> {
        self.opt_timestamp(name)?
            .ok_or_else(|| invalid(self.record, name, "null"))
    }

    fn counter(&mut self, name: &str) -> Result<u64, DecodeError> {
        match self.take(name)? {
            Value::Long(v) => {
                u64::try_from(v).map_err(|_| invalid(self.record, name, format!("negative: {v}")))
            }
            other => Err(invalid(
                self.record,
                name,
                format!("expected a long, got {other:?}"),
            )),
        }
    }
}

fn unwrap_union(v: Value) -> Value {
    match v {
        Value::Union(_, inner) => *inner,
        other => other,
    }
}

/// A key from its value in the current key schema.
pub(crate) fn key_from_value(value: Value) -> Result<MembershipKey, DecodeError> {
    let mut f = Fields::of("MembershipKey", value)?;
    Ok(MembershipKey {
        org_key: f.string("org_key")?,
        user_key: f.opt_string("user_key")?,
    })
}

fn member_state_from_value(value: Value) -> Result<MemberState, DecodeError> {
    let mut f = Fields::of("MemberState", value)?;
    let member = Member {
        key: f.string("user_key")?,
        email: f.opt_string("email")?,
        display_name: f.opt_string("display_name")?,
        first_name: f.opt_string("first_name")?,
        last_name: f.opt_string("last_name")?,
        image: f.opt_string("image")?,
        is_org_admin: f.opt_bool("is_org_admin")?,
        last_seen_ms: f.opt_timestamp("last_seen_at")?,
        creation_ms: f.opt_timestamp("created_at")?,
    };
    Ok(MemberState {
        member,
        inactive: f.bool("inactive")?,
        first_seen_ms: f.timestamp("first_seen_at")?,
        last_changed_ms: f.timestamp("last_changed_at")?,
    })
}

fn opt_member_state_from(f: &mut Fields, name: &str) -> Result<Option<MemberState>, DecodeError> {
    match f.take(name)? {
        Value::Null => Ok(None),
        v => member_state_from_value(v).map(Some),
    }
}

/// A change event from its value in the current event schema.
pub(crate) fn event_from_value(value: Value) -> Result<DecodedEvent, DecodeError> {
    let mut f = Fields::of("ChangeEvent", value)?;
    let event_id = match f.take("event_id")? {
        Value::Uuid(u) => u,
        Value::String(s) => uuid::Uuid::parse_str(&s)
            .map_err(|e| invalid("ChangeEvent", "event_id", e.to_string()))?,
        other => return Err(invalid("ChangeEvent", "event_id", format!("{other:?}"))),
    };
    let event_type = match f.take("event_type")? {
        Value::Enum(_, symbol) => {
            event_type_from_symbol(&symbol).ok_or(DecodeError::UnknownEventType { symbol })?
        }
        other => return Err(invalid("ChangeEvent", "event_type", format!("{other:?}"))),
    };
    let event = ChangeEvent {
        event_id,
        event_type,
        org_key: f.string("org_key")?,
        user_key: f.string("user_key")?,
        email: f.opt_string("email")?,
        detected_at_ms: f.timestamp("detected_at")?,
        poll_seq: f.counter("poll_seq")?,
        before: opt_member_state_from(&mut f, "before")?,
        after: opt_member_state_from(&mut f, "after")?,
    };
    let mut s = Fields::of("SourceInfo", f.take("source")?)?;
    let source = SourceInfo {
        connector: s.string("connector")?,
        version: s.string("version")?,
        instance: s.string("instance")?,
    };
    Ok(DecodedEvent { event, source })
}

/// A state record from its key and its value (`None`: a tombstone), both in the
/// current schemas. Checks that the key and the value agree.
pub(crate) fn state_from_values(
    key: MembershipKey,
    value: Option<Value>,
) -> Result<StateRecord, DecodeError> {
    let mismatch = |reason: String| DecodeError::KeyMismatch { reason };
    let Some(value) = value else {
        return match key.user_key {
            Some(user_key) => Ok(StateRecord::Member {
                org_key: key.org_key,
                user_key,
                state: None,
            }),
            None => Err(mismatch(format!(
                "tombstone for the checkpoint of organization {}",
                key.org_key
            ))),
        };
    };
    let mut f = Fields::of("StateValue", value)?;
    let member = f.take("member")?;
    let checkpoint = f.take("checkpoint")?;
    match (key.user_key, member, checkpoint) {
        (Some(user_key), member @ Value::Record(_), Value::Null) => {
            let state = member_state_from_value(member)?;
            if state.member.key != user_key {
                return Err(mismatch(format!(
                    "key user_key {user_key} but member.user_key {}",
                    state.member.key
                )));
            }
            Ok(StateRecord::Member {
                org_key: key.org_key,
                user_key,
                state: Some(state),
            })
        }
        (None, Value::Null, checkpoint @ Value::Record(_)) => {
            let mut c = Fields::of("Checkpoint", checkpoint)?;
            let checkpoint = Checkpoint {
                org_key: c.string("org_key")?,
                poll_seq: c.counter("poll_seq")?,
                last_poll_ms: c.timestamp("last_poll_at")?,
                member_count: c.counter("member_count")?,
            };
            if checkpoint.org_key != key.org_key {
                return Err(mismatch(format!(
                    "key org_key {} but checkpoint.org_key {}",
                    key.org_key, checkpoint.org_key
                )));
            }
            Ok(StateRecord::Checkpoint(checkpoint))
        }
        (user_key, member, checkpoint) => Err(mismatch(format!(
            "key user_key {} with member {} and checkpoint {}",
            user_key.as_deref().unwrap_or("null"),
            if member == Value::Null { "null" } else { "set" },
            if checkpoint == Value::Null {
                "null"
            } else {
                "set"
            },
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::schemas::{SchemaRole, Schemas};
    use super::*;

    #[test]
    fn event_type_symbols_match_the_schema() {
        let schemas = Schemas::load().expect("schemas");
        let json: serde_json::Value =
            serde_json::from_str(schemas.current(SchemaRole::Event).text).expect("json");
        let symbols = json["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "event_type"))
            .and_then(|f| f["type"]["symbols"].as_array())
            .expect("event_type symbols");
        let symbols: Vec<&str> = symbols.iter().filter_map(|s| s.as_str()).collect();
        assert_eq!(symbols, EVENT_TYPE_SYMBOLS);
        for t in EventType::ALL {
            assert_eq!(EVENT_TYPE_SYMBOLS[event_type_index(t) as usize], t.as_str());
            assert_eq!(event_type_from_symbol(t.as_str()), Some(t));
        }
        assert_eq!(event_type_from_symbol("UNKNOWN"), None);
    }
}
