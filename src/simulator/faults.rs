//! Injected faults: which requests they hit, and what they do to the response.
//!
//! A fault targets an organization and/or an endpoint, and request numbers counted in
//! that scope (a list, a range, or a seeded probability, all deterministic). What it
//! does falls in one of four classes, applied in this order to one request:
//! delays (they add up), a status fault (the first one replaces the response, before
//! the API key is even checked, as a gateway would), entry transforms (in file order,
//! on successful responses), and a serialization fault (the first one corrupts the
//! bytes). Pure: builds values and bytes, never touches the network or the clock.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::generate::draw;
use super::model::Endpoint;

/// Which request numbers a fault hits. All conditions that are set must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct When {
    /// Exactly these request numbers (1-based).
    pub(crate) requests: Option<Vec<u64>>,
    /// This request number and every later one.
    pub(crate) from: Option<u64>,
    /// Up to and including this request number.
    pub(crate) until: Option<u64>,
    /// Each request with this probability, drawn from `(seed, request number)`.
    pub(crate) probability: Option<(f64, u64)>,
}

impl When {
    pub(crate) fn matches(&self, n: u64) -> bool {
        self.requests.as_ref().is_none_or(|r| r.contains(&n))
            && self.from.is_none_or(|f| n >= f)
            && self.until.is_none_or(|u| n <= u)
            && self.probability.is_none_or(|(p, seed)| draw(seed, n, p))
    }
}

/// The `Retry-After` header of an error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    /// `Retry-After: <seconds>`
    Seconds(u64),
    /// `Retry-After: <HTTP-date>`, that many seconds after the wall clock's now.
    HttpDate(u64),
}

/// What the value of `key` becomes under `entry_without_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyValue {
    Missing,
    Null,
    Empty,
    Number,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FaultKind {
    HttpError {
        status: StatusCode,
        message: String,
        retry_after: Option<RetryAfter>,
    },
    HtmlError {
        status: StatusCode,
    },
    Delay(Duration),
    MalformedJson,
    TruncatedBody {
        fraction: f64,
        abort_connection: bool,
    },
    EmptyListing,
    ObjectBody,
    DuplicateEntries {
        count: usize,
    },
    TimestampsInSeconds {
        count: Option<usize>,
    },
    WrongFieldTypes {
        count: Option<usize>,
    },
    EntryWithoutKey {
        count: Option<usize>,
        key_value: KeyValue,
    },
    UnknownFields {
        count: Option<usize>,
    },
    NullFields {
        count: Option<usize>,
    },
    AbsurdTimestamps {
        count: Option<usize>,
    },
}

/// How a fault kind takes part in a response (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Delay,
    Status,
    Transform,
    Serialization,
}

/// Every kind name, as written in scenarios.
pub(crate) const KIND_NAMES: [&str; 14] = [
    "http_error",
    "html_error",
    "delay",
    "malformed_json",
    "truncated_body",
    "empty_listing",
    "object_body",
    "duplicate_entries",
    "timestamps_in_seconds",
    "wrong_field_types",
    "entry_without_key",
    "unknown_fields",
    "null_fields",
    "absurd_timestamps",
];

impl FaultKind {
    /// The scenario name of the kind, also the label of the injected-fault counter.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            FaultKind::HttpError { .. } => "http_error",
            FaultKind::HtmlError { .. } => "html_error",
            FaultKind::Delay(_) => "delay",
            FaultKind::MalformedJson => "malformed_json",
            FaultKind::TruncatedBody { .. } => "truncated_body",
            FaultKind::EmptyListing => "empty_listing",
            FaultKind::ObjectBody => "object_body",
            FaultKind::DuplicateEntries { .. } => "duplicate_entries",
            FaultKind::TimestampsInSeconds { .. } => "timestamps_in_seconds",
            FaultKind::WrongFieldTypes { .. } => "wrong_field_types",
            FaultKind::EntryWithoutKey { .. } => "entry_without_key",
            FaultKind::UnknownFields { .. } => "unknown_fields",
            FaultKind::NullFields { .. } => "null_fields",
            FaultKind::AbsurdTimestamps { .. } => "absurd_timestamps",
        }
    }

    pub(crate) fn class(&self) -> Class {
        match self {
            FaultKind::Delay(_) => Class::Delay,
            FaultKind::HttpError { .. } | FaultKind::HtmlError { .. } => Class::Status,
            FaultKind::MalformedJson | FaultKind::TruncatedBody { .. } => Class::Serialization,
            _ => Class::Transform,
        }
    }

    /// The endpoints this kind can act on; a fault with no `endpoint` acts on all of
    /// them.
    pub(crate) fn endpoints(&self) -> &'static [Endpoint] {
        match self {
            FaultKind::EmptyListing
            | FaultKind::ObjectBody
            | FaultKind::DuplicateEntries { .. } => &[Endpoint::OrganizationUsers],
            FaultKind::TimestampsInSeconds { .. }
            | FaultKind::WrongFieldTypes { .. }
            | FaultKind::EntryWithoutKey { .. }
            | FaultKind::UnknownFields { .. }
            | FaultKind::NullFields { .. }
            | FaultKind::AbsurdTimestamps { .. } => {
                &[Endpoint::UsersMe, Endpoint::OrganizationUsers]
            }
            _ => &Endpoint::ALL,
        }
    }
}

