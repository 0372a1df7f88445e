//! JSON rendering of decoded Avro values for `tail`: a faithful, readable view of
//! what the writer wrote. No schema resolution, no domain rules.

use apache_avro::types::Value;

/// A JSON rendering of any decoded value, for `tail`: unions unwrapped, enums and
/// UUIDs as strings, timestamps as epoch milliseconds (as in the schema).
pub(crate) fn value_to_json(value: Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Boolean(b) => J::Bool(b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => J::from(i),
        Value::Long(l)
        | Value::TimestampMillis(l)
        | Value::TimestampMicros(l)
        | Value::TimestampNanos(l)
        | Value::LocalTimestampMillis(l)
        | Value::LocalTimestampMicros(l)
        | Value::LocalTimestampNanos(l)
        | Value::TimeMicros(l) => J::from(l),
        Value::Float(f) => J::from(f64::from(f)),
        Value::Double(d) => J::from(d),
        Value::String(s) | Value::Enum(_, s) => J::String(s),
        Value::Uuid(u) => J::String(u.to_string()),
        Value::Bytes(b) | Value::Fixed(_, b) => J::String(hex::encode(b)),
        Value::Union(_, inner) => value_to_json(*inner),
        Value::Array(items) => J::Array(items.into_iter().map(value_to_json).collect()),
        Value::Map(m) => J::Object(m.into_iter().map(|(k, v)| (k, value_to_json(v))).collect()),
        Value::Record(fields) => J::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, value_to_json(v)))
                .collect(),
        ),
        other => J::String(format!("{other:?}")),
    }
}
