//! Parsing Canonical Form and CRC-64-AVRO (Rabin) fingerprints of schemas, as the
//! Avro specification defines them, for the single-object encoding header.
//!
//! Why not `apache_avro::Schema::fingerprint`: apache-avro 0.21 keeps a primitive
//! with a logical type as `{"type":"long"}` in its canonical form, where the
//! specification (and the Java reference implementation) reduce it to `"long"`. Our
//! schemas use `timestamp-millis` and `uuid`, so its fingerprints would not match the
//! ones a Java or Python consumer computes from the same `.avsc` files. This module
//! works on the schema's JSON text and follows the specification's rules
//! ([PRIMITIVES], [FULLNAMES], [STRIP], [ORDER], [STRINGS], [INTEGERS],
//! [WHITESPACE]). It must not do anything else: parsing and validation stay with
//! apache-avro.

use std::collections::HashSet;

use serde_json::Value as Json;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// Why a schema's canonical form could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalFormError {
    /// The text is not JSON. Stop: fix the schema file.
    #[error("schema is not valid JSON: {0}")]
    Json(String),
    /// The JSON is not an Avro schema shape this module understands. Stop: fix the
    /// schema file.
    #[error("not a valid Avro schema: {0}")]
    Shape(String),
}

/// The Parsing Canonical Form of a schema given as JSON text.
pub fn parsing_canonical_form(schema_json: &str) -> Result<String, CanonicalFormError> {
    let json: Json =
        serde_json::from_str(schema_json).map_err(|e| CanonicalFormError::Json(e.to_string()))?;
    let mut out = String::with_capacity(schema_json.len() / 2);
    let mut defined = HashSet::new();
    write_pcf(&json, None, &mut defined, &mut out)?;
    Ok(out)
}

/// The CRC-64-AVRO fingerprint of a schema given as JSON text: the Rabin fingerprint
/// of its Parsing Canonical Form. The single-object header carries it little-endian.
pub(crate) fn schema_fingerprint(schema_json: &str) -> Result<u64, CanonicalFormError> {
    Ok(rabin64(parsing_canonical_form(schema_json)?.as_bytes()))
}

/// CRC-64-AVRO, the 64-bit Rabin fingerprint of the Avro specification.
pub(crate) fn rabin64(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let table = rabin_table();
    let mut fp = EMPTY;
    for &b in data {
        fp = (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize];
    }
    fp
}

fn rabin_table() -> &'static [u64; 256] {
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
        let mut table = [0u64; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            }
            *slot = fp;
        }
        table
    })
}

fn quoted(s: &str) -> String {
    // serde_json escapes exactly as JSON requires ([STRINGS]).
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The full name of `name` in the enclosing namespace ([FULLNAMES]).
fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

fn namespace_of(full: &str) -> Option<&str> {
    full.rfind('.').map(|i| &full[..i])
}

fn shape(msg: impl Into<String>) -> CanonicalFormError {
    CanonicalFormError::Shape(msg.into())
}

fn write_pcf(
    json: &Json,
    namespace: Option<&str>,
    defined: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), CanonicalFormError> {
    match json {
        Json::String(name) => {
            if PRIMITIVES.contains(&name.as_str()) {
                out.push_str(&quoted(name));
            } else {
                out.push_str(&quoted(&full_name(name, namespace)));
            }
            Ok(())
        }
        Json::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_pcf(branch, namespace, defined, out)?;
            }
            out.push(']');
            Ok(())
        }
        Json::Object(map) => write_object(map, namespace, defined, out),
        other => Err(shape(format!("unexpected JSON {other}"))),
    }
}

/// A schema written as a JSON object: `{"type": ...}` with its attributes.
fn write_object(
    map: &serde_json::Map<String, Json>,
    namespace: Option<&str>,
    defined: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), CanonicalFormError> {
    let ty = map
        .get("type")
        .ok_or_else(|| shape("object without type"))?;
    let ty = match ty {
        Json::String(ty) => ty.as_str(),
        // {"type": {...}} or {"type": [...]}: the inner schema is the schema.
        nested => return write_pcf(nested, namespace, defined, out),
    };
    match ty {
        // [PRIMITIVES]: a primitive with attributes (logicalType...) is the
        // primitive's name.
        t if PRIMITIVES.contains(&t) => {
            out.push_str(&quoted(t));
            Ok(())
        }
        "record" | "error" | "enum" | "fixed" => write_named(ty, map, namespace, defined, out),
        "array" | "map" => {
            let attribute = if ty == "array" { "items" } else { "values" };
            let inner = map
                .get(attribute)
                .ok_or_else(|| shape(format!("{ty} without {attribute}")))?;
            out.push_str(&format!("{{\"type\":\"{ty}\",\"{attribute}\":"));
            write_pcf(inner, namespace, defined, out)?;
            out.push('}');
            Ok(())
        }
        // {"type": "SomeNamedType"}: a reference.
        reference => {
            out.push_str(&quoted(&full_name(reference, namespace)));
            Ok(())
        }
    }
}

