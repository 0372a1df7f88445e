//! The Schema Registry client and the registry paths of the encoder and decoder,
//! against a local double of the Confluent REST API (`testkit::registry_mock`).

use std::sync::Arc;
use std::time::Duration;

use streak_connector::avro::{
    key_subject, value_subject, DecodeError, Decoder, Encoder, Registration, RegistryAuth,
    RegistryClient, RegistryConfig, RegistryError, SchemaRole, TopicNames,
};
use streak_connector::membership::EventType;
use streak_connector::metrics::Metrics;
use streak_connector::recovery::Classified;
use testkit::avro::{event, schemas, source};
use testkit::registry_mock::MockRegistry;

fn client(mock: &MockRegistry) -> RegistryClient {
    RegistryClient::new(RegistryConfig::new(&mock.url)).expect("client")
}

fn topics() -> TopicNames {
    TopicNames {
        events: format!("events-{}", uuid::Uuid::new_v4()),
        state: format!("state-{}", uuid::Uuid::new_v4()),
    }
}

fn key_text() -> &'static str {
    schemas().current(SchemaRole::Key).text
}

#[tokio::test]
async fn register_is_idempotent_and_lookup_finds_the_id() {
    let mock = MockRegistry::start().await;
    let c = client(&mock);
    let id = c.register("t-key", key_text()).await.expect("register");
    assert_eq!(c.register("t-key", key_text()).await.expect("again"), id);
    assert_eq!(c.lookup("t-key", key_text()).await.expect("lookup"), id);
    assert_eq!(c.schema_by_id(id).await.expect("by id"), key_text());
    // The documented REST paths were used.
    assert_eq!(mock.requests_matching("POST /subjects/t-key/versions"), 2);
    assert_eq!(mock.requests_matching("POST /subjects/t-key"), 3);
    assert_eq!(mock.requests_matching(&format!("GET /schemas/ids/{id}")), 1);
}

#[tokio::test]
async fn encoder_registers_four_subjects_by_topic_name() {
    let mock = MockRegistry::start().await;
    let topics = topics();
    let encoder = Encoder::with_registry(
        schemas(),
        source(),
        &client(&mock),
        &topics,
        Registration::Register,
        &Metrics::new(),
    )
    .await
    .expect("register");
    let subjects = mock.with(|s| s.subjects.clone());
    for subject in [
        key_subject(&topics.events),
        value_subject(&topics.events),
        key_subject(&topics.state),
        value_subject(&topics.state),
    ] {
        assert!(subjects.contains_key(&subject), "{subject} in {subjects:?}");
    }
    assert_eq!(subjects.len(), 4);
    // One key schema for both topics: the same id, so identical key bytes.
    assert_eq!(
        subjects[&key_subject(&topics.events)],
        subjects[&key_subject(&topics.state)]
    );
    let r = encoder
        .encode_event(&event(EventType::Joined))
        .expect("encode");
    let events_value_id = subjects[&value_subject(&topics.events)][0];
    assert_eq!(
        r.value.expect("value")[..5],
        [[0u8].as_slice(), &events_value_id.to_be_bytes()].concat()
    );
}

#[tokio::test]
async fn lookup_only_names_the_missing_subject_then_succeeds_once_registered() {
    let mock = MockRegistry::start().await;
    let topics = topics();
    let err = Encoder::with_registry(
        schemas(),
        source(),
        &client(&mock),
        &topics,
        Registration::LookupOnly,
        &Metrics::new(),
    )
    .await
    .expect_err("nothing registered yet");
    assert!(
        matches!(&err, RegistryError::NotRegistered { subject, .. } if *subject == key_subject(&topics.events)),
        "{err}"
    );
    assert!(
        err.to_string().contains(&key_subject(&topics.events)),
        "{err}"
    );
    assert!(err.to_string().contains("40401"), "{err}");
    assert!(!err.is_retriable());

    Encoder::with_registry(
        schemas(),
        source(),
        &client(&mock),
        &topics,
        Registration::Register,
        &Metrics::new(),
    )
    .await
    .expect("register");
    Encoder::with_registry(
        schemas(),
        source(),
        &client(&mock),
        &topics,
        Registration::LookupOnly,
        &Metrics::new(),
    )
    .await
    .expect("lookup after registration");
    // Lookup never registers.
    assert_eq!(mock.with(|s| s.schemas.len()), 3);
}

#[tokio::test]
async fn incompatible_answer_names_the_subject_and_is_fatal() {
    let mock = MockRegistry::start().await;
    let topics = topics();
    let subject = value_subject(&topics.state);
    mock.with(|s| s.incompatible.insert(subject.clone()));
    let err = Encoder::with_registry(
        schemas(),
        source(),
        &client(&mock),
        &topics,
        Registration::Register,
        &Metrics::new(),
    )
    .await
    .expect_err("409");
    assert!(
        matches!(&err, RegistryError::Incompatible { subject: s, .. } if *s == subject),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&subject) && text.contains("409"), "{text}");
    assert!(!err.is_retriable());
    assert_eq!(err.error_code(), "incompatible");
}

