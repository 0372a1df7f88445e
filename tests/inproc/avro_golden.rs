//! Golden bytes: one record of each kind, in both framings, as hex. An accidental
//! change of schema, field order, framing or fingerprint fails here. These bytes
//! were cross-checked with an independent Avro implementation (Python fastavro
//! 1.13: its CRC-64-AVRO fingerprints of `schemas/*.avsc` and its decoding of each
//! body); docs/avro.md says how to repeat that check. If a schema changes on
//! purpose, add its released version under `schemas/history/` and update these.

use std::sync::Arc;

use streak_connector::avro::{Decoder, Encoder, SchemaIds, SchemaRole};
use streak_connector::membership::{
    ChangeEvent, Checkpoint, EventType, Member, MemberState, StateRecord,
};
use testkit::avro::{schemas, source};

/// CRC-64-AVRO fingerprints of the current schemas, as little-endian hex.
const KEY_FINGERPRINT: &str = "d31204d018ddfa86";
const EVENT_FINGERPRINT: &str = "3a6ba4af5babd8e6";
const STATE_FINGERPRINT: &str = "a1d9d75a215a17b2";

const SO_EVENT_KEY: &str = "c301d31204d018ddfa86046f3102047531";
const SO_EVENT_VALUE: &str = concat!(
    "c3013a6ba4af5babd8e64830313233343536372d383961622d356465662d3831",
    "32332d34353637383961626364656608046f31047531020c6140782e696f82a0",
    "abfef9620e02047531020c6140782e696f020641646100000002010280a0abfe",
    "f96200008080f4f6905d80a0abfef96202047531020c6140782e696f02064164",
    "6100000002000280a0abfef96200008080f4f6905d80a0abfef9622073747265",
    "616b2d636f6e6e6563746f720a302e312e3016686f73742d312f34663261",
);
const SO_MEMBER_KEY: &str = "c301d31204d018ddfa86046f3102047531";
const SO_MEMBER_VALUE: &str = concat!(
    "c301a1d9d75a215a17b202047531020c6140782e696f02064164610000000201",
    "0280a0abfef96200008080f4f6905d80a0abfef96200",
);
/// Written with `state_value` v1 (no `incarnation`): must keep decoding.
const V1_SO_MEMBER_VALUE: &str = concat!(
    "c3010d0f820b09791b9c02047531020c6140782e696f02064164610000000201",
    "0280a0abfef96200008080f4f6905d80a0abfef96200",
);
const SO_CHECKPOINT_KEY: &str = "c301d31204d018ddfa86046f3100";
const SO_CHECKPOINT_VALUE: &str = concat!(
    "c301a1d9d75a215a17b20002046f310e82a0abfef9620602",
    "4830663165326433632d346235612d343937382d383739362d613562346333643265316630",
);
/// A v1 checkpoint (no `incarnation`), as the connector wrote it before v2.
const V1_SO_CHECKPOINT_VALUE: &str = "c3010d0f820b09791b9c0002046f310e82a0abfef96206";
/// Confluent framing with ids events-key 1, events-value 2, state-key 1, state-value 3.
const CF_EVENT_KEY: &str = "0000000001046f3102047531";
const CF_EVENT_VALUE: &str = concat!(
    "00000000024830313233343536372d383961622d356465662d383132332d3435",
    "3637383961626364656608046f31047531020c6140782e696f82a0abfef9620e",
    "02047531020c6140782e696f020641646100000002010280a0abfef962000080",
    "80f4f6905d80a0abfef96202047531020c6140782e696f020641646100000002",
    "000280a0abfef96200008080f4f6905d80a0abfef9622073747265616b2d636f",
    "6e6e6563746f720a302e312e3016686f73742d312f34663261",
);
const CF_CHECKPOINT_KEY: &str = "0000000001046f3100";
const CF_CHECKPOINT_VALUE: &str = concat!(
    "00000000030002046f310e82a0abfef9620602",
    "4830663165326433632d346235612d343937382d383739362d613562346333643265316630",
);

fn member() -> MemberState {
    MemberState {
        member: Member {
            key: "u1".into(),
            email: Some("a@x.io".into()),
            display_name: Some("Ada".into()),
            first_name: None,
            last_name: None,
            image: None,
            is_org_admin: Some(true),
            last_seen_ms: Some(1_700_000_000_000),
            creation_ms: None,
        },
        inactive: false,
        first_seen_ms: 1_600_000_000_000,
        last_changed_ms: 1_700_000_000_000,
    }
}

fn admin_changed() -> ChangeEvent {
    let before = member();
    let mut after = member();
    after.member.is_org_admin = Some(false);
    ChangeEvent {
        event_id: uuid::Uuid::from_u128(0x0123_4567_89ab_5def_8123_4567_89ab_cdef),
        event_type: EventType::AdminChanged,
        org_key: "o1".into(),
        user_key: "u1".into(),
        email: Some("a@x.io".into()),
        detected_at_ms: 1_700_000_000_001,
        poll_seq: 7,
        before: Some(before),
        after: Some(after),
    }
}

