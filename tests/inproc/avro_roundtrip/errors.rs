//! The decoder's typed errors (wrong schema, malformed, trailing bytes, unknown
//! fingerprint or framing, no registry, key mismatch) and the encoder's refusal of
//! counters beyond Avro's long.

use streak_connector::avro::{
    DecodeError, Decoder, EncodeError, EncodedRecord, Encoder, SchemaIds, SchemaRole,
};
use streak_connector::membership::EventType;
use testkit::avro::*;

use super::single_object_pair;

/// An encoder, its decoder, and the key and value bytes of one JOINED event.
fn joined() -> (Encoder, Decoder, EncodedRecord, Vec<u8>) {
    let (encoder, decoder) = single_object_pair();
    let r = encoder
        .encode_event(&event(EventType::Joined))
        .expect("encode");
    let value = r.value.clone().expect("value");
    (encoder, decoder, r, value)
}

#[tokio::test]
async fn a_key_where_a_value_is_expected_and_the_reverse_are_the_wrong_schema() {
    let (_, decoder, r, value) = joined();
    let err = decoder
        .decode_event_value(&r.key)
        .await
        .expect_err("key as value");
    assert!(matches!(err, DecodeError::WrongSchema { .. }), "{err}");
    assert!(err.to_string().contains("MembershipKey"), "{err}");
    let err = decoder.decode_key(&value).await.expect_err("value as key");
    assert!(matches!(err, DecodeError::WrongSchema { .. }), "{err}");
}

#[tokio::test]
async fn bytes_cut_short_are_malformed_and_a_byte_too_many_is_trailing() {
    let (_, decoder, r, value) = joined();
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
}

#[tokio::test]
async fn unknown_fingerprints_and_framings_are_refused() {
    let (_, decoder, _, value) = joined();
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
}

#[tokio::test]
async fn a_key_that_does_not_match_its_value_is_refused() {
    let (encoder, decoder, _, value) = joined();
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
    let err = decoder
        .decode_event_cached(&other.key, &value)
        .expect_err("mismatch, synchronously");
    assert!(err.to_string().contains("someone-else"), "{err}");
    // A key without a member (a checkpoint's) under an event.
    let checkpoint = encoder.encode_state(&checkpoint_record()).expect("encode");
    let err = decoder
        .decode_event_cached(&checkpoint.key, &value)
        .expect_err("no member in the key");
    assert!(matches!(err, DecodeError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("null"), "{err}");

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