/// One fault of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    /// Only requests about this organization (the path's, or the API key's for
    /// `/users/me...`); `None`: any.
    pub(crate) org: Option<String>,
    /// Only this endpoint; `None`: every endpoint the kind can act on.
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) when: When,
    pub(crate) kind: FaultKind,
}

impl Fault {
    /// Whether the fault is aimed at this organization and endpoint (request numbers
    /// aside).
    pub(crate) fn targets(&self, org: Option<&str>, endpoint: Endpoint) -> bool {
        let org_ok = match (&self.org, org) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
        };
        org_ok
            && self.endpoint.is_none_or(|e| e == endpoint)
            && self.kind.endpoints().contains(&endpoint)
    }
}

/// Applies an entry transform to the user entries of a response (the listing's
/// elements, or the single `/users/me` object as a one-element list).
pub(crate) fn transform(kind: &FaultKind, entries: &mut Vec<Value>) {
    let take = |count: &Option<usize>, len: usize| count.unwrap_or(len).min(len);
    match kind {
        FaultKind::EmptyListing => entries.clear(),
        FaultKind::DuplicateEntries { count } => {
            let n = (*count).min(entries.len());
            let copies: Vec<Value> = entries[..n].to_vec();
            entries.extend(copies);
        }
        FaultKind::TimestampsInSeconds { count } => {
            let n = take(count, entries.len());
            for e in entries.iter_mut().take(n) {
                for field in ["lastSeenTimestamp", "creationTimestamp"] {
                    if let Some(v) = e.get_mut(field) {
                        if let Some(ms) = v.as_i64() {
                            *v = json!(ms / 1000);
                        }
                    }
                }
            }
        }
        FaultKind::WrongFieldTypes { count } => {
            let n = take(count, entries.len());
            for e in entries.iter_mut().take(n) {
                if let Some(obj) = e.as_object_mut() {
                    wrong_types(obj);
                }
            }
        }
        FaultKind::EntryWithoutKey { count, key_value } => {
            let n = take(count, entries.len());
            for e in entries.iter_mut().take(n) {
                if let Some(obj) = e.as_object_mut() {
                    match key_value {
                        KeyValue::Missing => {
                            obj.remove("key");
                        }
                        KeyValue::Null => {
                            obj.insert("key".into(), Value::Null);
                        }
                        KeyValue::Empty => {
                            obj.insert("key".into(), json!(""));
                        }
                        KeyValue::Number => {
                            obj.insert("key".into(), json!(12345));
                        }
                    }
                }
            }
        }
        FaultKind::UnknownFields { count } => {
            let n = take(count, entries.len());
            for e in entries.iter_mut().take(n) {
                if let Some(obj) = e.as_object_mut() {
                    obj.insert("timezone".into(), json!("Europe/Paris"));
                    obj.insert("isSharingEnabled".into(), json!(true));
                    obj.insert(
                        "simulatorExtra".into(),
                        json!({"nested": [1, 2, 3], "note": "unknown field"}),
                    );
                }
            }
        }
        FaultKind::NullFields { count } => {
            let n = take(count, entries.len());
            for e in entries.iter_mut().take(n) {
                if let Some(obj) = e.as_object_mut() {
                    for field in NULLABLE_FIELDS {
                        obj.insert(field.into(), Value::Null);
                    }
                }
            }
        }
        FaultKind::AbsurdTimestamps { count } => {
            let n = take(count, entries.len());
            for e in entries.iter_mut().take(n) {
                if let Some(obj) = e.as_object_mut() {
                    obj.insert("lastSeenTimestamp".into(), json!(-1000));
                    // About the year 3237, in milliseconds.
                    obj.insert("creationTimestamp".into(), json!(40_000_000_000_000_i64));
                }
            }
        }
        FaultKind::HttpError { .. }
        | FaultKind::HtmlError { .. }
        | FaultKind::Delay(_)
        | FaultKind::MalformedJson
        | FaultKind::TruncatedBody { .. }
        | FaultKind::ObjectBody => {}
    }
}

/// Every user field but `key`.
pub(crate) const NULLABLE_FIELDS: [&str; 8] = [
    "email",
    "displayName",
    "firstName",
    "lastName",
    "image",
    "isOrgAdmin",
    "lastSeenTimestamp",
    "creationTimestamp",
];

