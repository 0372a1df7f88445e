//! The Avro binary of the current schemas straight into domain types, field by field
//! in schema order, with no intermediate `apache_avro::types::Value`: the restore's
//! hot path. Data written with any other writer schema goes through apache-avro's
//! schema resolution instead (`decoder.rs`, `convert.rs`).
//!
//! This file must follow `schemas/*.avsc` exactly (see `direct_encode.rs`, whose
//! [`WRITTEN_FOR`](super::direct_encode::WRITTEN_FOR) fingerprints it shares). Bytes
//! that do not hold a datum fail as [`DecodeError::Malformed`], bytes left over as
//! [`DecodeError::TrailingBytes`], values the domain refuses as the resolving path
//! refuses them.

use crate::membership::{
    ChangeEvent, Checkpoint, Member, MemberParts, MemberState, PackedMember, RestoredRecord,
    SourceInfo,
};

use super::binary::{ReadError, Reader};
use super::decoded::{
    event_type_from_symbol, incarnation_from_text, DecodedEvent, MembershipKey, StateParts,
    EVENT_TYPE_SYMBOLS,
};
use super::errors::DecodeError;
use super::schemas::SchemaRole;

/// A failure inside a datum: unreadable bytes, or a value the domain refuses.
enum Fault {
    Read(ReadError),
    Domain(DecodeError),
}

impl From<ReadError> for Fault {
    fn from(e: ReadError) -> Self {
        Fault::Read(e)
    }
}

impl From<DecodeError> for Fault {
    fn from(e: DecodeError) -> Self {
        Fault::Domain(e)
    }
}

/// Read one whole datum of `role` from `body` with `read`.
fn whole<'a, T>(
    body: &'a [u8],
    role: SchemaRole,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, Fault>,
) -> Result<T, DecodeError> {
    let mut r = Reader::new(body);
    let value = read(&mut r).map_err(|f| match f {
        Fault::Read(e) => DecodeError::Malformed {
            role,
            reason: e.to_string(),
        },
        Fault::Domain(e) => e,
    })?;
    match r.remaining() {
        0 => Ok(value),
        count => Err(DecodeError::TrailingBytes { count }),
    }
}

fn counter(record: &str, field: &str, v: i64) -> Result<u64, DecodeError> {
    u64::try_from(v).map_err(|_| DecodeError::Invalid {
        field: format!("{record}.{field}"),
        reason: format!("negative: {v}"),
    })
}

/// A `MembershipKey` datum.
pub(crate) fn key(body: &[u8]) -> Result<MembershipKey, DecodeError> {
    whole(body, SchemaRole::Key, |r| {
        Ok(MembershipKey {
            org_key: r.string()?,
            user_key: r.opt_string()?,
        })
    })
}

/// The organization and user keys of a `MembershipKey` datum, borrowed from its
/// bytes; `None` if the bytes are not exactly one such datum.
pub(crate) fn key_names(body: &[u8]) -> Option<(&str, Option<&str>)> {
    let mut r = Reader::new(body);
    let org_key = r.str().ok()?;
    let user_key = r.opt_str().ok()?;
    (r.remaining() == 0).then_some((org_key, user_key))
}

fn member_state(r: &mut Reader<'_>) -> Result<MemberState, ReadError> {
    let member = Member {
        key: r.string()?,
        email: r.opt_string()?,
        display_name: r.opt_string()?,
        first_name: r.opt_string()?,
        last_name: r.opt_string()?,
        image: r.opt_string()?,
        is_org_admin: r.opt_bool()?,
        last_seen_ms: r.opt_long()?,
        creation_ms: r.opt_long()?,
    };
    Ok(MemberState {
        member,
        inactive: r.bool()?,
        first_seen_ms: r.long()?,
        last_changed_ms: r.long()?,
    })
}

/// A member's state as slices of the record.
fn member_parts<'a>(r: &mut Reader<'a>) -> Result<MemberParts<'a>, ReadError> {
    let key = r.str()?;
    // email, display_name, first_name, last_name, image: evaluated in order.
    let strs = [
        r.opt_str()?,
        r.opt_str()?,
        r.opt_str()?,
        r.opt_str()?,
        r.opt_str()?,
    ];
    Ok(MemberParts {
        key,
        strs,
        is_org_admin: r.opt_bool()?,
        last_seen_ms: r.opt_long()?,
        creation_ms: r.opt_long()?,
        inactive: r.bool()?,
        first_seen_ms: r.long()?,
        last_changed_ms: r.long()?,
    })
}

/// A member's state record (a `MembershipKey` body and a `StateValue` body), packed
/// straight from the bytes: the restore's fast path. `None` for anything else (a
/// checkpoint, a tombstone's key, bytes that do not decode, a key that does not
/// name the member): the caller then takes the general path, which decodes it or
/// fails with the exact reason.
pub(crate) fn packed_member(key: &[u8], value: &[u8]) -> Option<RestoredRecord> {
    let (org_key, user_key) = key_names(key)?;
    let user_key = user_key?;
    let mut r = Reader::new(value);
    if !r.branch().ok()? {
        return None;
    }
    let parts = member_parts(&mut r).ok()?;
    if r.branch().ok()? || r.remaining() != 0 || parts.key != user_key {
        return None;
    }
    Some(RestoredRecord::Member {
        org_key: org_key.to_owned(),
        member: PackedMember::from_parts(&parts),
    })
}

fn opt_member_state(r: &mut Reader<'_>) -> Result<Option<MemberState>, ReadError> {
    Ok(if r.branch()? {
        Some(member_state(r)?)
    } else {
        None
    })
}

/// A `ChangeEvent` datum.
pub(crate) fn event(body: &[u8]) -> Result<DecodedEvent, DecodeError> {
    whole(body, SchemaRole::Event, |r| {
        let event_id = r.uuid()?;
        let symbol = EVENT_TYPE_SYMBOLS[r.symbol(EVENT_TYPE_SYMBOLS.len())?];
        let event_type = event_type_from_symbol(symbol)?;
        let org_key = r.string()?;
        let user_key = r.string()?;
        let email = r.opt_string()?;
        let detected_at_ms = r.long()?;
        let poll_seq = counter("ChangeEvent", "poll_seq", r.long()?)?;
        let event = ChangeEvent {
            event_id,
            event_type,
            org_key,
            user_key,
            email,
            detected_at_ms,
            poll_seq,
            before: opt_member_state(r)?,
            after: opt_member_state(r)?,
        };
        let source = SourceInfo {
            connector: r.string()?,
            version: r.string()?,
            instance: r.string()?,
        };
        Ok(DecodedEvent { event, source })
    })
}

/// A `StateValue` datum.
pub(crate) fn state_value(body: &[u8]) -> Result<StateParts, DecodeError> {
    whole(body, SchemaRole::State, |r| {
        let member = opt_member_state(r)?;
        let checkpoint = if r.branch()? {
            let org_key = r.string()?;
            let poll_seq = counter("Checkpoint", "poll_seq", r.long()?)?;
            let last_poll_ms = r.long()?;
            let member_count = counter("Checkpoint", "member_count", r.long()?)?;
            let incarnation = match r.opt_string()? {
                Some(text) => Some(incarnation_from_text(&text)?),
                None => None,
            };
            Some(Checkpoint {
                org_key,
                poll_seq,
                last_poll_ms,
                member_count,
                incarnation,
            })
        } else {
            None
        };
        Ok(StateParts { member, checkpoint })
    })
}
