//! Tests of [`Decoder::prefetch_writer_schemas`] and [`Decoder::decode_state_cached`]
//! against a registry double of their own: `GET /subjects/{s}/versions`,
//! `GET /subjects/{s}/versions/{v}` and `GET /schemas/ids/{id}` as Confluent
//! documents them (404 with error code 40401 for an unknown subject).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::types::Value;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::*;
use crate::membership::{Checkpoint, Member, MemberState, SourceInfo, StateRecord};
use crate::metrics::Metrics;

#[derive(Debug, Default)]
struct Registry {
    /// Schema texts by id.
    schemas: HashMap<u32, String>,
    /// Subject -> ids of its versions 1, 2, ...
    subjects: HashMap<String, Vec<u32>>,
    /// Paths requested.
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Registry>>;
type Answer = (StatusCode, Json<serde_json::Value>);

fn not_found(code: u32) -> Answer {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error_code": code, "message": "not found"})),
    )
}

async fn versions(State(r): State<Shared>, Path(subject): Path<String>) -> Answer {
    let mut r = r.lock().expect("registry");
    r.requests.push(format!("versions {subject}"));
    match r.subjects.get(&subject) {
        Some(ids) => (
            StatusCode::OK,
            Json(json!((1..=ids.len()).collect::<Vec<_>>())),
        ),
        None => not_found(40401),
    }
}

async fn version(State(r): State<Shared>, Path((subject, v)): Path<(String, usize)>) -> Answer {
    let mut r = r.lock().expect("registry");
    r.requests.push(format!("version {subject} {v}"));
    let Some(&id) = r.subjects.get(&subject).and_then(|ids| ids.get(v - 1)) else {
        return not_found(40402);
    };
    let schema = r.schemas[&id].clone();
    (
        StatusCode::OK,
        Json(json!({"subject": subject, "version": v, "id": id, "schema": schema})),
    )
}

async fn by_id(State(r): State<Shared>, Path(id): Path<u32>) -> Answer {
    let mut r = r.lock().expect("registry");
    r.requests.push(format!("id {id}"));
    match r.schemas.get(&id) {
        Some(s) => (StatusCode::OK, Json(json!({"schema": s}))),
        None => not_found(40403),
    }
}

async fn serve(registry: Registry) -> (RegistryClient, Shared) {
    let shared = Arc::new(Mutex::new(registry));
    let app = Router::new()
        .route("/subjects/{subject}/versions", get(versions))
        .route("/subjects/{subject}/versions/{version}", get(version))
        .route("/schemas/ids/{id}", get(by_id))
        .with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = RegistryClient::new(RegistryConfig::new(url)).expect("client");
    (client, shared)
}

fn schemas() -> Arc<Schemas> {
    Arc::new(Schemas::load().expect("schemas"))
}

/// The current state-value schema without `MemberState.image`: an older writer
/// that the current schema reads (the field has a default).
fn older_state_schema() -> String {
    let schemas = schemas();
    let mut json: serde_json::Value =
        serde_json::from_str(schemas.current(SchemaRole::State).text).expect("json");
    json["fields"][0]["type"][1]["fields"]
        .as_array_mut()
        .expect("MemberState fields")
        .retain(|f| f["name"] != "image");
    json.to_string()
}

fn member(key: &str) -> MemberState {
    MemberState {
        member: Member {
            key: key.into(),
            email: Some(format!("{key}@example.com")),
            image: Some("https://example.com/a.png".into()),
            is_org_admin: Some(true),
            ..Member::default()
        },
        inactive: false,
        first_seen_ms: 1,
        last_changed_ms: 2,
    }
}

fn source() -> SourceInfo {
    SourceInfo {
        connector: "c".into(),
        version: "v".into(),
        instance: "i".into(),
    }
}

fn topics() -> TopicNames {
    TopicNames {
        events: "events".into(),
        state: "state".into(),
    }
}

