//! Domain types straight into the Avro binary of the current schemas, field by
//! field in schema order, with no intermediate `apache_avro::types::Value`: the hot
//! path of every poll (an event and a state record per change).
//!
//! This file must follow `schemas/*.avsc` exactly. The property tests
//! (`codec_proptests.rs`) hold its bytes equal to apache-avro's for random records,
//! the golden tests hold them to fixed bytes, and a test holds the fingerprints of
//! the schemas it was written for to the embedded ones, so a schema change that is
//! not carried here fails the tests.

use crate::membership::{ChangeEvent, Checkpoint, EventType, MemberState, SourceInfo};

use super::binary::{
    put_bool, put_branch, put_long, put_opt_bool, put_opt_long, put_opt_str, put_str,
};
use super::errors::EncodeError;
use super::schemas::{SchemaRole, Schemas};

/// CRC-64-AVRO fingerprints of the schemas this file (and `direct_decode.rs`)
/// writes and reads: `membership_key`, `change_event`, `state_value`.
pub(crate) const WRITTEN_FOR: [u64; 3] = [
    0x86fa_dd18_d004_12d3,
    0xe6d8_ab5b_afa4_6b3a,
    0xb217_5a21_5ad7_d9a1,
];

/// Whether `schemas`' current versions are the ones this file writes (a test holds
/// the embedded schemas to it; the encoder asserts it in debug builds).
pub(crate) fn written_for(schemas: &Schemas) -> bool {
    SchemaRole::ALL
        .into_iter()
        .zip(WRITTEN_FOR)
        .all(|(role, fp)| schemas.current(role).fingerprint == fp)
}

/// The index of an event type in the `EventType` enum symbols (0 is UNKNOWN,
/// which the connector never writes).
pub(crate) fn event_type_index(t: EventType) -> i64 {
    match t {
        EventType::Snapshot => 1,
        EventType::Joined => 2,
        EventType::Left => 3,
        EventType::AdminChanged => 4,
        EventType::ProfileChanged => 5,
        EventType::WentInactive => 6,
        EventType::Reactivated => 7,
    }
}

fn counter(out: &mut Vec<u8>, field: &'static str, v: u64) -> Result<(), EncodeError> {
    let v = i64::try_from(v).map_err(|_| EncodeError::OutOfRange { field, value: v })?;
    put_long(out, v);
    Ok(())
}

/// A `MembershipKey`.
pub(crate) fn key(out: &mut Vec<u8>, org_key: &str, user_key: Option<&str>) {
    put_str(out, org_key);
    put_opt_str(out, user_key);
}

/// A `MemberState` record.
fn member_state(out: &mut Vec<u8>, s: &MemberState) {
    let m = &s.member;
    put_str(out, &m.key);
    put_opt_str(out, m.email.as_deref());
    put_opt_str(out, m.display_name.as_deref());
    put_opt_str(out, m.first_name.as_deref());
    put_opt_str(out, m.last_name.as_deref());
    put_opt_str(out, m.image.as_deref());
    put_opt_bool(out, m.is_org_admin);
    put_opt_long(out, m.last_seen_ms);
    put_opt_long(out, m.creation_ms);
    put_bool(out, s.inactive);
    put_long(out, s.first_seen_ms);
    put_long(out, s.last_changed_ms);
}

fn opt_member_state(out: &mut Vec<u8>, s: Option<&MemberState>) {
    put_branch(out, s.is_some());
    if let Some(s) = s {
        member_state(out, s);
    }
}

/// The `SourceInfo` record: the same for every event of a process, so the encoder
/// writes it once and appends these bytes.
pub(crate) fn source(source: &SourceInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        source.connector.len() + source.version.len() + source.instance.len() + 6,
    );
    put_str(&mut out, &source.connector);
    put_str(&mut out, &source.version);
    put_str(&mut out, &source.instance);
    out
}

/// A `ChangeEvent`; `source` is [`source`]'s bytes.
pub(crate) fn event(out: &mut Vec<u8>, e: &ChangeEvent, source: &[u8]) -> Result<(), EncodeError> {
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    put_str(out, e.event_id.hyphenated().encode_lower(&mut id));
    put_long(out, event_type_index(e.event_type));
    put_str(out, &e.org_key);
    put_str(out, &e.user_key);
    put_opt_str(out, e.email.as_deref());
    put_long(out, e.detected_at_ms);
    counter(out, "poll_seq", e.poll_seq)?;
    opt_member_state(out, e.before.as_ref());
    opt_member_state(out, e.after.as_ref());
    out.extend_from_slice(source);
    Ok(())
}

/// The `StateValue` of a member record.
pub(crate) fn member_value(out: &mut Vec<u8>, s: &MemberState) {
    put_branch(out, true);
    member_state(out, s);
    put_branch(out, false);
}

/// The `StateValue` of a checkpoint record.
pub(crate) fn checkpoint_value(out: &mut Vec<u8>, c: &Checkpoint) -> Result<(), EncodeError> {
    put_branch(out, false);
    put_branch(out, true);
    put_str(out, &c.org_key);
    counter(out, "poll_seq", c.poll_seq)?;
    put_long(out, c.last_poll_ms);
    counter(out, "member_count", c.member_count)?;
    let incarnation = c.incarnation.map(|u| u.hyphenated().to_string());
    put_opt_str(out, incarnation.as_deref());
    Ok(())
}

/// A generous first capacity for a member's bytes, so that encoding allocates once.
pub(crate) fn member_size_hint(s: &MemberState) -> usize {
    let m = &s.member;
    let text = [
        &m.email,
        &m.display_name,
        &m.first_name,
        &m.last_name,
        &m.image,
    ]
    .iter()
    .map(|f| f.as_ref().map_or(0, String::len))
    .sum::<usize>();
    m.key.len() + text + 64
}
