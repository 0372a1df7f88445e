//! The direct codec against apache-avro, the reference: for random events and state
//! records, the hand-written bytes equal apache-avro's bytes of the same record
//! (`reference.rs`), the direct decoder reads them back to the same record, and
//! apache-avro's reading of them (the decoder's path for older writers) agrees.

use std::sync::Arc;

use apache_avro::types::Value;
use proptest::prelude::*;

use super::*;
use crate::membership::{
    ChangeEvent, Checkpoint, EventType, Member, MemberState, SourceInfo, StateRecord,
};

fn schemas() -> Arc<Schemas> {
    Arc::new(Schemas::load().expect("schemas"))
}

/// Any text, including the empty string and characters outside the BMP.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), any::<String>(), "[a-z0-9@.]{1,40}"]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn arb_member_state() -> impl Strategy<Value = MemberState> {
    (
        (
            text(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
        ),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<i64>()),
        (any::<bool>(), any::<i64>(), any::<i64>()),
    )
        .prop_map(
            |(
                (key, email, display_name, first_name, last_name, image),
                admin,
                seen,
                created,
                d,
            )| {
                MemberState {
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
                    inactive: d.0,
                    first_seen_ms: d.1,
                    last_changed_ms: d.2,
                }
            },
        )
}

fn arb_event() -> impl Strategy<Value = ChangeEvent> {
    (
        (
            any::<u128>(),
            proptest::sample::select(EventType::ALL.to_vec()),
        ),
        (text(), text(), opt_text()),
        (any::<i64>(), 0..=i64::MAX as u64),
        proptest::option::of(arb_member_state()),
        proptest::option::of(arb_member_state()),
    )
        .prop_map(
            |((id, event_type), (org_key, user_key, email), (detected, seq), before, after)| {
                ChangeEvent {
                    event_id: uuid::Uuid::from_u128(id),
                    event_type,
                    org_key,
                    user_key,
                    email,
                    detected_at_ms: detected,
                    poll_seq: seq,
                    before,
                    after,
                }
            },
        )
}

fn arb_state_record() -> impl Strategy<Value = StateRecord> {
    prop_oneof![
        (text(), proptest::option::of(arb_member_state())).prop_map(|(org_key, state)| {
            StateRecord::Member {
                org_key,
                // The key names the member, as the connector writes it.
                user_key: state
                    .as_ref()
                    .map_or_else(|| "gone".to_owned(), |s| s.member.key.clone()),
                state,
            }
        }),
        (
            text(),
            0..=i64::MAX as u64,
            any::<i64>(),
            0..=i64::MAX as u64,
            proptest::option::of(any::<u128>())
        )
            .prop_map(
                |(org_key, poll_seq, last_poll_ms, member_count, incarnation)| {
                    StateRecord::Checkpoint(Checkpoint {
                        org_key,
                        poll_seq,
                        last_poll_ms,
                        member_count,
                        incarnation: incarnation.map(uuid::Uuid::from_u128),
                    })
                },
            ),
    ]
}

fn arb_source() -> impl Strategy<Value = SourceInfo> {
    (text(), text(), text()).prop_map(|(connector, version, instance)| SourceInfo {
        connector,
        version,
        instance,
    })
}

/// apache-avro's bytes of `value` in the current schema of `role`.
fn reference_bytes(schemas: &Schemas, role: SchemaRole, value: Value) -> Vec<u8> {
    apache_avro::to_avro_datum(&schemas.current(role).schema, value).expect("reference")
}

/// apache-avro's reading of `body` in the current schema of `role`.
fn reference_read(schemas: &Schemas, role: SchemaRole, body: &[u8]) -> Value {
    let mut reader = body;
    let value = apache_avro::from_avro_datum(&schemas.current(role).schema, &mut reader, None)
        .expect("apache-avro reads the direct bytes");
    assert!(reader.is_empty(), "apache-avro read all of it");
    value
}

