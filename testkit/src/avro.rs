//! Fixtures shared by the `avro*` integration tests: one member, one event of every
//! type, both kinds of state record.

use std::sync::Arc;

use streak_connector::avro::Schemas;
use streak_connector::membership::{
    ChangeEvent, Checkpoint, EventType, Member, MemberState, SourceInfo, StateRecord,
};

pub fn schemas() -> Arc<Schemas> {
    Arc::new(Schemas::load().expect("embedded schemas load"))
}

pub fn source() -> SourceInfo {
    SourceInfo {
        connector: "streak-connector".into(),
        version: "0.1.0".into(),
        instance: "host-1/4f2a".into(),
    }
}

/// A member with every field set.
pub fn full_state() -> MemberState {
    MemberState {
        member: Member {
            key: "agxzfm1haWxmb29nYWVyEQsSBFVzZXIYgICAgICAgAoM".into(),
            email: Some("ada@example.com".into()),
            display_name: Some("Ada Lovelace".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            image: Some("https://example.com/ada.png".into()),
            is_org_admin: Some(true),
            last_seen_ms: Some(1_700_000_000_123),
            creation_ms: Some(1_600_000_000_000),
        },
        inactive: false,
        first_seen_ms: 1_700_000_100_000,
        last_changed_ms: 1_700_000_200_000,
    }
}

/// A member with only its key (everything Streak may omit, omitted).
pub fn sparse_state() -> MemberState {
    MemberState {
        member: Member {
            key: "agxzfm1haWxmb29nYWVyEQsSBFVzZXIYgICAgICAgAoM".into(),
            ..Member::default()
        },
        inactive: true,
        first_seen_ms: 0,
        last_changed_ms: -1,
    }
}

/// One event of type `t`, with `before`/`after` as the design's table has them.
pub fn event(t: EventType) -> ChangeEvent {
    let full = full_state();
    let mut changed = full.clone();
    changed.member.is_org_admin = Some(false);
    let (before, after) = match t {
        EventType::Snapshot | EventType::Joined => (None, Some(full)),
        EventType::Left => (Some(full), None),
        _ => (Some(full), Some(changed)),
    };
    ChangeEvent {
        event_id: uuid::Uuid::from_u128(0x6f1c_2a3b_4c5d_5e6f_8a9b_0c1d_2e3f_4a5b),
        event_type: t,
        org_key: "agxzfm1haWxmb29nYWVyGAsSDE9yZ2FuaXphdGlvbhiAgICAgICACgw".into(),
        user_key: "agxzfm1haWxmb29nYWVyEQsSBFVzZXIYgICAgICAgAoM".into(),
        email: Some("ada@example.com".into()),
        detected_at_ms: 1_700_000_300_000,
        poll_seq: 42,
        before,
        after,
    }
}

pub fn member_record(state: Option<MemberState>) -> StateRecord {
    StateRecord::Member {
        org_key: "agxzfm1haWxmb29nYWVyGAsSDE9yZ2FuaXphdGlvbhiAgICAgICACgw".into(),
        user_key: "agxzfm1haWxmb29nYWVyEQsSBFVzZXIYgICAgICAgAoM".into(),
        state,
    }
}

pub fn checkpoint_record() -> StateRecord {
    StateRecord::Checkpoint(Checkpoint {
        org_key: "agxzfm1haWxmb29nYWVyGAsSDE9yZ2FuaXphdGlvbhiAgICAgICACgw".into(),
        poll_seq: 42,
        last_poll_ms: 1_700_000_300_000,
        member_count: 1234,
        incarnation: None,
    })
}
