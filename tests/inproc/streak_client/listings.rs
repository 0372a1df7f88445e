//! Lenient listings: drift, bounds, missing and duplicate keys, timestamps.

use streak_connector::membership::Member;
use streak_connector::metrics::endpoint;

use testkit::streak_server::{json, Server};

use super::{client_for, Harness};

async fn listing(body: &str) -> (streak_connector::streak::FetchedListing, Harness) {
    let server = Server::start(vec![json(200, body)]).await;
    let h = client_for(&server, |_| {});
    let fetched = h.client.org_users("org-1").await.unwrap();
    (fetched, h)
}

#[tokio::test]
async fn wrong_field_types_are_dropped_and_counted_as_drift() {
    let (fetched, h) = listing(
        r#"[{"key":"u1","email":7,"isOrgAdmin":"true","firstName":"Ann"},
            {"key":"u2","email":["x"],"lastSeenTimestamp":"never"}]"#,
    )
    .await;
    assert!(fetched.listing.complete);
    assert_eq!(fetched.listing.members.len(), 2);
    assert_eq!(
        fetched.listing.members[0].first_name.as_deref(),
        Some("Ann")
    );
    assert_eq!(fetched.listing.members[0].email, None);
    assert_eq!(fetched.stats.drifted_fields, 4);
    assert_eq!(h.drift("email"), 2);
    assert_eq!(h.drift("isOrgAdmin"), 1);
    assert_eq!(h.drift("lastSeenTimestamp"), 1);
    assert_eq!(h.drift("firstName"), 0);
    assert_eq!(h.errors(endpoint::ORG_USERS, "invalid_response"), 0);
}

#[tokio::test]
async fn oversized_fields_are_bounded_and_counted_as_drift_at_every_response() {
    let image = format!("data:image/png;base64,{}", "A".repeat(1_500_000));
    let name = "N".repeat(5000);
    let body = format!(
        r#"[{{"key":"u1","image":"{image}","displayName":"{name}"}},{{"key":"u2","image":"https://i/2"}}]"#
    );
    let server = Server::start(vec![json(200, &body), json(200, &body)]).await;
    let h = client_for(&server, |c| c.max_body_bytes = 4 * 1024 * 1024);
    for poll in 1..=2 {
        let fetched = h.client.org_users("org-1").await.unwrap();
        let u1 = &fetched.listing.members[0];
        assert_eq!(u1.image, None);
        assert_eq!(u1.display_name.as_deref().map(str::len), Some(1024));
        assert_eq!(
            fetched.listing.members[1].image.as_deref(),
            Some("https://i/2")
        );
        assert_eq!(fetched.stats.drifted_fields, 2);
        assert_eq!(h.drift("image"), poll);
        assert_eq!(h.drift("displayName"), poll);
    }
}

#[tokio::test]
async fn entries_without_a_key_make_the_listing_incomplete() {
    let (fetched, h) =
        listing(r#"[{"key":"u1"},{"email":"ghost@x"},{"key":""},{"key":42},"u9"]"#).await;
    assert!(!fetched.listing.complete);
    assert_eq!(fetched.listing.members.len(), 1);
    assert_eq!(fetched.stats.entries, 5);
    assert_eq!(fetched.stats.invalid, 4);
    assert_eq!(
        h.metrics
            .api_invalid_entries_total
            .with_label_values(&["org-1"])
            .get(),
        4
    );
}

#[tokio::test]
async fn duplicate_keys_are_merged_and_counted() {
    let (fetched, h) = listing(
        r#"[{"key":"u1","email":"a@x","isOrgAdmin":true},
            {"key":"u1","email":"b@x"},
            {"key":"u1"}]"#,
    )
    .await;
    assert_eq!(
        fetched.listing.members,
        vec![Member {
            key: "u1".into(),
            email: Some("b@x".into()),
            is_org_admin: Some(true),
            ..Member::default()
        }]
    );
    assert!(fetched.listing.complete);
    assert_eq!(fetched.stats.duplicates, 2);
    assert_eq!(
        h.metrics
            .api_duplicate_entries_total
            .with_label_values(&["org-1"])
            .get(),
        2
    );
}

#[tokio::test]
async fn timestamps_in_seconds_are_scaled_and_absurd_ones_dropped() {
    let (fetched, h) = listing(
        r#"[{"key":"s","lastSeenTimestamp":1700000000,"creationTimestamp":1600000000000},
            {"key":"neg","lastSeenTimestamp":-1},
            {"key":"far","creationTimestamp":32503680000001}]"#,
    )
    .await;
    let m = &fetched.listing.members;
    assert_eq!(m[0].last_seen_ms, Some(1_700_000_000_000));
    assert_eq!(m[0].creation_ms, Some(1_600_000_000_000));
    assert_eq!(m[1].last_seen_ms, None);
    assert_eq!(m[2].creation_ms, None);
    assert_eq!(h.drift("lastSeenTimestamp"), 1);
    assert_eq!(h.drift("creationTimestamp"), 1);
    assert!(fetched.listing.complete);
}

#[tokio::test]
async fn an_empty_listing_is_complete_and_empty() {
    let (fetched, h) = listing("[]").await;
    assert!(fetched.listing.members.is_empty());
    assert!(fetched.listing.complete);
    assert_eq!(
        h.metrics
            .api_invalid_entries_total
            .with_label_values(&["org-1"])
            .get(),
        0
    );
}
