//! Round trips through both wire formats: every event type, sparse and full members,
//! both kinds of state record and tombstones; decoding of older and newer writer
//! schemas; and the decoder's typed errors.

use std::sync::Arc;

use apache_avro::types::Value;
use streak_connector::avro::{
    DecodeError, Decoder, EncodeError, Encoder, MembershipKey, Registration, RegistryClient,
    RegistryConfig, SchemaIds, SchemaRole, TopicNames, WireFormat,
};
use streak_connector::membership::{EventType, StateRecord};
use testkit::avro::*;
use testkit::registry_mock::MockRegistry;

fn topics() -> TopicNames {
    TopicNames {
        events: format!("events-{}", uuid::Uuid::new_v4()),
        state: format!("state-{}", uuid::Uuid::new_v4()),
    }
}

async fn registry_pair() -> (MockRegistry, Encoder, Decoder) {
    let mock = MockRegistry::start().await;
    let client = RegistryClient::new(RegistryConfig::new(&mock.url)).expect("client");
    let schemas = schemas();
    let encoder = Encoder::with_registry(
        Arc::clone(&schemas),
        source(),
        &client,
        &topics(),
        Registration::Register,
    )
    .await
    .expect("register");
    (mock, encoder, Decoder::with_registry(schemas, client))
}

fn single_object_pair() -> (Encoder, Decoder) {
    let schemas = schemas();
    (
        Encoder::single_object(Arc::clone(&schemas), source()),
        Decoder::new(schemas),
    )
}

async fn assert_round_trips(encoder: &Encoder, decoder: &Decoder) {
    for t in EventType::ALL {
        let mut e = event(t);
        let record = encoder.encode_event(&e).expect("encode event");
        let value = record.value.as_deref().expect("events have values");
        let decoded = decoder
            .decode_event(&record.key, value)
            .await
            .expect("decode");
        assert_eq!(decoded.event, e, "{t:?}");
        assert_eq!(decoded.source, source());

        // Every optional field absent.
        e.email = None;
        e.before = e.before.map(|_| sparse_state());
        e.after = e.after.map(|_| sparse_state());
        let record = encoder.encode_event(&e).expect("encode sparse");
        let decoded = decoder
            .decode_event(&record.key, record.value.as_deref().expect("value"))
            .await
            .expect("decode sparse");
        assert_eq!(decoded.event, e, "{t:?} sparse");
    }
    for r in [
        member_record(Some(full_state())),
        member_record(Some(sparse_state())),
        member_record(None),
        checkpoint_record(),
    ] {
        let encoded = encoder.encode_state(&r).expect("encode state");
        assert_eq!(
            encoded.value.is_none(),
            matches!(&r, StateRecord::Member { state: None, .. })
        );
        let decoded = decoder
            .decode_state(&encoded.key, encoded.value.as_deref())
            .await
            .expect("decode state");
        assert_eq!(decoded, r);
    }
}

#[tokio::test]
async fn single_object_round_trips_every_record_kind() {
    let (encoder, decoder) = single_object_pair();
    assert_eq!(encoder.wire_format(), WireFormat::SingleObject);
    assert_round_trips(&encoder, &decoder).await;
}

#[tokio::test]
async fn confluent_round_trips_every_record_kind() {
    let (_mock, encoder, decoder) = registry_pair().await;
    assert_eq!(encoder.wire_format(), WireFormat::Confluent);
    assert_round_trips(&encoder, &decoder).await;
}

#[tokio::test]
async fn single_object_headers_carry_the_schema_fingerprints() {
    let (encoder, _) = single_object_pair();
    let schemas = schemas();
    let r = encoder
        .encode_event(&event(EventType::Joined))
        .expect("encode");
    let fp = |role| schemas.current(role).fingerprint.to_le_bytes();
    assert_eq!(r.key[..2], [0xC3, 0x01]);
    assert_eq!(r.key[2..10], fp(SchemaRole::Key));
    let value = r.value.expect("value");
    assert_eq!(value[2..10], fp(SchemaRole::Event));
    let s = encoder.encode_state(&checkpoint_record()).expect("encode");
    assert_eq!(s.value.expect("value")[2..10], fp(SchemaRole::State));
    // The same key schema on both topics: a member's key bytes are identical.
    let m = encoder
        .encode_state(&member_record(Some(full_state())))
        .expect("encode");
    assert_eq!(m.key, r.key);
}