#[tokio::test]
async fn server_errors_are_retriable_and_say_so() {
    let mock = MockRegistry::start().await;
    mock.with(|s| s.fail = true);
    let err = client(&mock)
        .register("t-value", key_text())
        .await
        .expect_err("500");
    assert!(
        matches!(err, RegistryError::Server { status: 500, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("50001"), "{err}");
    assert!(err.is_retriable());
}

#[tokio::test]
async fn invalid_schema_is_refused_with_422() {
    let mock = MockRegistry::start().await;
    let err = client(&mock)
        .register("t-value", "not json")
        .await
        .expect_err("422");
    assert!(
        matches!(&err, RegistryError::InvalidSchema { subject, .. } if subject == "t-value"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_registry_is_unavailable() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let c = RegistryClient::new(RegistryConfig::new(&url)).expect("client");
    let err = c.register("t-key", key_text()).await.expect_err("refused");
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err}");
    assert!(err.is_retriable());
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_registry_times_out() {
    let mock = MockRegistry::start().await;
    mock.with(|s| s.hang = true);
    let mut config = RegistryConfig::new(&mock.url);
    config.request_timeout = Duration::from_secs(3);
    let c = RegistryClient::new(config).expect("client");
    let started = tokio::time::Instant::now();
    let err = c.schema_by_id(1).await.expect_err("timeout");
    assert!(
        matches!(&err, RegistryError::Unavailable { source, .. } if source.is_timeout()),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[tokio::test]
async fn basic_auth_is_sent_and_refusal_is_clear() {
    let mock = MockRegistry::start().await;
    mock.with(|s| s.user_info = Some("svc:s3cret".into()));
    let good = RegistryClient::new(
        RegistryConfig::new(&mock.url).with_auth(Some(RegistryAuth::new("svc", "s3cret"))),
    )
    .expect("client");
    good.register("t-key", key_text())
        .await
        .expect("authorized");

    let bad = RegistryClient::new(
        RegistryConfig::new(&mock.url).with_auth(Some(RegistryAuth::new("svc", "wrong"))),
    )
    .expect("client");
    let err = bad.register("t-key", key_text()).await.expect_err("401");
    assert!(
        matches!(err, RegistryError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong"), "{err}");
    let anonymous = client(&mock);
    assert!(matches!(
        anonymous.schema_by_id(1).await,
        Err(RegistryError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn decoder_fetches_each_writer_schema_once() {
    let mock = MockRegistry::start().await;
    let c = client(&mock);
    let schemas = schemas();
    let encoder = Encoder::with_registry(
        Arc::clone(&schemas),
        source(),
        &c,
        &topics(),
        Registration::Register,
        &Metrics::new(),
    )
    .await
    .expect("register");
    let decoder = Decoder::with_registry(schemas, c, Arc::new(Metrics::new()));
    for t in EventType::ALL {
        let r = encoder.encode_event(&event(t)).expect("encode");
        decoder
            .decode_event(&r.key, r.value.as_deref().expect("value"))
            .await
            .expect("decode");
    }
    // Two ids (key, event value), each fetched once for 7 records.
    assert_eq!(mock.requests_matching("GET /schemas/ids/"), 2);

    // Clones share the cache.
    let clone = decoder.clone();
    let r = encoder
        .encode_event(&event(EventType::Left))
        .expect("encode");
    clone.decode_key(&r.key).await.expect("decode");
    assert_eq!(mock.requests_matching("GET /schemas/ids/"), 2);
}

#[tokio::test]
async fn unknown_ids_and_registry_outages_surface_as_decode_errors() {
    let mock = MockRegistry::start().await;
    let decoder = Decoder::with_registry(schemas(), client(&mock), Arc::new(Metrics::new()));
    let bytes = [0u8, 0, 0, 0, 99, 2, 0];
    let err = decoder.decode_key(&bytes).await.expect_err("unknown id");
    assert!(
        matches!(
            &err,
            DecodeError::Registry(RegistryError::UnknownId { id: 99, .. })
        ),
        "{err}"
    );
    assert!(!err.is_retriable());
    mock.with(|s| s.fail = true);
    let err = decoder.decode_key(&bytes).await.expect_err("outage");
    assert!(err.is_retriable(), "{err}");
}

#[tokio::test]
async fn a_foreign_schema_id_is_a_wrong_schema_not_a_crash() {
    let mock = MockRegistry::start().await;
    let c = client(&mock);
    let foreign =
        r#"{"type":"record","name":"Other","namespace":"x","fields":[{"name":"a","type":"long"}]}"#;
    let id = c.register("other-value", foreign).await.expect("register");
    let decoder = Decoder::with_registry(schemas(), c, Arc::new(Metrics::new()));
    let mut bytes = vec![0];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.push(4);
    let err = decoder.decode_key(&bytes).await.expect_err("foreign");
    assert!(matches!(err, DecodeError::WrongSchema { .. }), "{err}");
    assert!(err.to_string().contains("x.Other"), "{err}");
    // tail still shows it.
    let json = decoder.decode_json(&bytes).await.expect("json");
    assert_eq!(json, serde_json::json!({"a": 2}));
}

#[tokio::test]
async fn subjects_lists_what_was_registered_and_reports_failures() {
    let mock = MockRegistry::start().await;
    let c = client(&mock);
    assert!(c.subjects().await.expect("empty list").is_empty());
    c.register("b-value", key_text()).await.expect("register");
    c.register("a-key", key_text()).await.expect("register");
    assert_eq!(c.subjects().await.expect("list"), ["a-key", "b-value"]);
    mock.with(|s| s.fail = true);
    let err = c.subjects().await.expect_err("500");
    assert!(err.is_retriable(), "{err}");
}