/// Gives every user field but `key` (and `orgKey`) a value of the wrong JSON type.
fn wrong_types(obj: &mut Map<String, Value>) {
    let last_seen = obj
        .get("lastSeenTimestamp")
        .and_then(Value::as_i64)
        .unwrap_or(1_700_000_000_000);
    let creation = obj
        .get("creationTimestamp")
        .and_then(Value::as_i64)
        .unwrap_or(1_600_000_000_000);
    let name = obj
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("Someone")
        .to_owned();
    obj.insert("email".into(), json!(42));
    obj.insert("displayName".into(), json!({ "text": name }));
    obj.insert("firstName".into(), json!(7));
    obj.insert("lastName".into(), json!(true));
    obj.insert("image".into(), json!(12.5));
    obj.insert("isOrgAdmin".into(), json!("true"));
    obj.insert("lastSeenTimestamp".into(), json!(last_seen.to_string()));
    obj.insert("creationTimestamp".into(), json!([creation]));
}

/// The body of a listing answered as an object instead of an array.
pub(crate) fn object_body(entries: Vec<Value>) -> Value {
    json!({ "results": entries, "hasNextPage": false })
}

/// A syntactically broken JSON body of the endpoint's shape.
pub(crate) fn malformed_body(list: bool) -> &'static [u8] {
    if list {
        br#"[{"key": "agxzfm1haWxmb29nYWVy" "email": }]"#
    } else {
        br#"{"key": "agxzfm1haWxmb29nYWVy" "email": }"#
    }
}

/// How many bytes of a `len`-byte body a truncation keeps: always at least one byte
/// short of the whole.
pub(crate) fn truncated_len(len: usize, fraction: f64) -> usize {
    let keep = (len as f64 * fraction).floor() as usize;
    keep.min(len.saturating_sub(1))
}

/// The JSON error body Streak sends: `{"error": "..."}`.
pub(crate) fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "error": message })).unwrap_or_default()
}

/// The default message of an injected HTTP error.
pub(crate) fn default_message(status: StatusCode) -> String {
    match status.as_u16() {
        401 => "Invalid API key".into(),
        403 => "Forbidden".into(),
        404 => "Not found".into(),
        410 => "This API version is no longer supported".into(),
        429 => "Too many requests: slow down".into(),
        s if s >= 500 => format!(
            "{} (simulated)",
            status.canonical_reason().unwrap_or("Server error")
        ),
        _ => status.canonical_reason().unwrap_or("Error").into(),
    }
}

/// An HTML error page like the one a Google front end serves.
pub(crate) fn html_page(status: StatusCode) -> String {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("Error");
    format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  \
         <title>Error {code} ({reason})!!1</title>\n  \
         <style>body{{margin:7% auto 0;max-width:390px}}</style>\n  \
         <p><b>{code}.</b> <ins>That\u{2019}s an error.</ins>\n  \
         <p>The server encountered an error and could not complete your request. \
         Please try again in 30 seconds. <ins>That\u{2019}s all we know.</ins>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Value> {
        vec![
            json!({"key":"a","email":"a@x","lastSeenTimestamp":1_700_000_000_123_i64,
                   "creationTimestamp":1_600_000_000_000_i64}),
            json!({"key":"b","email":"b@x"}),
        ]
    }

    #[test]
    fn when_combines_conditions() {
        let w = When {
            from: Some(3),
            until: Some(5),
            ..When::default()
        };
        assert_eq!(
            (1..=7).filter(|&n| w.matches(n)).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        let w = When {
            requests: Some(vec![2, 9]),
            ..When::default()
        };
        assert!(w.matches(2) && w.matches(9) && !w.matches(3));
        assert!(When::default().matches(1));
    }

    #[test]
    fn transforms_change_what_they_say() {
        let mut e = entries();
        transform(&FaultKind::TimestampsInSeconds { count: None }, &mut e);
        assert_eq!(e[0]["lastSeenTimestamp"], json!(1_700_000_000_i64));
        assert_eq!(e[0]["creationTimestamp"], json!(1_600_000_000_i64));

        let mut e = entries();
        transform(&FaultKind::DuplicateEntries { count: 1 }, &mut e);
        assert_eq!(e.len(), 3);
        assert_eq!(e[2]["key"], "a");

        let mut e = entries();
        transform(
            &FaultKind::EntryWithoutKey {
                count: None,
                key_value: KeyValue::Missing,
            },
            &mut e,
        );
        assert!(e.iter().all(|v| v.get("key").is_none()));

        let mut e = entries();
        transform(&FaultKind::WrongFieldTypes { count: Some(1) }, &mut e);
        assert_eq!(e[0]["isOrgAdmin"], json!("true"));
        assert_eq!(e[0]["lastSeenTimestamp"], json!("1700000000123"));
        assert_eq!(e[1]["email"], json!("b@x"));

        let mut e = entries();
        transform(&FaultKind::NullFields { count: None }, &mut e);
        assert!(e[1]["displayName"].is_null() && e[1]["key"] == "b");
    }

    #[test]
    fn truncation_always_drops_something() {
        assert_eq!(truncated_len(100, 0.5), 50);
        assert_eq!(truncated_len(2, 1.0), 1);
        assert_eq!(truncated_len(0, 0.5), 0);
        assert!(serde_json::from_slice::<Value>(malformed_body(true)).is_err());
    }
}