/// Single-object headers are 10 bytes.
const HEADER: usize = 10;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn events_encode_as_apache_avro_does_and_decode_back(
        event in arb_event(),
        source in arb_source(),
    ) {
        let schemas = schemas();
        let encoder = Encoder::single_object(Arc::clone(&schemas), source.clone());
        let record = encoder.encode_event(&event).expect("encode");
        let value = record.value.as_deref().expect("value");

        let key_ref = reference::key_to_value(&event.org_key, Some(&event.user_key));
        prop_assert_eq!(&record.key[HEADER..], &reference_bytes(&schemas, SchemaRole::Key, key_ref)[..]);
        let event_ref = reference::event_to_value(&event, &source).expect("reference value");
        prop_assert_eq!(&value[HEADER..], &reference_bytes(&schemas, SchemaRole::Event, event_ref)[..]);

        let decoded = direct_decode::event(&value[HEADER..]).expect("direct decode");
        prop_assert_eq!(&decoded.event, &event);
        prop_assert_eq!(&decoded.source, &source);
        let via_avro = convert::event_from_value(reference_read(&schemas, SchemaRole::Event, &value[HEADER..]))
            .expect("resolving path");
        prop_assert_eq!(via_avro, decoded);
        let key = direct_decode::key(&record.key[HEADER..]).expect("key");
        prop_assert_eq!(key.user_key.as_deref(), Some(event.user_key.as_str()));
    }

    #[test]
    fn state_records_encode_as_apache_avro_does_and_decode_back(record in arb_state_record()) {
        let schemas = schemas();
        let source = SourceInfo { connector: "c".into(), version: "v".into(), instance: "i".into() };
        let encoder = Encoder::single_object(Arc::clone(&schemas), source);
        let bytes = encoder.encode_state(&record).expect("encode");

        let (key_ref, value_ref) = reference::state_to_values(&record).expect("reference values");
        prop_assert_eq!(&bytes.key[HEADER..], &reference_bytes(&schemas, SchemaRole::Key, key_ref)[..]);
        match (&bytes.value, value_ref) {
            (Some(v), Some(r)) => {
                prop_assert_eq!(&v[HEADER..], &reference_bytes(&schemas, SchemaRole::State, r)[..]);
                let direct = direct_decode::state_value(&v[HEADER..]).expect("direct");
                let via_avro = convert::state_parts_from_value(
                    reference_read(&schemas, SchemaRole::State, &v[HEADER..]),
                ).expect("resolving path");
                prop_assert_eq!(format!("{direct:?}"), format!("{via_avro:?}"));
            }
            (None, None) => {}
            (v, r) => prop_assert!(false, "tombstones disagree: {v:?} {r:?}"),
        }

        let decoder = Decoder::new(Arc::clone(&schemas));
        let decoded = decoder
            .decode_state_cached(&bytes.key, bytes.value.as_deref())
            .expect("decode");
        prop_assert_eq!(decoded, record);
    }

    /// The restore's packed decoding agrees with the general one, record for record
    /// and error for error: on the connector's records in both framings, and on the
    /// same records with a byte changed or the value cut short.
    #[test]
    fn packed_restore_decoding_agrees_with_the_general_path(
        record in arb_state_record(),
        confluent in any::<bool>(),
        damage in proptest::option::of((any::<prop::sample::Index>(), any::<u8>(), any::<bool>())),
    ) {
        let schemas = schemas();
        let source = SourceInfo { connector: "c".into(), version: "v".into(), instance: "i".into() };
        let encoder = if confluent {
            let ids = SchemaIds { events_key: 1, events_value: 2, state_key: 3, state_value: 4 };
            Encoder::with_schema_ids(Arc::clone(&schemas), source, ids)
        } else {
            Encoder::single_object(Arc::clone(&schemas), source)
        };
        let mut bytes = encoder.encode_state(&record).expect("encode");
        if let (Some((at, byte, cut)), Some(v)) = (damage, bytes.value.as_mut()) {
            let i = at.index(v.len());
            if cut { v.truncate(i) } else { v[i] = byte }
        }
        let decoder = Decoder::new(Arc::clone(&schemas));
        let general = decoder
            .decode_state_cached(&bytes.key, bytes.value.as_deref())
            .map(crate::membership::RestoredRecord::from);
        let packed = decoder.decode_state_restored(&bytes.key, bytes.value.as_deref());
        match (packed, general) {
            (Ok(p), Ok(g)) => prop_assert_eq!(p, g),
            (Err(p), Err(g)) => prop_assert_eq!(p.to_string(), g.to_string()),
            (p, g) => prop_assert!(false, "packed {p:?} but general {g:?}"),
        }
    }

    /// [`Encoder::record_bound`] bounds every record the connector writes for a
    /// member: its events (keyed and mailed as the diff makes them) and its state
    /// record, in both wire formats.
    #[test]
    fn the_record_bound_holds(
        event in arb_event(),
        org_key in text(),
        source in arb_source(),
        confluent in any::<bool>(),
    ) {
        let schemas = schemas();
        let encoder = if confluent {
            let ids = SchemaIds { events_key: 1, events_value: 2, state_key: 3, state_value: 4 };
            Encoder::with_schema_ids(Arc::clone(&schemas), source, ids)
        } else {
            Encoder::single_object(Arc::clone(&schemas), source)
        };
        let member = event.after.as_ref().or(event.before.as_ref());
        let event = ChangeEvent {
            org_key: org_key.clone(),
            user_key: member.map(|s| s.member.key.clone()).unwrap_or_default(),
            email: member.and_then(|s| s.member.email.clone()),
            ..event
        };
        let text = |s: &Option<MemberState>| s.as_ref().map_or(0, |s| {
            let m = &s.member;
            m.key.len() + [&m.email, &m.display_name, &m.first_name, &m.last_name, &m.image]
                .iter().map(|f| f.as_ref().map_or(0, String::len)).sum::<usize>()
        });
        let bound = encoder.record_bound(&org_key, text(&event.before).max(text(&event.after)));
        let size = |r: &EncodedRecord| r.key.len() + r.value.as_ref().map_or(0, Vec::len);
        let encoded = encoder.encode_event(&event).expect("encode");
        prop_assert!(size(&encoded) <= bound, "event {} > {bound}", size(&encoded));
        let record = StateRecord::Member {
            org_key,
            user_key: event.user_key.clone(),
            state: event.after.clone(),
        };
        let encoded = encoder.encode_state(&record).expect("encode");
        prop_assert!(size(&encoded) <= bound, "state {} > {bound}", size(&encoded));
    }

    /// Whatever the bytes, the direct decoder returns (a record or an error): it
    /// never panics and never reads past the end.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = direct_decode::key(&body);
        let _ = direct_decode::event(&body);
        let _ = direct_decode::state_value(&body);
    }
}

