//! The listing parser never panics, whatever it is fed, and its tallies always add
//! up: arbitrary bytes, arbitrary JSON, user-shaped JSON with arbitrary field values,
//! and every truncation of a valid listing.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use streak_connector::streak::{parse_listing, parse_listing_whole, ListingParser, ParsedListing};

/// 3000-01-01T00:00:00Z in epoch milliseconds.
const YEAR_3000_MS: i64 = 32_503_680_000_000;

const FIELDS: [&str; 11] = [
    "key",
    "email",
    "displayName",
    "firstName",
    "lastName",
    "image",
    "isOrgAdmin",
    "orgKey",
    "lastSeenTimestamp",
    "creationTimestamp",
    "name",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0i64..40_000_000_000_000).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[0-9]{1,15}".prop_map(Value::from),
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        1 => "[a-zA-Z]{0,8}",
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((field_name(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A field value: mostly scalars, sometimes a small array or object.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => scalar(),
        1 => proptest::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => proptest::collection::vec((field_name(), scalar()), 0..3)
            .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
    ]
}

/// An object shaped like a Streak user, keys drawn from a small set so duplicates
/// happen, every other field any JSON.
fn user_like() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            4 => "u[0-9]".prop_map(Value::from),
            1 => field_value(),
        ],
        proptest::collection::vec((field_name(), field_value()), 0..10),
    )
        .prop_map(|(key, fields)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            object.insert("key".into(), key);
            Value::Object(object)
        })
}

fn check_tallies(parsed: &ParsedListing, len: usize) {
    let s = parsed.stats;
    assert_eq!(s.entries, len as u64);
    assert_eq!(
        parsed.listing.members.len() as u64 + s.invalid + s.duplicates,
        s.entries
    );
    assert_eq!(parsed.listing.complete, s.invalid == 0);
    assert_eq!(s.drifted_fields, parsed.drift.total());
    let keys: HashSet<&str> = parsed
        .listing
        .members
        .iter()
        .map(|m| m.key.as_str())
        .collect();
    assert_eq!(
        keys.len(),
        parsed.listing.members.len(),
        "one member per key"
    );
    for m in &parsed.listing.members {
        assert!(!m.key.trim().is_empty());
        for ts in [m.last_seen_ms, m.creation_ms].into_iter().flatten() {
            assert!((0..=YEAR_3000_MS).contains(&ts), "{ts}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_listing(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics_and_only_arrays_parse(value in any_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        match (&value, parse_listing(&body)) {
            (Value::Array(items), Ok(parsed)) => check_tallies(&parsed, items.len()),
            (Value::Array(_), Err(e)) => panic!("an array must parse: {e}"),
            (_, Ok(_)) => panic!("only an array is a listing: {value}"),
            (_, Err(_)) => {}
        }
    }

    #[test]
    fn user_shaped_listings_add_up(users in proptest::collection::vec(user_like(), 0..16)) {
        let body = serde_json::to_vec(&users).unwrap();
        let parsed = parse_listing(&body).unwrap();
        check_tallies(&parsed, users.len());
        // Every entry with a non-blank string key is a member; the rest are invalid.
        let usable: HashSet<&str> = users
            .iter()
            .filter_map(|u| u["key"].as_str())
            .filter(|k| !k.trim().is_empty())
            .collect();
        let members: HashSet<&str> =
            parsed.listing.members.iter().map(|m| m.key.as_str()).collect();
        prop_assert_eq!(usable, members);
    }

    /// The parser fed the body in any chunks says what the whole-body parser (one
    /// serde pass, the reference) says of it: the same listing, or an error.
    #[test]
    fn any_chunking_gives_the_whole_bodys_result(
        value in any_json(),
        users in proptest::collection::vec(user_like(), 0..8),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
    ) {
        let listing = serde_json::to_vec(&users).unwrap();
        let other = serde_json::to_vec(&value).unwrap();
        for body in [listing, other, bytes.clone()] {
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
            at.sort_unstable();
            let mut parser = ListingParser::new();
            let mut fed = Ok(());
            let mut from = 0;
            for to in at.into_iter().chain([body.len()]) {
                fed = fed.and_then(|()| parser.feed(&body[from..to]));
                from = to;
            }
            let chunked = fed.and_then(|()| parser.finish());
            match (parse_listing_whole(&body), chunked) {
                (Ok(whole), Ok(chunked)) => prop_assert_eq!(whole, chunked),
                (Err(_), Err(_)) => {}
                (whole, chunked) => prop_assert!(false, "{:?}: whole {:?}, chunked {:?}", String::from_utf8_lossy(&body), whole, chunked),
            }
        }
    }

    #[test]
    fn every_truncation_of_a_listing_is_an_error(
        users in proptest::collection::vec(user_like(), 1..6),
        cut in any::<proptest::sample::Index>(),
    ) {
        let body = serde_json::to_vec(&users).unwrap();
        let at = cut.index(body.len());
        prop_assert!(parse_listing(&body[..at]).is_err());
    }
}

#[test]
fn a_top_level_wrapper_object_is_refused() {
    let body = json!({"users": [{"key": "u1"}]}).to_string();
    assert!(parse_listing(body.as_bytes()).is_err());
}
