//! Round trips through both wire formats: every event type, sparse and full members,
//! both kinds of state record and tombstones; the headers; JSON for `tail`. Random
//! records are in `properties`, decoding of older and newer writer schemas in
//! `evolution`, the encoder's and decoder's typed errors in `errors`.

mod errors;
mod evolution;
mod properties;

use std::sync::Arc;

use streak_connector::avro::{
    Decoder, Encoder, MembershipKey, Registration, RegistryClient, RegistryConfig, SchemaIds,
    SchemaRole, TopicNames, WireFormat,
};
use streak_connector::membership::{EventType, StateRecord};
use streak_connector::metrics::Metrics;
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
        &Metrics::new(),
    )
    .await
    .expect("register");
    (
        mock,
        encoder,
        Decoder::with_registry(schemas, client, Arc::new(Metrics::new())),
    )
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