/// Ids: 1 the key schema, 3 the current state value, 4 an older state value.
async fn registry_with_two_state_versions() -> (RegistryClient, Shared) {
    let s = schemas();
    let mut r = Registry::default();
    r.schemas
        .insert(1, s.current(SchemaRole::Key).text.to_owned());
    r.schemas
        .insert(2, s.current(SchemaRole::Event).text.to_owned());
    r.schemas
        .insert(3, s.current(SchemaRole::State).text.to_owned());
    r.schemas.insert(4, older_state_schema());
    r.subjects.insert("state-key".into(), vec![1]);
    r.subjects.insert("state-value".into(), vec![4, 3]);
    r.subjects.insert("events-value".into(), vec![2]);
    serve(r).await
}

fn confluent(id: u32, schema: &str, value: Value) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(schema).expect("schema");
    let mut bytes = vec![0];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend(apache_avro::to_avro_datum(&schema, value).expect("datum"));
    bytes
}

#[tokio::test]
async fn prefetch_is_a_no_op_without_a_registry() {
    let decoder = Decoder::new(schemas());
    assert_eq!(
        decoder
            .prefetch_writer_schemas(&topics())
            .await
            .expect("ok"),
        0
    );
    let encoder = Encoder::single_object(schemas(), source());
    let record = StateRecord::Member {
        org_key: "o".into(),
        user_key: "u".into(),
        state: Some(member("u")),
    };
    let bytes = encoder.encode_state(&record).expect("encode");
    let decoded = decoder
        .decode_state_cached(&bytes.key, bytes.value.as_deref())
        .expect("single-object decodes without a registry");
    assert_eq!(decoded, record);

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
    let bytes = confluent.encode_state(&record).expect("encode");
    let err = decoder
        .decode_state_cached(&bytes.key, bytes.value.as_deref())
        .expect_err("no registry");
    assert!(
        matches!(err, DecodeError::RegistryRequired { id: 1 }),
        "{err}"
    );
}

/// `member("u")` as a value of [`older_state_schema`].
fn older_member_value() -> Value {
    Value::Record(vec![
        (
            "member".into(),
            Value::Union(
                1,
                Box::new(Value::Record(vec![
                    ("user_key".into(), Value::String("u".into())),
                    (
                        "email".into(),
                        Value::Union(1, Box::new(Value::String("u@example.com".into()))),
                    ),
                    (
                        "display_name".into(),
                        Value::Union(0, Box::new(Value::Null)),
                    ),
                    ("first_name".into(), Value::Union(0, Box::new(Value::Null))),
                    ("last_name".into(), Value::Union(0, Box::new(Value::Null))),
                    (
                        "is_org_admin".into(),
                        Value::Union(1, Box::new(Value::Boolean(true))),
                    ),
                    (
                        "last_seen_at".into(),
                        Value::Union(0, Box::new(Value::Null)),
                    ),
                    ("created_at".into(), Value::Union(0, Box::new(Value::Null))),
                    ("inactive".into(), Value::Boolean(false)),
                    ("first_seen_at".into(), Value::TimestampMillis(1)),
                    ("last_changed_at".into(), Value::TimestampMillis(2)),
                ])),
            ),
        ),
        ("checkpoint".into(), Value::Union(0, Box::new(Value::Null))),
    ])
}

