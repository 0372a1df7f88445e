//! Property tests: any event and any member state record round trip, in both wire
//! formats (Confluent bytes are the single-object bytes with another header).

use std::sync::Arc;

use proptest::prelude::*;
use streak_connector::avro::{Decoder, Encoder, SchemaIds};
use streak_connector::membership::{ChangeEvent, EventType, Member, MemberState, StateRecord};
use testkit::avro::*;

fn member_state() -> impl Strategy<Value = MemberState> {
    let text = || proptest::option::of(".{0,40}");
    (
        "[a-zA-Z0-9_-]{1,60}",
        (text(), text(), text(), text(), text()),
        proptest::option::of(any::<bool>()),
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
        ),
        (any::<bool>(), any::<i64>(), any::<i64>()),
    )
        .prop_map(
            |(
                key,
                (email, display_name, first_name, last_name, image),
                admin,
                (seen, created),
                (inactive, first, last),
            )| MemberState {
                member: Member {
                    key,
                    email,
                    display_name,
                    first_name,
                    last_name,
                    image,
                    is_org_admin: admin,
                    last_seen_ms: seen,
                    creation_ms: created,
                },
                inactive,
                first_seen_ms: first,
                last_changed_ms: last,
            },
        )
}

fn change_event() -> impl Strategy<Value = ChangeEvent> {
    (
        any::<u128>(),
        proptest::sample::select(EventType::ALL.to_vec()),
        (".{1,30}", ".{1,30}", proptest::option::of(".{0,30}")),
        (any::<i64>(), 0..=i64::MAX as u64),
        (
            proptest::option::of(member_state()),
            proptest::option::of(member_state()),
        ),
    )
        .prop_map(
            |(id, t, (org, user, email), (at, seq), (before, after))| ChangeEvent {
                event_id: uuid::Uuid::from_u128(id),
                event_type: t,
                org_key: org,
                user_key: user,
                email,
                detected_at_ms: at,
                poll_seq: seq,
                before,
                after,
            },
        )
}

proptest! {
    #[test]
    fn any_event_round_trips_in_both_formats(e in change_event()) {
        let schemas = schemas();
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let single = Encoder::single_object(Arc::clone(&schemas), source());
        let r = single.encode_event(&e).expect("encode");
        let d = rt
            .block_on(Decoder::new(Arc::clone(&schemas)).decode_event(&r.key, r.value.as_deref().expect("value")))
            .expect("decode");
        prop_assert_eq!(&d.event, &e);
        // The synchronous path of cached writer schemas decodes the same event.
        let value = r.value.as_deref().expect("value");
        let cached = Decoder::new(Arc::clone(&schemas)).decode_event_cached(&r.key, value).expect("decode");
        prop_assert_eq!(cached.event, e.clone());
        // Confluent bytes are the single-object bytes with another header.
        let ids = SchemaIds { events_key: 1, events_value: 2, state_key: 1, state_value: 3 };
        let c = Encoder::with_schema_ids(schemas, source(), ids).encode_event(&e).expect("encode");
        prop_assert_eq!(&c.key[5..], &r.key[10..]);
        prop_assert_eq!(&c.value.expect("value")[5..], &r.value.expect("value")[10..]);
    }

    #[test]
    fn any_member_state_record_round_trips(s in member_state(), org in ".{1,30}") {
        let schemas = schemas();
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let record = StateRecord::Member { org_key: org, user_key: s.member.key.clone(), state: Some(s) };
        let r = Encoder::single_object(Arc::clone(&schemas), source()).encode_state(&record).expect("encode");
        let d = rt
            .block_on(Decoder::new(schemas).decode_state(&r.key, r.value.as_deref()))
            .expect("decode");
        prop_assert_eq!(d, record);
    }
}