fn member_record() -> StateRecord {
    StateRecord::Member {
        org_key: "o1".into(),
        user_key: "u1".into(),
        state: Some(member()),
    }
}

fn v1_checkpoint() -> StateRecord {
    StateRecord::Checkpoint(Checkpoint {
        org_key: "o1".into(),
        poll_seq: 7,
        last_poll_ms: 1_700_000_000_001,
        member_count: 3,
        incarnation: None,
    })
}

fn checkpoint() -> StateRecord {
    match v1_checkpoint() {
        StateRecord::Checkpoint(c) => StateRecord::Checkpoint(Checkpoint {
            incarnation: Some(uuid::Uuid::from_u128(
                0x0f1e2d3c_4b5a_4978_8796_a5b4c3d2e1f0,
            )),
            ..c
        }),
        other => other,
    }
}

fn hex_of(bytes: Option<&[u8]>) -> String {
    bytes.map(hex::encode).unwrap_or_default()
}

#[test]
fn fingerprints_are_stable() {
    let s = schemas();
    let fp = |role| hex::encode(s.current(role).fingerprint.to_le_bytes());
    assert_eq!(fp(SchemaRole::Key), KEY_FINGERPRINT);
    assert_eq!(fp(SchemaRole::Event), EVENT_FINGERPRINT);
    assert_eq!(fp(SchemaRole::State), STATE_FINGERPRINT);
}

#[test]
fn single_object_bytes_are_stable() {
    let encoder = Encoder::single_object(schemas(), source());
    let e = encoder.encode_event(&admin_changed()).expect("event");
    assert_eq!(hex::encode(&e.key), SO_EVENT_KEY);
    assert_eq!(hex_of(e.value.as_deref()), SO_EVENT_VALUE);
    let m = encoder.encode_state(&member_record()).expect("member");
    assert_eq!(hex::encode(&m.key), SO_MEMBER_KEY);
    assert_eq!(hex_of(m.value.as_deref()), SO_MEMBER_VALUE);
    let c = encoder.encode_state(&checkpoint()).expect("checkpoint");
    assert_eq!(hex::encode(&c.key), SO_CHECKPOINT_KEY);
    assert_eq!(hex_of(c.value.as_deref()), SO_CHECKPOINT_VALUE);
}

#[test]
fn confluent_bytes_are_stable() {
    let ids = SchemaIds {
        events_key: 1,
        events_value: 2,
        state_key: 1,
        state_value: 3,
    };
    let encoder = Encoder::with_schema_ids(schemas(), source(), ids);
    let e = encoder.encode_event(&admin_changed()).expect("event");
    assert_eq!(hex::encode(&e.key), CF_EVENT_KEY);
    assert_eq!(hex_of(e.value.as_deref()), CF_EVENT_VALUE);
    let c = encoder.encode_state(&checkpoint()).expect("checkpoint");
    assert_eq!(hex::encode(&c.key), CF_CHECKPOINT_KEY);
    assert_eq!(hex_of(c.value.as_deref()), CF_CHECKPOINT_VALUE);
}

/// The golden single-object bytes decode back (a reader of old data keeps working).
#[tokio::test]
async fn golden_single_object_bytes_decode() {
    let decoder = Decoder::new(Arc::clone(&schemas()));
    let bytes = |h: &str| hex::decode(h).expect("hex");
    let e = decoder
        .decode_event(&bytes(SO_EVENT_KEY), &bytes(SO_EVENT_VALUE))
        .await
        .expect("event");
    assert_eq!(e.event, admin_changed());
    let m = decoder
        .decode_state(&bytes(SO_MEMBER_KEY), Some(&bytes(SO_MEMBER_VALUE)))
        .await
        .expect("member");
    assert_eq!(m, member_record());
    let c = decoder
        .decode_state(&bytes(SO_CHECKPOINT_KEY), Some(&bytes(SO_CHECKPOINT_VALUE)))
        .await
        .expect("checkpoint");
    assert_eq!(c, checkpoint());
}

/// Records written with `state_value` v1 (before `incarnation`) still decode; their
/// checkpoint has no incarnation, so the organization keeps the original id formula.
#[tokio::test]
async fn golden_v1_state_bytes_still_decode() {
    let decoder = Decoder::new(Arc::clone(&schemas()));
    let bytes = |h: &str| hex::decode(h).expect("hex");
    let m = decoder
        .decode_state(&bytes(SO_MEMBER_KEY), Some(&bytes(V1_SO_MEMBER_VALUE)))
        .await
        .expect("v1 member");
    assert_eq!(m, member_record());
    let c = decoder
        .decode_state(
            &bytes(SO_CHECKPOINT_KEY),
            Some(&bytes(V1_SO_CHECKPOINT_VALUE)),
        )
        .await
        .expect("v1 checkpoint");
    assert_eq!(c, v1_checkpoint());
}
