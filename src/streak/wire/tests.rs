use super::*;

fn parse(json: &str) -> ParsedListing {
    parse_listing(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn ts(value: &str) -> Result<Option<i64>, Absurd> {
    let scalar: Scalar = serde_json::from_str(value).unwrap();
    timestamp_ms(&scalar)
}

#[test]
fn timestamps_milliseconds_seconds_and_absurd_values() {
    assert_eq!(ts("1700000000000"), Ok(Some(1_700_000_000_000)));
    assert_eq!(ts("1700000000"), Ok(Some(1_700_000_000_000)));
    assert_eq!(ts("1700000000.5"), Ok(Some(1_700_000_000_500)));
    assert_eq!(ts("1700000000000.9"), Ok(Some(1_700_000_000_000)));
    assert_eq!(ts("\"1700000000000\""), Ok(Some(1_700_000_000_000)));
    assert_eq!(ts("\" 1700000000 \""), Ok(Some(1_700_000_000_000)));
    assert_eq!(ts("0"), Ok(Some(0)));
    assert_eq!(ts("null"), Ok(None));
    // The boundary: 10^11 - 1 is seconds, 10^11 is milliseconds.
    assert_eq!(ts("99999999999"), Err(Absurd)); // seconds in year 5138
    assert_eq!(ts("100000000000"), Ok(Some(100_000_000_000)));
    // Year 3000 exactly is accepted; one millisecond later is not.
    assert_eq!(ts("32503680000000"), Ok(Some(32_503_680_000_000)));
    assert_eq!(ts("32503680000001"), Err(Absurd));
    assert_eq!(ts("32503680000"), Ok(Some(32_503_680_000_000))); // in seconds
    for absurd in [
        "-1",
        "-1700000000000",
        "-0.5",
        "1e300",
        "18446744073709551615",
        "\"-5\"",
        "\"\"",
        "\"soon\"",
        "\"1.5\"",
        "\"99999999999999999999999999999999999999999\"",
        "true",
        "[]",
        "{}",
    ] {
        assert_eq!(ts(absurd), Err(Absurd), "{absurd}");
    }
}

#[test]
fn a_full_member_maps_every_field() {
    let p = parse(
        r#"[{"key":"u1","email":"a@x.io","displayName":"Ann A","firstName":"Ann",
            "lastName":"A","image":"https://img/1","isOrgAdmin":true,"orgKey":"o1",
            "lastSeenTimestamp":1700000000123,"creationTimestamp":1600000000,
            "unknownField":{"deep":[1,2,{"x":null}]},"another":7}]"#,
    );
    assert_eq!(
        p.listing.members,
        vec![Member {
            key: "u1".into(),
            email: Some("a@x.io".into()),
            display_name: Some("Ann A".into()),
            first_name: Some("Ann".into()),
            last_name: Some("A".into()),
            image: Some("https://img/1".into()),
            is_org_admin: Some(true),
            last_seen_ms: Some(1_700_000_000_123),
            creation_ms: Some(1_600_000_000_000),
        }]
    );
    assert!(p.listing.complete);
    assert_eq!(
        p.stats,
        ListingStats {
            entries: 1,
            invalid: 0,
            duplicates: 0,
            drifted_fields: 0
        }
    );
}

#[test]
fn only_key_is_required_and_nulls_are_not_drift() {
    let p = parse(r#"[{"key":"u1"},{"key":"u2","email":null,"isOrgAdmin":null}]"#);
    assert_eq!(p.listing.members.len(), 2);
    assert_eq!(p.listing.members[1].email, None);
    assert_eq!(p.stats.drifted_fields, 0);
    assert!(p.listing.complete);
}

#[test]
fn wrong_types_are_dropped_and_counted_by_field() {
    let p = parse(
        r#"[{"key":"u1","email":42,"isOrgAdmin":"yes","displayName":["a"],
             "lastSeenTimestamp":"yesterday","orgKey":{"k":1}},
            {"key":"u2","email":false,"creationTimestamp":-5}]"#,
    );
    assert!(p.listing.complete);
    assert_eq!(p.listing.members.len(), 2);
    assert!(p.listing.members.iter().all(|m| m.email.is_none()));
    assert_eq!(p.listing.members[0].is_org_admin, None);
    assert_eq!(
        p.drift.by_field(),
        vec![
            ("email", 2),
            ("displayName", 1),
            ("isOrgAdmin", 1),
            ("orgKey", 1),
            ("lastSeenTimestamp", 1),
            ("creationTimestamp", 1),
        ]
    );
    assert_eq!(p.stats.drifted_fields, 7);
}

#[test]
fn entries_without_a_usable_key_are_invalid() {
    let p = parse(
        r#"[{"key":"ok"},{"email":"nokey@x"},{"key":null},{"key":7},{"key":""},
            {"key":"  "},{"key":["k"]},"u3",17,null,[{"key":"nested"}]]"#,
    );
    assert_eq!(p.listing.members.len(), 1);
    assert!(!p.listing.complete);
    assert_eq!(p.stats.entries, 11);
    assert_eq!(p.stats.invalid, 10);
}

