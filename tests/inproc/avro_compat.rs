//! Schema governance: every current schema stays BACKWARD compatible with every
//! released version under `schemas/history/` (checked with apache-avro's
//! compatibility checker, which this file also proves able to fail), the key schema
//! stays frozen, every file on disk is the one embedded, and the files follow the
//! house rules (docs on every field, nullable fields default to null, timestamps are
//! timestamp-millis).

use std::collections::BTreeSet;
use std::path::Path;

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;
use serde_json::{json, Value};
use streak_connector::avro::{
    history_files, parsing_canonical_form, schema_files, SchemaRole, Schemas,
};

fn parse(text: &str) -> Schema {
    Schema::parse_str(text).expect("schema parses")
}

fn current_text(role: SchemaRole) -> &'static str {
    schema_files()
        .iter()
        .find(|f| f.role == role)
        .map(|f| f.text)
        .expect("current file")
}

#[test]
fn every_current_schema_reads_every_released_version() {
    let mut checked = 0;
    for h in history_files() {
        let writer = parse(h.text);
        let reader = parse(current_text(h.role));
        if let Err(e) = SchemaCompatibility::can_read(&writer, &reader) {
            panic!(
                "schemas/{}.avsc cannot read data written with schemas/{}: {e}",
                h.role.file_stem(),
                h.path
            );
        }
        checked += 1;
    }
    // Every role has at least one released version.
    for role in SchemaRole::ALL {
        assert!(history_files().iter().any(|h| h.role == role), "{role:?}");
    }
    assert!(checked >= 3);
}

#[test]
fn the_key_schema_is_frozen() {
    // Key bytes must never change: compaction compares bytes, so a new key version
    // would leave the old records of the state topic uncompacted forever.
    let current = parsing_canonical_form(current_text(SchemaRole::Key)).expect("pcf");
    for h in history_files().iter().filter(|h| h.role == SchemaRole::Key) {
        assert_eq!(
            parsing_canonical_form(h.text).expect("pcf"),
            current,
            "schemas/membership_key.avsc differs from schemas/{} in a way that changes key bytes",
            h.path
        );
    }
}

fn edited(role: SchemaRole, edit: impl FnOnce(&mut Value)) -> Schema {
    let mut json: Value = serde_json::from_str(current_text(role)).expect("json");
    edit(&mut json);
    parse(&json.to_string())
}

fn fields(record: &mut Value) -> &mut Vec<Value> {
    record["fields"].as_array_mut().expect("fields")
}

#[test]
fn the_checker_catches_incompatible_changes() {
    let released = parse(current_text(SchemaRole::Event));

    // A new field without a default: old data has no value for it.
    let new_required = edited(SchemaRole::Event, |s| {
        fields(s).push(json!({"name": "tenant", "type": "string", "doc": "x"}));
    });
    let err = SchemaCompatibility::can_read(&released, &new_required)
        .expect_err("a field without default must be refused");
    assert!(err.to_string().contains("tenant"), "{err}");

    // A type change of an existing field.
    let retyped = edited(SchemaRole::Event, |s| {
        for f in fields(s).iter_mut() {
            if f["name"] == "poll_seq" {
                f["type"] = json!("string");
            }
        }
    });
    assert!(SchemaCompatibility::can_read(&released, &retyped).is_err());

    // A removed event type: old data may hold it.
    let fewer_symbols = edited(SchemaRole::Event, |s| {
        for f in fields(s).iter_mut() {
            if f["name"] == "event_type" {
                f["type"]["symbols"]
                    .as_array_mut()
                    .expect("symbols")
                    .retain(|v| v != "REACTIVATED");
            }
        }
    });
    assert!(SchemaCompatibility::can_read(&released, &fewer_symbols).is_err());

    // A nested change: a MemberState field made required.
    let state_required = edited(SchemaRole::State, |s| {
        let member = &mut s["fields"][0]["type"][1];
        fields(member).push(json!({"name": "team", "type": "string"}));
    });
    assert!(SchemaCompatibility::can_read(
        &parse(current_text(SchemaRole::State)),
        &state_required
    )
    .is_err());
}

#[test]
fn the_checker_accepts_compatible_changes() {
    // The control for the test above: an optional field and a new event type are
    // BACKWARD compatible, so the checker does not refuse everything.
    let released = parse(current_text(SchemaRole::Event));
    let evolved = edited(SchemaRole::Event, |s| {
        fields(s).push(json!({"name": "tenant", "type": ["null", "string"], "default": null}));
        for f in fields(s).iter_mut() {
            if f["name"] == "event_type" {
                f["type"]["symbols"]
                    .as_array_mut()
                    .expect("symbols")
                    .push(json!("ROLE_CHANGED"));
            }
        }
    });
    SchemaCompatibility::can_read(&released, &evolved).expect("compatible evolution");
}

fn schemas_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas"))
}

