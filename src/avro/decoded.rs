//! What decoding yields, and the checks both decoding paths share (the direct one
//! for the current schemas in `direct_decode.rs`, the resolving one through
//! apache-avro for older writers in `convert.rs`): event type symbols, and the
//! agreement of a state record's key with its value. Pure.

use crate::membership::{ChangeEvent, Checkpoint, EventType, MemberState, SourceInfo, StateRecord};

use super::errors::DecodeError;

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

/// The event type of an enum symbol; UNKNOWN (a newer writer's type read by this
/// older reader) and anything else this build does not know is an error.
pub(crate) fn event_type_from_symbol(symbol: &str) -> Result<EventType, DecodeError> {
    EventType::ALL
        .into_iter()
        .find(|t| t.as_str() == symbol)
        .ok_or_else(|| DecodeError::UnknownEventType {
            symbol: symbol.to_owned(),
        })
}

/// The two branches of a `StateValue`, decoded (exactly one should be set).
#[derive(Debug)]
pub(crate) struct StateParts {
    pub(crate) member: Option<MemberState>,
    pub(crate) checkpoint: Option<Checkpoint>,
}

/// A state record from its key and its value (`None`: a tombstone). Checks that the
/// key and the value agree: a member under a member key with the same user key, a
/// checkpoint under its organization's checkpoint key, a tombstone under a member key.
pub(crate) fn state_record(
    key: MembershipKey,
    value: Option<StateParts>,
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
    match (key.user_key, value.member, value.checkpoint) {
        (Some(user_key), Some(state), None) => {
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
        (None, None, Some(checkpoint)) => {
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
            if member.is_none() { "null" } else { "set" },
            if checkpoint.is_none() { "null" } else { "set" },
        ))),
    }
}

/// A checkpoint's `incarnation` from its text form (both decode paths share it).
pub(crate) fn incarnation_from_text(text: &str) -> Result<uuid::Uuid, DecodeError> {
    uuid::Uuid::parse_str(text).map_err(|e| DecodeError::Invalid {
        field: "Checkpoint.incarnation".into(),
        reason: e.to_string(),
    })
}