#[tokio::test]
async fn prefetched_versions_decode_synchronously_and_others_name_their_id() {
    let (client, registry) = registry_with_two_state_versions().await;
    let decoder = Decoder::with_registry(schemas(), client, Arc::new(Metrics::new()));
    let n = decoder
        .prefetch_writer_schemas(&topics())
        .await
        .expect("prefetch");
    assert_eq!(n, 3, "ids 1, 4 and 3");
    let requests = registry.lock().expect("registry").requests.clone();
    assert_eq!(
        requests,
        [
            "versions state-key",
            "version state-key 1",
            "versions state-value",
            "version state-value 1",
            "version state-value 2",
        ]
    );

    // Current writer schemas, by the connector's encoder.
    let encoder = Encoder::with_schema_ids(
        schemas(),
        source(),
        SchemaIds {
            events_key: 1,
            events_value: 2,
            state_key: 1,
            state_value: 3,
        },
    );
    let checkpoint = StateRecord::Checkpoint(Checkpoint {
        org_key: "o".into(),
        poll_seq: 7,
        last_poll_ms: 8,
        member_count: 9,
        incarnation: None,
    });
    let member_record = StateRecord::Member {
        org_key: "o".into(),
        user_key: "u".into(),
        state: Some(member("u")),
    };
    for record in [&checkpoint, &member_record] {
        let bytes = encoder.encode_state(record).expect("encode");
        let decoded = decoder
            .decode_state_cached(&bytes.key, bytes.value.as_deref())
            .expect("cached ids decode");
        assert_eq!(&decoded, record);
    }
    let tombstone = encoder
        .encode_state(&StateRecord::Member {
            org_key: "o".into(),
            user_key: "gone".into(),
            state: None,
        })
        .expect("encode");
    assert!(matches!(
        decoder.decode_state_cached(&tombstone.key, None),
        Ok(StateRecord::Member { state: None, .. })
    ));

    // The older version (id 4), resolved to the current schema: image null.
    let mut expected = member("u");
    let older = older_member_value();
    let key = encoder.encode_state(&member_record).expect("encode").key;
    let value = confluent(4, &older_state_schema(), older.clone());
    expected.member.image = None;
    let decoded = decoder
        .decode_state_cached(&key, Some(&value))
        .expect("older version resolves");
    assert_eq!(
        decoded,
        StateRecord::Member {
            org_key: "o".into(),
            user_key: "u".into(),
            state: Some(expected),
        }
    );

    // An id that is no version of the state subjects: a clear error, no I/O.
    let value = confluent(99, &older_state_schema(), older);
    let err = decoder
        .decode_state_cached(&key, Some(&value))
        .expect_err("id 99 is not cached");
    assert!(matches!(err, DecodeError::NotCached { id: 99 }), "{err}");
    assert!(err.to_string().contains("99"), "{err}");
    assert!(!err.is_retriable());
    assert_eq!(registry.lock().expect("registry").requests.len(), 5);
}

#[tokio::test]
async fn prefetch_of_subjects_that_do_not_exist_yet_finds_nothing() {
    let (client, _registry) = serve(Registry::default()).await;
    let decoder = Decoder::with_registry(schemas(), client, Arc::new(Metrics::new()));
    assert_eq!(
        decoder
            .prefetch_writer_schemas(&topics())
            .await
            .expect("ok"),
        0
    );
}

#[tokio::test]
async fn the_async_decode_still_fetches_an_id_it_has_not_seen() {
    let (client, registry) = registry_with_two_state_versions().await;
    let decoder = Decoder::with_registry(schemas(), client, Arc::new(Metrics::new()));
    let encoder = Encoder::with_schema_ids(
        schemas(),
        source(),
        SchemaIds {
            events_key: 1,
            events_value: 2,
            state_key: 1,
            state_value: 3,
        },
    );
    let record = StateRecord::Member {
        org_key: "o".into(),
        user_key: "u".into(),
        state: Some(member("u")),
    };
    let bytes = encoder.encode_state(&record).expect("encode");
    let err = decoder
        .decode_state_cached(&bytes.key, bytes.value.as_deref())
        .expect_err("nothing prefetched");
    assert!(matches!(err, DecodeError::NotCached { id: 1 }), "{err}");
    let decoded = decoder
        .decode_state(&bytes.key, bytes.value.as_deref())
        .await
        .expect("fetched by id");
    assert_eq!(decoded, record);
    // Now cached: the synchronous path decodes it too.
    assert_eq!(
        decoder
            .decode_state_cached(&bytes.key, bytes.value.as_deref())
            .expect("cached"),
        record
    );
    assert_eq!(
        registry.lock().expect("registry").requests,
        ["id 1", "id 3"]
    );
}
