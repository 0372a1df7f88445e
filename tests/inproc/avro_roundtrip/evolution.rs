//! Schema evolution: bytes written with older and newer writer schemas (registered in
//! the mock registry) decode with the current reader schema.

use apache_avro::types::Value;
use streak_connector::avro::{DecodeError, RegistryClient, RegistryConfig, SchemaRole};
use streak_connector::membership::EventType;
use testkit::avro::*;
use testkit::registry_mock::MockRegistry;

use super::registry_pair;

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