#[test]
fn duplicates_merge_with_the_later_entry_winning_per_field() {
    let p = parse(
        r#"[{"key":"u1","email":"old@x","displayName":"Old","isOrgAdmin":false},
            {"key":"u2"},
            {"key":"u1","email":"new@x","displayName":null,"isOrgAdmin":"bad"}]"#,
    );
    assert_eq!(p.stats.duplicates, 1);
    assert_eq!(p.stats.entries, 3);
    assert!(p.listing.complete);
    let keys: Vec<&str> = p.listing.members.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["u1", "u2"]);
    let u1 = &p.listing.members[0];
    assert_eq!(u1.email.as_deref(), Some("new@x"));
    assert_eq!(u1.display_name.as_deref(), Some("Old"));
    assert_eq!(u1.is_org_admin, Some(false));
    assert_eq!(p.drift.by_field(), vec![("isOrgAdmin", 1)]);
}

#[test]
fn repeated_field_in_one_object_last_wins() {
    let p = parse(r#"[{"key":"a","email":"1@x","email":"2@x","key":"b"}]"#);
    assert_eq!(p.listing.members[0].key, "b");
    assert_eq!(p.listing.members[0].email.as_deref(), Some("2@x"));
}

#[test]
fn empty_array_and_bom_are_fine() {
    let p = parse("[]");
    assert!(p.listing.members.is_empty());
    assert!(p.listing.complete);
    let with_bom = b"\xEF\xBB\xBF  [ {\"key\":\"u\"} ]\n";
    assert_eq!(parse_listing(with_bom).unwrap().listing.members.len(), 1);
}

#[test]
fn wrong_shapes_are_errors_that_never_quote_the_body() {
    for (body, expect) in [
        (r#"{"error":"secret-ish text"}"#, "found an object"),
        (r#""secret-ish text""#, "found a string"),
        ("null", "found null"),
        ("42", "found a number"),
        ("true", "found a boolean"),
        (r#"[{"key":"u1"},{"key":"#, "truncated"),
        (
            "<html><body>secret-ish text</body></html>",
            "expected value",
        ),
        ("", "truncated"),
        (r#"[{"key":"u1"}] trailing"#, "trailing"),
    ] {
        let err = parse_listing(body.as_bytes()).unwrap_err();
        assert!(err.reason.contains(expect), "{body}: {}", err.reason);
        assert!(!err.reason.contains("secret-ish"), "{}", err.reason);
    }
}

#[test]
fn deep_nesting_is_skipped_without_recursion() {
    // serde_json skips ignored values iteratively: 100 000 levels neither overflow
    // the stack nor spoil the entry they sit in, wherever they sit.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = format!(r#"[{{"key":"u","x":{deep},"email":{deep}}},{deep}]"#);
    let p = parse_listing(body.as_bytes()).unwrap();
    assert_eq!(p.listing.members.len(), 1);
    assert_eq!(p.stats.invalid, 1);
    assert_eq!(p.drift.by_field(), vec![("email", 1)]);
}

#[test]
fn current_user_and_organization() {
    let (user, drift) =
        parse_current_user(br#"{"key":"u1","email":"me@x","orgKey":"o1","x":[1]}"#).unwrap();
    assert_eq!(
        user,
        CurrentUser {
            key: "u1".into(),
            email: Some("me@x".into()),
            org_key: Some("o1".into())
        }
    );
    assert_eq!(drift.total(), 0);
    let (user, drift) = parse_current_user(br#"{"key":"u1","orgKey":5}"#).unwrap();
    assert_eq!(user.org_key, None);
    assert_eq!(drift.by_field(), vec![("orgKey", 1)]);
    assert!(parse_current_user(br#"{"email":"me@x"}"#).is_err());
    assert!(parse_current_user(br#"[{"key":"u1"}]"#)
        .unwrap_err()
        .reason
        .contains("found an array"));

    let (org, drift) = parse_organization(br#"{"key":"o1","name":"Acme"}"#).unwrap();
    assert_eq!(org.name.as_deref(), Some("Acme"));
    assert_eq!(drift.total(), 0);
    let (org, drift) = parse_organization(br#"{"key":"o1","name":{}}"#).unwrap();
    assert_eq!(org.name, None);
    assert_eq!(drift.by_field(), vec![("name", 1)]);
}

#[test]
fn snippets_are_short_scrubbed_and_cut_on_char_boundaries() {
    let key = ApiKey::new("the-secret-key".into()).unwrap();
    let body = format!("{}the-secret-key{}", "é".repeat(10), "ü".repeat(500));
    let s = snippet(body.as_bytes(), &key);
    assert_eq!(s.chars().count(), 200);
    assert!(!s.contains("the-secret-key"));
    assert!(s.contains(crate::streak::key::REDACTED));
    // Invalid UTF-8 does not break it.
    let s = snippet(&[0xff, 0xfe, b'a', 0xc3], &key);
    assert!(s.contains('a'));
}

#[test]
fn error_detail_prefers_the_error_field() {
    let key = ApiKey::new("k3y".into()).unwrap();
    assert_eq!(
        error_detail(br#"{"error":"Invalid API key k3y"}"#, &key).as_deref(),
        Some("Invalid API key [REDACTED]")
    );
    assert_eq!(
        error_detail(b"  <html>Bad gateway</html>\n", &key).as_deref(),
        Some("<html>Bad gateway</html>")
    );
    assert_eq!(error_detail(b"   ", &key), None);
    assert_eq!(error_detail(br#"{"error":""}"#, &key), None);
}

#[test]
fn oversized_strings_are_cut_or_dropped_and_counted_under_their_member() {
    let data_uri = format!("data:image/png;base64,{}", "A".repeat(1_500_000));
    let long_name = "é".repeat(1000); // 2000 bytes
    let long_email = format!("{}@x.io", "a".repeat(400));
    let body = format!(
        r#"[{{"key":"u1","image":"{data_uri}","displayName":"{long_name}","email":"ok@x"}},
            {{"key":"u2","email":"{long_email}","firstName":"Bo","image":"https://i/2"}},
            {{"key":"u1","lastName":"{long_name}"}}]"#
    );
    let p = parse(&body);
    assert!(p.listing.complete);
    let [u1, u2] = &p.listing.members[..] else {
        panic!("{:?}", p.listing.members)
    };
    assert_eq!(u1.image, None);
    assert_eq!(u1.display_name.as_deref().map(str::len), Some(1024));
    assert_eq!(u1.last_name.as_deref().map(str::len), Some(1024));
    assert_eq!(u1.email.as_deref(), Some("ok@x"));
    assert_eq!(u2.email, None);
    assert_eq!(u2.first_name.as_deref(), Some("Bo"));
    assert_eq!(u2.image.as_deref(), Some("https://i/2"));
    let seen: Vec<_> = p
        .drift
        .oversized()
        .iter()
        .map(|o| (o.owner.as_str(), o.field(), o.bytes, o.action))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("u1", "image", data_uri.len(), BoundAction::Dropped),
            ("u1", "displayName", 2000, BoundAction::Truncated),
            ("u2", "email", long_email.len(), BoundAction::Dropped),
            ("u1", "lastName", 2000, BoundAction::Truncated),
        ]
    );
    // Not a type drift (so not in the per-response summary), but counted as drift.
    assert!(p.drift.by_field().is_empty());
    assert_eq!(
        p.drift.counted_by_field(),
        vec![
            ("email", 1),
            ("displayName", 1),
            ("lastName", 1),
            ("image", 1)
        ]
    );
    assert_eq!(p.stats.drifted_fields, 4);
}

#[test]
fn an_oversized_key_makes_its_entry_invalid() {
    let key = "k".repeat(1025);
    let p = parse(&format!(r#"[{{"key":"{key}"}},{{"key":"ok"}}]"#));
    assert_eq!(p.listing.members.len(), 1);
    assert!(!p.listing.complete);
    assert_eq!(p.stats.invalid, 1);
    assert_eq!(p.drift.counted_by_field(), vec![("key", 1)]);
    assert_eq!(p.drift.oversized()[0].owner, format!("{}…", "k".repeat(64)));
    // A key of exactly 1024 bytes is fine.
    let key = "k".repeat(1024);
    assert!(parse(&format!(r#"[{{"key":"{key}"}}]"#)).listing.complete);
    let err =
        parse_organization(format!(r#"{{"key":"{}"}}"#, "o".repeat(2000)).as_bytes()).unwrap_err();
    assert!(err.reason.contains("over 1024 bytes"), "{}", err.reason);
}

#[test]
fn the_current_user_and_organization_fields_are_bounded_too() {
    let (user, drift) = parse_current_user(
        format!(
            r#"{{"key":"u1","email":"{}@x","orgKey":"{}"}}"#,
            "a".repeat(330),
            "o".repeat(1100)
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!((user.email, user.org_key), (None, None));
    assert_eq!(drift.counted_by_field(), vec![("email", 1), ("orgKey", 1)]);
    let (org, drift) =
        parse_organization(format!(r#"{{"key":"o1","name":"{}"}}"#, "N".repeat(5000)).as_bytes())
            .unwrap();
    assert_eq!(org.name.map(|n| n.len()), Some(1024));
    assert_eq!(drift.oversized()[0].action, BoundAction::Truncated);
}

#[test]
fn every_field_is_found_by_its_json_name() {
    for field in FIELDS {
        assert_eq!(Field::from_json_name(field.json_name()), Some(field));
    }
    assert_eq!(Field::from_json_name("Key"), None);
    assert_eq!(Field::from_json_name(""), None);
}
