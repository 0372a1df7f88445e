//! Happy paths and the request itself: authentication, user agent, parsing, paths.

use std::sync::Arc;

use base64::Engine as _;
use streak_connector::metrics::endpoint;
use streak_connector::streak::{StreakApi, USER_AGENT};

use testkit::streak_server::{json, Server};

use super::{client_for, ME};

#[tokio::test]
async fn sends_basic_auth_user_agent_and_parses_me_and_organization() {
    let server = Server::start(vec![
        json(200, ME),
        json(
            200,
            r#"{"key":"org-1","name":"Acme","creationTimestamp":1}"#,
        ),
    ])
    .await;
    let h = client_for(&server, |_| {});

    let me = h.client.me().await.unwrap();
    assert_eq!(me.key, "user-1");
    assert_eq!(me.email.as_deref(), Some("owner@acme.io"));
    assert_eq!(me.org_key.as_deref(), Some("org-1"));
    let org = h.client.organization().await.unwrap();
    assert_eq!(
        (org.key.as_str(), org.name.as_deref()),
        ("org-1", Some("Acme"))
    );

    let seen = server.seen();
    assert_eq!(seen[0].path, "/api/v1/users/me");
    assert_eq!(seen[1].path, "/api/v1/users/me/organization");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", h.key))
    );
    for s in &seen {
        assert_eq!(s.authorization.as_deref(), Some(expected.as_str()));
        assert_eq!(s.user_agent.as_deref(), Some(USER_AGENT));
        assert!(!s.path.contains(&h.key));
    }
    assert!(USER_AGENT.starts_with("streak-connector/"));
    assert_eq!(h.requests(endpoint::USERS_ME, "2xx"), 1);
    assert_eq!(h.requests(endpoint::ORGANIZATION, "2xx"), 1);
    assert_eq!(h.latency_samples(endpoint::USERS_ME), 1);
    assert_eq!(h.key_rejected(), 0);
}

#[tokio::test]
async fn the_client_serves_as_a_dyn_streak_api() {
    let server = Server::start(vec![json(200, ME), json(200, r#"[{"key":"u1"}]"#)]).await;
    let h = client_for(&server, |_| {});
    let fingerprint = h.client.key_fingerprint().to_string();
    let api: Arc<dyn StreakApi> = Arc::new(h.client);
    assert_eq!(api.me().await.unwrap().key, "user-1");
    let fetched = api.org_users("org-1").await.unwrap();
    assert_eq!(fetched.listing.members.len(), 1);
    assert_eq!(api.key_fingerprint(), fingerprint);
    assert_eq!(fingerprint.len(), 8);
}

#[tokio::test]
async fn org_users_percent_encodes_the_org_key_as_one_segment() {
    let server = Server::start(vec![json(200, r#"[{"key":"u1"}]"#)]).await;
    let h = client_for(&server, |_| {});
    let fetched = h.client.org_users("org/with space?#").await.unwrap();
    assert_eq!(fetched.listing.members.len(), 1);
    assert_eq!(
        server.seen()[0].path,
        "/api/v1/organizations/org%2Fwith%20space%3F%23/users"
    );
}

#[tokio::test]
async fn base_url_with_trailing_slash_makes_the_same_paths() {
    let server = Server::start(vec![json(200, ME)]).await;
    let h = client_for(&server, |c| {
        c.base_url = format!("{}/", server.base_url).parse().unwrap()
    });
    h.client.me().await.unwrap();
    assert_eq!(server.seen()[0].path, "/api/v1/users/me");
}
