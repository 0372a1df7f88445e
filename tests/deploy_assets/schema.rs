//! A small JSON Schema (draft-07) validator for the chart's `values.schema.json`.
//!
//! It implements exactly the keywords that schema uses (`type`, `properties`,
//! `additionalProperties`, `required`, `enum`, `const`, `anyOf`, `items`, `minimum`,
//! `maximum`, `minLength`) and refuses any other keyword, so the schema cannot grow a rule that
//! this check silently ignores. Helm validates with a full implementation at install
//! time; `scripts/check-deploy.sh` also runs Python's `jsonschema` where it exists.
//! The `jsonschema` crate would do all this, but pulls in an HTTP client and a regex
//! engine for a test.

use serde_json::Value;

/// Keywords that only annotate.
const ANNOTATIONS: [&str; 4] = ["$schema", "title", "description", "default"];
/// Keywords this validator checks.
const SUPPORTED: [&str; 11] = [
    "type",
    "properties",
    "additionalProperties",
    "required",
    "enum",
    "const",
    "anyOf",
    "items",
    "minimum",
    "maximum",
    "minLength",
];

/// Every violation of `schema` by `value`, each with its path (`config.logFormat`).
/// A schema keyword this validator does not implement is a violation too.
pub(crate) fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, "(root)", &mut errors);
    errors
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: not allowed"));
        }
        return;
    };
    for key in schema.keys() {
        if !SUPPORTED.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
            errors.push(format!(
                "{path}: schema keyword {key:?} is not supported by this validator"
            ));
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !allowed.iter().any(|t| has_type(value, t)) {
            errors.push(format!(
                "{path}: expected {}, got {}",
                allowed.join(" or "),
                type_name(value)
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            errors.push(format!("{path}: {value} is not one of {options:?}"));
        }
    }
    if let Some(expected) = schema.get("const") {
        if value != expected {
            errors.push(format!("{path}: {value} is not {expected}"));
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        let fits = |sub: &Value| {
            let mut e = Vec::new();
            check(sub, value, path, &mut e);
            e.is_empty()
        };
        if !options.iter().any(fits) {
            errors.push(format!("{path}: matches none of anyOf"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            errors.push(format!("{path}: {n} is below the minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (
        schema.get("maximum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n > max {
            errors.push(format!("{path}: {n} is above the maximum {max}"));
        }
    }
    if let (Some(min), Some(s)) = (
        schema.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) {
        if (s.chars().count() as u64) < min {
            errors.push(format!("{path}: {s:?} is shorter than {min}"));
        }
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(name) {
                    errors.push(format!("{path}: missing required {name:?}"));
                }
            }
        }
        for (k, v) in obj {
            let child = join(path, k);
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check(sub, v, &child, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{child}: additional property not allowed"))
                    }
                    Some(sub @ Value::Object(_)) => check(sub, v, &child, errors),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check(items, v, &format!("{path}[{i}]"), errors);
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path == "(root)" {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every path of `value` that the schema describes with a property of its own, down
/// to leaves and free-form objects (no `properties`): what a values table must list.
pub(crate) fn documented_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        if !prefix.is_empty() {
            out.push(prefix.to_string());
        }
        return;
    };
    for (k, sub) in props {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        documented_paths(sub, &path, out);
    }
}