/// A named type (record, error, enum, fixed): its full definition the first time,
/// its full name afterwards.
fn write_named(
    ty: &str,
    map: &serde_json::Map<String, Json>,
    namespace: Option<&str>,
    defined: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), CanonicalFormError> {
    let name = map
        .get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| shape(format!("{ty} without a name")))?;
    let ns = map.get("namespace").and_then(Json::as_str).or(namespace);
    let full = full_name(name, ns);
    if !defined.insert(full.clone()) {
        out.push_str(&quoted(&full));
        return Ok(());
    }
    out.push_str("{\"name\":");
    out.push_str(&quoted(&full));
    out.push_str(",\"type\":");
    out.push_str(&quoted(if ty == "error" { "record" } else { ty }));
    match ty {
        "enum" => {
            let symbols = map
                .get("symbols")
                .and_then(Json::as_array)
                .ok_or_else(|| shape(format!("enum {full} without symbols")))?;
            out.push_str(",\"symbols\":[");
            for (i, s) in symbols.iter().enumerate() {
                let s = s.as_str().ok_or_else(|| shape("non-string symbol"))?;
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quoted(s));
            }
            out.push(']');
        }
        "fixed" => {
            let size = map
                .get("size")
                .and_then(Json::as_u64)
                .ok_or_else(|| shape(format!("fixed {full} without a size")))?;
            out.push_str(",\"size\":");
            out.push_str(&size.to_string());
        }
        _ => write_fields(map, &full, defined, out)?,
    }
    out.push('}');
    Ok(())
}

/// The `fields` of record `full`, in the record's namespace.
fn write_fields(
    map: &serde_json::Map<String, Json>,
    full: &str,
    defined: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), CanonicalFormError> {
    let fields = map
        .get("fields")
        .and_then(Json::as_array)
        .ok_or_else(|| shape(format!("record {full} without fields")))?;
    let inner_ns = namespace_of(full).map(str::to_owned);
    out.push_str(",\"fields\":[");
    for (i, field) in fields.iter().enumerate() {
        let fname = field
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| shape(format!("field of {full} without name")))?;
        let ftype = field
            .get("type")
            .ok_or_else(|| shape(format!("field {full}.{fname} without type")))?;
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        out.push_str(&quoted(fname));
        out.push_str(",\"type\":");
        write_pcf(ftype, inner_ns.as_deref(), defined, out)?;
        out.push('}');
    }
    out.push(']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from the Avro project's `share/test/data/schema-tests.txt`, whose
    /// fingerprints the Java implementation cross-checks.
    const SPEC_CASES: &[(&str, &str, i64)] = &[
        (r#""null""#, r#""null""#, 7195948357588979594),
        (r#"{"type":"long"}"#, r#""long""#, -3434872931120570953),
        (
            r#"[ "int" , {"type":"boolean"} ]"#,
            r#"["int","boolean"]"#,
            5392556393470105090,
        ),
        (
            r#"{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}"#,
            r#"{"name":"x.y.foo","type":"record","fields":[]}"#,
            5916914534497305771,
        ),
        (
            r#"{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}"#,
            r#"{"name":"a.b.foo","type":"record","fields":[]}"#,
            -4616218487480524110,
        ),
        (
            r#"{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},
                {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
                "type":"record", "name":"foo" }"#,
            r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}"#,
            -4860222112080293046,
        ),
        (
            r#"{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}"#,
            r#"{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}"#,
            -4448647247586288245,
        ),
        (
            r#"{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}"#,
            r#"{"name":"x.y.z.foo","type":"fixed","size":32}"#,
            -3064184465700546786,
        ),
        (
            r#"{ "items":{"type":"null"}, "type":"array"}"#,
            r#"{"type":"array","items":"null"}"#,
            -589620603366471059,
        ),
        (
            r#"{ "values":"string", "type":"map"}"#,
            r#"{"type":"map","values":"string"}"#,
            -8732877298790414990,
        ),
        (
            r#"{"name":"PigValue","type":"record",
               "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}"#,
            r#"{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}"#,
            -1759257747318642341,
        ),
    ];

    #[test]
    fn matches_the_specification_test_vectors() {
        for (input, canonical, fingerprint) in SPEC_CASES {
            assert_eq!(
                parsing_canonical_form(input).as_deref(),
                Ok(*canonical),
                "{input}"
            );
            assert_eq!(
                schema_fingerprint(input),
                Ok(*fingerprint as u64),
                "{input}"
            );
        }
    }

    #[test]
    fn logical_types_reduce_to_their_primitive_and_names_are_qualified() {
        let schema = r#"{"type":"record","name":"R","namespace":"a.b","doc":"d","fields":[
            {"name":"t","type":{"type":"long","logicalType":"timestamp-millis"},"doc":"x"},
            {"name":"u","type":["null",{"type":"string","logicalType":"uuid"}],"default":null},
            {"name":"s","type":{"type":"record","name":"S","fields":[]}},
            {"name":"s2","type":"S"},
            {"name":"o","type":{"type":"record","name":"c.d.O","fields":[{"name":"p","type":"P2"}]}}
        ]}"#;
        assert_eq!(
            parsing_canonical_form(schema).as_deref(),
            Ok(concat!(
                r#"{"name":"a.b.R","type":"record","fields":["#,
                r#"{"name":"t","type":"long"},"#,
                r#"{"name":"u","type":["null","string"]},"#,
                r#"{"name":"s","type":{"name":"a.b.S","type":"record","fields":[]}},"#,
                r#"{"name":"s2","type":"a.b.S"},"#,
                r#"{"name":"o","type":{"name":"c.d.O","type":"record","fields":[{"name":"p","type":"c.d.P2"}]}}"#,
                "]}"
            ))
        );
    }

    #[test]
    fn rejects_what_is_not_a_schema() {
        assert!(matches!(
            parsing_canonical_form("{"),
            Err(CanonicalFormError::Json(_))
        ));
        assert!(matches!(
            parsing_canonical_form(r#"{"type":"record","fields":[]}"#),
            Err(CanonicalFormError::Shape(_))
        ));
        assert!(matches!(
            parsing_canonical_form("42"),
            Err(CanonicalFormError::Shape(_))
        ));
    }
}