#[test]
fn every_file_on_disk_is_embedded() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(schemas_dir())
        .expect("schemas/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".avsc"))
        .collect();
    let embedded: BTreeSet<String> = schema_files().iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(
        on_disk, embedded,
        "add new schema files to src/avro/schemas.rs"
    );
    for f in schema_files() {
        let text = std::fs::read_to_string(schemas_dir().join(f.name)).expect("read");
        assert_eq!(text, f.text, "{}", f.name);
    }

    let mut history_on_disk = BTreeSet::new();
    for dir in std::fs::read_dir(schemas_dir().join("history")).expect("history/") {
        let dir = dir.expect("entry").path();
        for file in std::fs::read_dir(&dir).expect("history subdir") {
            let path = file.expect("entry").path();
            let rel = path
                .strip_prefix(schemas_dir())
                .expect("under schemas/")
                .to_string_lossy()
                .into_owned();
            history_on_disk.insert(rel);
        }
    }
    let history_embedded: BTreeSet<String> =
        history_files().iter().map(|h| h.path.to_owned()).collect();
    assert_eq!(
        history_on_disk, history_embedded,
        "add new history files to src/avro/schemas.rs"
    );
    for h in history_files() {
        assert_eq!(
            std::fs::read_to_string(schemas_dir().join(h.path)).expect("read"),
            h.text
        );
        assert_eq!(
            h.path,
            format!("history/{}/v{}.avsc", h.role.file_stem(), h.version)
        );
    }
    // Versions of one schema are numbered 1, 2, 3... without gaps.
    for role in SchemaRole::ALL {
        let mut versions: Vec<u32> = history_files()
            .iter()
            .filter(|h| h.role == role)
            .map(|h| h.version)
            .collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=versions.len() as u32).collect::<Vec<_>>());
    }
}

#[test]
fn shared_records_are_defined_identically() {
    // MemberState appears in change_event.avsc (before) and state_value.avsc
    // (member): consumers join them, so they must not drift apart.
    let event: Value = serde_json::from_str(current_text(SchemaRole::Event)).expect("json");
    let state: Value = serde_json::from_str(current_text(SchemaRole::State)).expect("json");
    let in_event = event["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "before"))
        .map(|f| &f["type"][1])
        .expect("before");
    let in_state = &state["fields"][0]["type"][1];
    assert_eq!(in_event["name"], "MemberState");
    assert_eq!(in_event, in_state);
}

/// Walk every named type and field of a schema's JSON.
fn check_rules(json: &Value, path: &str, problems: &mut Vec<String>) {
    match json {
        Value::Array(branches) => {
            for b in branches {
                check_rules(b, path, problems);
            }
        }
        Value::Object(map) => {
            let ty = map.get("type").and_then(Value::as_str).unwrap_or_default();
            if matches!(ty, "record" | "enum") && map.get("doc").is_none() {
                problems.push(format!("{path}: {ty} without doc"));
            }
            if let Some(ns) = map.get("namespace") {
                if ns != "io.streakconnector.membership" {
                    problems.push(format!("{path}: namespace {ns}"));
                }
            }
            if let Some(fields) = map.get("fields").and_then(Value::as_array) {
                for f in fields {
                    let name = f["name"].as_str().unwrap_or("?");
                    let here = format!("{path}.{name}");
                    if f.get("doc")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        problems.push(format!("{here}: no doc"));
                    }
                    let ft = &f["type"];
                    if let Some(branches) = ft.as_array() {
                        if branches.iter().any(|b| b == "null") {
                            if branches.first() != Some(&json!("null")) {
                                problems.push(format!("{here}: null must be the first branch"));
                            }
                            if f.get("default") != Some(&Value::Null) {
                                problems.push(format!("{here}: nullable without default null"));
                            }
                        }
                    }
                    if name.ends_with("_at") {
                        let logical = ft
                            .as_array()
                            .and_then(|b| b.iter().find(|b| b.is_object()))
                            .unwrap_or(ft);
                        if logical["logicalType"] != "timestamp-millis" {
                            problems.push(format!("{here}: not timestamp-millis"));
                        }
                    }
                    check_rules(ft, &here, problems);
                }
            }
            if let Some(Value::Object(_) | Value::Array(_)) = map.get("type") {
                check_rules(&map["type"], path, problems);
            }
        }
        _ => {}
    }
}

#[test]
fn files_follow_the_house_rules() {
    let mut problems = Vec::new();
    for f in schema_files() {
        let json: Value = serde_json::from_str(f.text).expect("json");
        if json["namespace"] != "io.streakconnector.membership" {
            problems.push(format!("{}: top-level namespace", f.name));
        }
        check_rules(&json, f.name, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The rules themselves catch a violation.
    let mut found = Vec::new();
    check_rules(
        &json!({"type": "record", "name": "R", "doc": "d", "fields": [
            {"name": "x_at", "type": ["string", "null"]}
        ]}),
        "R",
        &mut found,
    );
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn the_event_type_has_a_default_for_unknown_symbols() {
    let schemas = Schemas::load().expect("schemas");
    let json: Value = serde_json::from_str(schemas.current(SchemaRole::Event).text).expect("json");
    let enum_type = json["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "event_type"))
        .map(|f| &f["type"])
        .expect("event_type");
    assert_eq!(enum_type["default"], "UNKNOWN");
    assert!(enum_type["symbols"]
        .as_array()
        .is_some_and(|s| s.contains(&json!("UNKNOWN"))));
}
