//! Odd entries in a listing, parsed leniently and counted: empty listings,
//! duplicates, seconds for milliseconds, wrong types, missing keys, unknown fields,
//! absurd timestamps, and the same on /users/me.

use streak_connector::streak::ApiError;

use super::{count, rig};

#[tokio::test(start_paused = true)]
async fn an_empty_listing_is_a_complete_empty_listing() {
    let r = rig(r#"[[faults]]
        kind = "empty_listing""#)
    .await;
    let fetched = r.client.org_users("o").await.unwrap();
    assert!(fetched.listing.members.is_empty());
    assert!(fetched.listing.complete);
    assert_eq!(fetched.stats.entries, 0);
    assert_eq!(r.sim.stats().faults_injected("empty_listing"), 1);
}

#[tokio::test(start_paused = true)]
async fn duplicate_entries_are_merged_and_counted() {
    let r = rig(r#"[[faults]]
        kind = "duplicate_entries"
        count = 2"#)
    .await;
    let fetched = r.client.org_users("o").await.unwrap();
    assert_eq!(fetched.listing.members.len(), 3);
    assert_eq!(fetched.stats.duplicates, 2);
    assert!(fetched.listing.complete);
    assert_eq!(count(&r.metrics.api_duplicate_entries_total, &["o"]), 2);
}

#[tokio::test(start_paused = true)]
async fn timestamps_in_seconds_are_scaled_to_milliseconds() {
    let r = rig(r#"[[faults]]
        kind = "timestamps_in_seconds""#)
    .await;
    let fetched = r.client.org_users("o").await.unwrap();
    let m = &fetched.listing.members;
    assert_eq!(m[0].last_seen_ms, Some(1_699_999_999_000));
    assert_eq!(m[0].creation_ms, Some(1_600_000_000_000));
    assert_eq!(m[1].last_seen_ms, Some(1_699_000_000_000));
    assert_eq!(fetched.stats.drifted_fields, 0);
}

#[tokio::test(start_paused = true)]
async fn wrong_field_types_are_dropped_and_counted_as_drift() {
    let r = rig(r#"[[faults]]
        kind = "wrong_field_types""#)
    .await;
    let fetched = r.client.org_users("o").await.unwrap();
    let m = &fetched.listing.members[0];
    assert_eq!(m.key, "m1");
    assert_eq!(
        (m.email.as_ref(), m.display_name.as_ref(), m.is_org_admin),
        (None, None, None)
    );
    assert_eq!(m.creation_ms, None);
    // A timestamp sent as a string of digits is still read.
    assert_eq!(m.last_seen_ms, Some(1_699_999_999_123));
    for field in [
        "email",
        "displayName",
        "firstName",
        "lastName",
        "image",
        "isOrgAdmin",
        "creationTimestamp",
    ] {
        assert_eq!(r.drift(field), 1, "{field}");
    }
    assert_eq!(fetched.stats.drifted_fields, 7);
    assert!(fetched.listing.complete);
    assert_eq!(
        fetched.listing.members[1].email.as_deref(),
        Some("m2@x.example.com")
    );
}

#[tokio::test(start_paused = true)]
async fn entries_without_a_usable_key_make_the_listing_incomplete() {
    for key_value in ["missing", "null", "empty", "number"] {
        let r = rig(&format!(
            r#"[[faults]]
            kind = "entry_without_key"
            key_value = "{key_value}""#
        ))
        .await;
        let fetched = r.client.org_users("o").await.unwrap();
        assert!(!fetched.listing.complete, "{key_value}");
        assert_eq!(fetched.stats.invalid, 1, "{key_value}");
        assert_eq!(fetched.listing.members.len(), 2, "{key_value}");
        assert_eq!(count(&r.metrics.api_invalid_entries_total, &["o"]), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_fields_are_ignored_and_nulls_are_absent_values() {
    let r = rig(r#"
        [[faults]]
        kind = "unknown_fields"
        requests = [1]
        [[faults]]
        kind = "null_fields"
        requests = [2]"#)
    .await;
    let fetched = r.client.org_users("o").await.unwrap();
    assert_eq!(fetched.stats.drifted_fields, 0);
    assert_eq!(
        fetched.listing.members[0].email.as_deref(),
        Some("m1@x.example.com")
    );

    let fetched = r.client.org_users("o").await.unwrap();
    assert_eq!(fetched.stats.drifted_fields, 0);
    assert!(fetched.listing.complete);
    for m in &fetched.listing.members {
        assert_eq!(
            streak_connector::membership::Member {
                key: m.key.clone(),
                ..Default::default()
            },
            *m
        );
    }
}

#[tokio::test(start_paused = true)]
async fn absurd_timestamps_are_dropped_and_counted() {
    let r = rig(r#"[[faults]]
        kind = "absurd_timestamps""#)
    .await;
    let fetched = r.client.org_users("o").await.unwrap();
    assert!(fetched
        .listing
        .members
        .iter()
        .all(|m| m.last_seen_ms.is_none() && m.creation_ms.is_none()));
    assert_eq!(r.drift("lastSeenTimestamp"), 3);
    assert_eq!(r.drift("creationTimestamp"), 3);
}

#[tokio::test(start_paused = true)]
async fn odd_entries_on_users_me_are_handled_too() {
    let r = rig(r#"
        [[faults]]
        kind = "wrong_field_types"
        endpoint = "users_me"
        requests = [1]
        [[faults]]
        kind = "entry_without_key"
        endpoint = "users_me"
        requests = [2]"#)
    .await;
    let me = r.client.me().await.unwrap();
    assert_eq!((me.key.as_str(), me.email), ("m1", None));
    assert_eq!(r.drift("email"), 1);
    let err = r.client.me().await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
}