#[test]
fn the_direct_codec_was_written_for_the_embedded_schemas() {
    let schemas = schemas();
    for (role, fingerprint) in SchemaRole::ALL.into_iter().zip(direct_encode::WRITTEN_FOR) {
        assert_eq!(
            schemas.current(role).fingerprint,
            fingerprint,
            "schemas/{}.avsc changed: carry the change into direct_encode.rs and \
             direct_decode.rs, then update WRITTEN_FOR",
            role.file_stem()
        );
    }
}

#[test]
fn event_type_symbols_match_the_schema() {
    let schemas = schemas();
    let json: serde_json::Value =
        serde_json::from_str(schemas.current(SchemaRole::Event).text).expect("json");
    let symbols = json["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "event_type"))
        .and_then(|f| f["type"]["symbols"].as_array())
        .expect("event_type symbols");
    let symbols: Vec<&str> = symbols.iter().filter_map(|s| s.as_str()).collect();
    assert_eq!(symbols, decoded::EVENT_TYPE_SYMBOLS);
    for t in EventType::ALL {
        let index = direct_encode::event_type_index(t);
        assert_eq!(decoded::EVENT_TYPE_SYMBOLS[index as usize], t.as_str());
        assert_eq!(decoded::event_type_from_symbol(t.as_str()).ok(), Some(t));
    }
    assert!(matches!(
        decoded::event_type_from_symbol("UNKNOWN"),
        Err(DecodeError::UnknownEventType { .. })
    ));
}

/// Bytes the direct decoder refuses fail as the resolving path would have them fail.
#[test]
fn direct_decoding_errors_are_typed() {
    let schemas = schemas();
    let source = SourceInfo {
        connector: "c".into(),
        version: "v".into(),
        instance: "i".into(),
    };
    let encoder = Encoder::single_object(Arc::clone(&schemas), source);
    let checkpoint = StateRecord::Checkpoint(Checkpoint {
        org_key: "o".into(),
        poll_seq: 1,
        last_poll_ms: 2,
        member_count: 3,
        incarnation: None,
    });
    let bytes = encoder.encode_state(&checkpoint).expect("encode");
    let body = &bytes.value.as_deref().expect("value")[HEADER..];
    assert!(matches!(
        direct_decode::state_value(&body[..body.len() - 1]),
        Err(DecodeError::Malformed {
            role: SchemaRole::State,
            ..
        })
    ));
    let mut longer = body.to_vec();
    longer.push(0);
    assert!(matches!(
        direct_decode::state_value(&longer),
        Err(DecodeError::TrailingBytes { count: 1 })
    ));
    // poll_seq -1 (zigzag 0x01) where the checkpoint's poll_seq sits.
    let negative = [0u8, 2, 2, b'o', 1, 4, 6];
    assert!(
        matches!(
            direct_decode::state_value(&negative),
            Err(DecodeError::Invalid { ref field, .. }) if field == "Checkpoint.poll_seq"
        ),
        "{:?}",
        direct_decode::state_value(&negative)
    );
    // Event type 0 is UNKNOWN: a newer writer's type.
    let mut event = Vec::new();
    binary::put_str(&mut event, "01234567-89ab-5def-8123-456789abcdef");
    binary::put_long(&mut event, 0);
    assert!(matches!(
        direct_decode::event(&event),
        Err(DecodeError::UnknownEventType { ref symbol }) if symbol == "UNKNOWN"
    ));
}