#[tokio::test]
async fn confluent_headers_carry_the_registered_ids() {
    let schemas = schemas();
    let ids = SchemaIds {
        events_key: 7,
        events_value: 0x0102_0304,
        state_key: 7,
        state_value: 9,
    };
    let encoder = Encoder::with_schema_ids(schemas, source(), ids);
    let r = encoder
        .encode_event(&event(EventType::Left))
        .expect("encode");
    assert_eq!(r.key[..5], [0, 0, 0, 0, 7]);
    assert_eq!(r.value.expect("value")[..5], [0, 1, 2, 3, 4]);
    let s = encoder.encode_state(&checkpoint_record()).expect("encode");
    assert_eq!(s.value.expect("value")[..5], [0, 0, 0, 0, 9]);
}

#[tokio::test]
async fn json_rendering_for_tail() {
    let (encoder, decoder) = single_object_pair();
    let r = encoder
        .encode_event(&event(EventType::AdminChanged))
        .expect("encode");
    let json = decoder
        .decode_json(r.value.as_deref().expect("value"))
        .await
        .expect("json");
    assert_eq!(json["event_type"], "ADMIN_CHANGED");
    assert_eq!(json["event_id"], "6f1c2a3b-4c5d-5e6f-8a9b-0c1d2e3f4a5b");
    assert_eq!(json["detected_at"], 1_700_000_300_000_i64);
    assert_eq!(json["poll_seq"], 42);
    assert_eq!(json["before"]["is_org_admin"], true);
    assert_eq!(json["after"]["is_org_admin"], false);
    assert_eq!(json["after"]["last_seen_at"], 1_700_000_000_123_i64);
    assert_eq!(json["source"]["instance"], "host-1/4f2a");
    let key = decoder.decode_json(&r.key).await.expect("key json");
    assert_eq!(
        key["user_key"],
        "agxzfm1haWxmb29nYWVyEQsSBFVzZXIYgICAgICAgAoM"
    );

    let c = encoder.encode_state(&checkpoint_record()).expect("encode");
    let key = decoder.decode_json(&c.key).await.expect("key json");
    assert_eq!(key["user_key"], serde_json::Value::Null);
    let value = decoder
        .decode_json(c.value.as_deref().expect("value"))
        .await
        .expect("json");
    assert_eq!(value["member"], serde_json::Value::Null);
    assert_eq!(value["checkpoint"]["member_count"], 1234);
}

#[tokio::test]
async fn decoder_errors_are_typed() {
    let (encoder, decoder) = single_object_pair();
    let r = encoder
        .encode_event(&event(EventType::Joined))
        .expect("encode");
    let value = r.value.clone().expect("value");

    // A key where a value is expected and the reverse.
    let err = decoder
        .decode_event_value(&r.key)
        .await
        .expect_err("key as value");
    assert!(matches!(err, DecodeError::WrongSchema { .. }), "{err}");
    assert!(err.to_string().contains("MembershipKey"), "{err}");
    let err = decoder.decode_key(&value).await.expect_err("value as key");
    assert!(matches!(err, DecodeError::WrongSchema { .. }), "{err}");

    // Cut short, and with a byte too many.
    let err = decoder
        .decode_event_value(&value[..value.len() - 3])
        .await
        .expect_err("truncated");
    assert!(
        matches!(
            err,
            DecodeError::Malformed {
                role: SchemaRole::Event,
                ..
            }
        ),
        "{err}"
    );
    // Cut inside a nullable string: apache-avro alone would read a null there.
    let err = decoder
        .decode_key(&r.key[..r.key.len() - 3])
        .await
        .expect_err("cut key");
    assert!(
        matches!(
            err,
            DecodeError::Malformed {
                role: SchemaRole::Key,
                ..
            }
        ),
        "{err}"
    );
    let mut longer = value.clone();
    longer.push(0);
    let err = decoder
        .decode_event_value(&longer)
        .await
        .expect_err("trailing");
    assert!(
        matches!(err, DecodeError::TrailingBytes { count: 1 }),
        "{err}"
    );

    // A fingerprint this build does not know.
    let mut foreign = value.clone();
    foreign[2] ^= 0xff;
    let err = decoder
        .decode_event_value(&foreign)
        .await
        .expect_err("fingerprint");
    assert!(
        matches!(err, DecodeError::UnknownFingerprint { .. }),
        "{err}"
    );

    // Confluent framing without a registry.
    let confluent = Encoder::with_schema_ids(
        schemas(),
        source(),
        SchemaIds {
            events_key: 1,
            events_value: 2,
            state_key: 1,
            state_value: 3,
        },
    );
    let c = confluent
        .encode_event(&event(EventType::Joined))
        .expect("encode");
    let err = decoder.decode_key(&c.key).await.expect_err("no registry");
    assert!(
        matches!(err, DecodeError::RegistryRequired { id: 1 }),
        "{err}"
    );
    assert!(!err.is_retriable());

    // Not Avro at all.
    let err = decoder.decode_key(b"{\"org\":1}").await.expect_err("json");
    assert!(
        matches!(err, DecodeError::UnknownFraming { first_byte: b'{' }),
        "{err}"
    );
    let err = decoder.decode_key(&[]).await.expect_err("empty");
    assert!(matches!(err, DecodeError::Empty), "{err}");

    // A key that names another member.
    let other = encoder
        .encode_event(&streak_connector::membership::ChangeEvent {
            user_key: "someone-else".into(),
            ..event(EventType::Joined)
        })
        .expect("encode");
    let err = decoder
        .decode_event(&other.key, &value)
        .await
        .expect_err("mismatch");
    assert!(matches!(err, DecodeError::KeyMismatch { .. }), "{err}");

    // State: a checkpoint value under a member key, and a checkpoint tombstone.
    let member = encoder.encode_state(&member_record(None)).expect("encode");
    let checkpoint = encoder.encode_state(&checkpoint_record()).expect("encode");
    let err = decoder
        .decode_state(&member.key, checkpoint.value.as_deref())
        .await
        .expect_err("checkpoint under member key");
    assert!(matches!(err, DecodeError::KeyMismatch { .. }), "{err}");
    let err = decoder
        .decode_state(&checkpoint.key, None)
        .await
        .expect_err("checkpoint tombstone");
    assert!(matches!(err, DecodeError::KeyMismatch { .. }), "{err}");
}

