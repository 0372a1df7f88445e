//! The three endpoints with Streak's field names, Basic auth on every one, other
//! organizations refused, and keys that die with their owner or on revocation.

use serde_json::Value;
use streak_connector::simulator::{Change, Endpoint, SimError};

use super::{get, json, listing_keys, start_toml, DAY_MS, START_MS, TWO_ORGS};

#[tokio::test]
async fn serves_the_three_endpoints_with_streak_field_names() {
    let sim = start_toml(TWO_ORGS).await;
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert!(sim.base_url().ends_with("/api/v1"));

    let (status, me) = json(&sim, "/users/me", "key-a").await;
    assert_eq!(status, 200);
    assert_eq!(me["key"], "u-1");
    assert_eq!(me["orgKey"], "org-a");
    assert_eq!(me["email"], "one@a.example.com");
    assert_eq!(me["lastSeenTimestamp"], START_MS - DAY_MS);

    let (_, me2) = json(&sim, "/users/me", "key-a2").await;
    assert_eq!(me2["key"], "u-2");

    let (status, org) = json(&sim, "/users/me/organization", "key-a").await;
    assert_eq!(status, 200);
    assert_eq!(
        org,
        serde_json::json!({"key": "org-a", "name": "Org A", "creationTimestamp": 1_600_000_000_000_i64})
    );

    let (status, list) = json(&sim, "/organizations/org-a/users", "key-a").await;
    assert_eq!(status, 200);
    assert_eq!(
        list[0],
        serde_json::json!({
            "key": "u-1", "email": "one@a.example.com", "displayName": "One",
            "firstName": "O", "lastName": "Ne", "image": "https://img.example.com/1",
            "isOrgAdmin": true, "orgKey": "org-a",
            "lastSeenTimestamp": START_MS - DAY_MS, "creationTimestamp": 1_600_000_000_000_i64
        })
    );
    assert_eq!(
        list[1],
        serde_json::json!({"key": "u-2", "email": "two@a.example.com", "isOrgAdmin": false, "orgKey": "org-a"})
    );

    // The generated organization: its first generated member owns the plain key.
    let keys = listing_keys(&sim, "org-b", "key-b").await;
    assert_eq!(keys.len(), 3);
    let (_, me_b) = json(&sim, "/users/me", "key-b").await;
    assert_eq!(me_b["key"], keys[0].as_str());

    let stats = sim.stats();
    assert_eq!(stats.requests(Endpoint::UsersMe), 3);
    assert_eq!(stats.requests(Endpoint::Organization), 1);
    assert_eq!(stats.requests(Endpoint::OrganizationUsers), 2);
    assert_eq!(stats.org_requests("org-a", Endpoint::UsersMe), 2);
    assert_eq!(stats.org_total("org-b"), 2);
    assert_eq!(stats.responses(200), 6);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn auth_is_checked_on_every_endpoint() {
    let sim = start_toml(TWO_ORGS).await;
    for path in [
        "/users/me",
        "/users/me/organization",
        "/organizations/org-a/users",
    ] {
        let r = get(&sim, path, None).await;
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Basic realm=\"Streak API\""
        );
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("Basic auth"));

        let (status, body) = json(&sim, path, "not-a-key").await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"], "Invalid API key");
    }
    // Bearer instead of Basic is no credential at all.
    let r = reqwest::Client::new()
        .get(format!("{}/users/me", sim.base_url()))
        .bearer_auth("key-a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A password is ignored, as Streak does.
    let r = reqwest::Client::new()
        .get(format!("{}/users/me", sim.base_url()))
        .basic_auth("key-a", Some("whatever"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    assert_eq!(sim.stats().responses(401), 7);
    // Requests without a known key count only for the organization in their path.
    assert_eq!(sim.stats().org_total("org-a"), 3);
}

#[tokio::test]
async fn another_organizations_listing_is_refused_and_unknown_ones_are_404() {
    let sim = start_toml(TWO_ORGS).await;
    let (status, body) = json(&sim, "/organizations/org-b/users", "key-a").await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("no access"));
    let (status, _) = json(&sim, "/organizations/org-zzz/users", "key-a").await;
    assert_eq!(status, 404);
    let (status, body) = json(&sim, "/no/such/path", "key-a").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("Not found")));

    let with_404 = TWO_ORGS.replace(
        "start_time_ms = 1700000000000",
        "start_time_ms = 1700000000000\nforeign_org_status = 404",
    );
    let sim = start_toml(&with_404).await;
    let (status, _) = json(&sim, "/organizations/org-b/users", "key-a").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_key_dies_when_its_owner_leaves_or_it_is_revoked() {
    let sim = start_toml(TWO_ORGS).await;
    sim.apply("org-a", Change::Leave { key: "u-2".into() })
        .unwrap();
    let (status, body) = json(&sim, "/users/me", "key-a2").await;
    assert_eq!(status, 401);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no longer a member"));
    // The other key of the organization still works and no longer lists u-2.
    assert_eq!(listing_keys(&sim, "org-a", "key-a").await, ["u-1"]);

    sim.apply(
        "org-a",
        Change::RevokeKey {
            api_key: "key-a".into(),
        },
    )
    .unwrap();
    let (status, body) = json(&sim, "/organizations/org-a/users", "key-a").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "This API key has been revoked");
    sim.apply(
        "org-a",
        Change::RestoreKey {
            api_key: "key-a".into(),
        },
    )
    .unwrap();
    assert_eq!(listing_keys(&sim, "org-a", "key-a").await, ["u-1"]);

    // A key is revoked only through its own organization.
    let err = sim
        .apply(
            "org-b",
            Change::RevokeKey {
                api_key: "key-a".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, SimError::UnknownApiKey { .. }));
    assert!(!err.to_string().contains("key-a"), "the key is not echoed");
}
