//! Avro values (apache-avro's `Value`) of the current schemas into the domain types
//! of [`crate::membership`]: the decoder's path for data written with an older
//! writer schema, once apache-avro has resolved it to the current one (the current
//! writer schemas take the direct path of `direct_decode.rs`). Pure: no framing, no
//! registry, no I/O. Checks what the schemas cannot say (non-negative counters; key
//! and value agreeing, in `decoded.rs`).

use apache_avro::types::Value;

use crate::membership::{ChangeEvent, Checkpoint, Member, MemberState, SourceInfo};

use super::decoded::{
    event_type_from_symbol, incarnation_from_text, DecodedEvent, MembershipKey, StateParts,
};
use super::errors::DecodeError;

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
        Value::Enum(_, symbol) => event_type_from_symbol(&symbol)?,
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

/// The two branches of a `StateValue` from its value in the current schema.
pub(crate) fn state_parts_from_value(value: Value) -> Result<StateParts, DecodeError> {
    let mut f = Fields::of("StateValue", value)?;
    let member = match f.take("member")? {
        Value::Null => None,
        v => Some(member_state_from_value(v)?),
    };
    let checkpoint = match f.take("checkpoint")? {
        Value::Null => None,
        v => {
            let mut c = Fields::of("Checkpoint", v)?;
            Some(Checkpoint {
                org_key: c.string("org_key")?,
                poll_seq: c.counter("poll_seq")?,
                last_poll_ms: c.timestamp("last_poll_at")?,
                member_count: c.counter("member_count")?,
                incarnation: match c.opt_string("incarnation")? {
                    Some(text) => Some(incarnation_from_text(&text)?),
                    None => None,
                },
            })
        }
    };
    Ok(StateParts { member, checkpoint })
}