#[tokio::test]
async fn counters_beyond_avro_long_are_refused() {
    let (encoder, _) = single_object_pair();
    let mut e = event(EventType::Joined);
    e.poll_seq = u64::MAX;
    let err = encoder.encode_event(&e).expect_err("overflow");
    assert!(
        matches!(
            err,
            EncodeError::OutOfRange {
                field: "poll_seq",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn keys_decode_to_member_or_checkpoint() {
    let (encoder, decoder) = single_object_pair();
    let c = encoder.encode_state(&checkpoint_record()).expect("encode");
    assert_eq!(
        decoder.decode_key(&c.key).await.expect("key"),
        MembershipKey {
            org_key: "agxzfm1haWxmb29nYWVyGAsSDE9yZ2FuaXphdGlvbhiAgICAgICACgw".into(),
            user_key: None,
        }
    );
}

/// The current event schema edited as JSON (for writer schemas of other versions).
fn edited_event_schema(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(schemas().current(SchemaRole::Event).text).expect("json");
    edit(&mut json);
    json.to_string()
}

fn field_mut<'a>(record: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    record["fields"]
        .as_array_mut()
        .and_then(|f| f.iter_mut().find(|f| f["name"] == name))
        .expect("field")
}

/// Register `schema_text` in the mock under a subject and write `value` with it.
async fn write_with(mock: &MockRegistry, schema_text: &str, value: Value) -> Vec<u8> {
    let client = RegistryClient::new(RegistryConfig::new(&mock.url)).expect("client");
    let id = client
        .register(
            &format!("other-{}-value", uuid::Uuid::new_v4()),
            schema_text,
        )
        .await
        .expect("register");
    let schema = apache_avro::Schema::parse_str(schema_text).expect("writer schema");
    let mut bytes = vec![0];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend(apache_avro::to_avro_datum(&schema, value).expect("datum"));
    bytes
}

fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn old_or_new_event(symbols_index: u32, symbol: &str) -> Value {
    record(vec![
        ("event_id", Value::Uuid(uuid::Uuid::from_u128(7))),
        ("event_type", Value::Enum(symbols_index, symbol.into())),
        ("org_key", Value::String("org".into())),
        ("user_key", Value::String("user".into())),
        ("email", Value::Union(0, Box::new(Value::Null))),
        ("detected_at", Value::TimestampMillis(5)),
        ("poll_seq", Value::Long(3)),
        ("before", Value::Union(0, Box::new(Value::Null))),
        (
            "after",
            Value::Union(
                1,
                Box::new(record(vec![
                    ("user_key", Value::String("user".into())),
                    ("inactive", Value::Boolean(false)),
                    ("first_seen_at", Value::TimestampMillis(1)),
                    ("last_changed_at", Value::TimestampMillis(2)),
                ])),
            ),
        ),
        (
            "source",
            record(vec![
                ("connector", Value::String("c".into())),
                ("version", Value::String("0.0.1".into())),
                ("instance", Value::String("i".into())),
            ]),
        ),
    ])
}

#[tokio::test]
async fn older_writer_schemas_resolve_to_the_current_one() {
    let (mock, _encoder, decoder) = registry_pair().await;
    // An "older" event schema: members had only the four required fields and
    // fewer event types.
    let older = edited_event_schema(|s| {
        let before = field_mut(s, "before");
        let member = &mut before["type"][1];
        let keep = ["user_key", "inactive", "first_seen_at", "last_changed_at"];
        member["fields"]
            .as_array_mut()
            .expect("fields")
            .retain(|f| keep.iter().any(|k| f["name"] == *k));
        field_mut(s, "event_type")["type"]["symbols"] =
            serde_json::json!(["UNKNOWN", "SNAPSHOT", "JOINED", "LEFT"]);
    });
    let bytes = write_with(&mock, &older, old_or_new_event(2, "JOINED")).await;
    let decoded = decoder.decode_event_value(&bytes).await.expect("resolved");
    assert_eq!(decoded.event.event_type, EventType::Joined);
    let after = decoded.event.after.expect("after");
    assert_eq!(after.member.key, "user");
    assert_eq!(
        after.member.email, None,
        "absent field takes its null default"
    );
    assert_eq!(after.member.is_org_admin, None);
    assert_eq!(after.last_changed_ms, 2);
}

#[tokio::test]
async fn newer_event_types_read_as_unknown() {
    let (mock, _encoder, decoder) = registry_pair().await;
    let newer = edited_event_schema(|s| {
        let symbols = &mut field_mut(s, "event_type")["type"]["symbols"];
        symbols
            .as_array_mut()
            .expect("symbols")
            .push("ROLE_CHANGED".into());
        // A newer MemberState with a field this build does not know.
        let member = &mut field_mut(s, "before")["type"][1];
        member["fields"]
            .as_array_mut()
            .expect("fields")
            .push(serde_json::json!({"name": "team", "type": ["null", "string"], "default": null}));
    });
    let mut value = old_or_new_event(8, "ROLE_CHANGED");
    if let Value::Record(fields) = &mut value {
        for (name, v) in fields.iter_mut() {
            if name == "after" {
                *v = Value::Union(0, Box::new(Value::Null));
            }
        }
    }
    let bytes = write_with(&mock, &newer, value).await;
    let err = decoder
        .decode_event_value(&bytes)
        .await
        .expect_err("unknown type");
    assert!(
        matches!(&err, DecodeError::UnknownEventType { symbol } if symbol == "UNKNOWN"),
        "{err}"
    );
    // `tail` still shows what the writer wrote.
    let json = decoder.decode_json(&bytes).await.expect("json");
    assert_eq!(json["event_type"], "ROLE_CHANGED");
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use streak_connector::membership::{ChangeEvent, Member, MemberState};

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
            .prop_map(|(id, t, (org, user, email), (at, seq), (before, after))| {
                ChangeEvent {
                    event_id: uuid::Uuid::from_u128(id),
                    event_type: t,
                    org_key: org,
                    user_key: user,
                    email,
                    detected_at_ms: at,
                    poll_seq: seq,
                    before,
                    after,
                }
            })
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
            prop_assert_eq!(d.event, e.clone());
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
}

/// The encoder and decoder are shared across tasks; their futures can be spawned.
#[tokio::test]
async fn encoder_and_decoder_are_shareable_across_tasks() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    let (encoder, decoder) = single_object_pair();
    send_sync(&encoder);
    send_sync(&decoder);
    let r = encoder
        .encode_event(&event(EventType::Joined))
        .expect("encode");
    let handle = tokio::spawn(async move {
        decoder
            .decode_event(&r.key, r.value.as_deref().expect("value"))
            .await
            .map(|d| d.event)
    });
    assert_eq!(
        handle.await.expect("task").expect("decode"),
        event(EventType::Joined)
    );
}
