//! Bodies: the size cap and invalid responses.

use streak_connector::metrics::endpoint;
use streak_connector::recovery::{Classified as _, Recovery};
use streak_connector::streak::ApiError;

use testkit::streak_server::{json, Reply, Server};

use super::{client_for, Harness};

#[tokio::test]
async fn announced_body_over_the_cap_is_refused_unread() {
    let big = format!("[{}]", vec![r#"{"key":"u"}"#; 200].join(","));
    let server = Server::start(vec![json(200, &big)]).await;
    let h = client_for(&server, |c| c.max_body_bytes = 1024);
    let err = h.client.org_users("org-1").await.unwrap_err();
    match err {
        ApiError::BodyTooLarge {
            limit: 1024,
            content_length: Some(n),
            ..
        } => assert_eq!(n, big.len() as u64),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests(), 1, "not retried");
    assert_eq!(h.errors(endpoint::ORG_USERS, "body_too_large"), 1);
}

#[tokio::test]
async fn endless_body_stops_at_the_cap() {
    let server = Server::start(vec![Reply::Endless]).await;
    let h = client_for(&server, |c| c.max_body_bytes = 256 * 1024);
    let err = h.client.org_users("org-1").await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::BodyTooLarge {
                limit: 262_144,
                content_length: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(h.errors(endpoint::ORG_USERS, "body_too_large"), 1);
}

async fn invalid_response(reply: Reply) -> (ApiError, Harness) {
    let server = Server::start(vec![reply]).await;
    let h = client_for(&server, |_| {});
    let err = h.client.org_users("org-1").await.unwrap_err();
    assert_eq!(server.requests(), 1, "not retried within the call");
    assert_eq!(h.errors(endpoint::ORG_USERS, "invalid_response"), 1);
    (err, h)
}

#[tokio::test]
async fn html_page_is_an_invalid_response_with_a_short_snippet() {
    let page = format!(
        "<!DOCTYPE html><html><body>{}</body></html>",
        "Ärger ".repeat(100)
    );
    let (err, _) = invalid_response(Reply::Plain {
        status: 200,
        headers: vec![("content-type", "text/html; charset=utf-8".into())],
        body: page.into_bytes(),
    })
    .await;
    match &err {
        ApiError::InvalidResponse {
            status: 200,
            content_type: Some(ct),
            snippet,
            ..
        } => {
            assert_eq!(ct, "text/html; charset=utf-8");
            assert!(snippet.starts_with("<!DOCTYPE html>"));
            assert_eq!(snippet.chars().count(), 200);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.recovery(), Recovery::RetryNow);
}

#[tokio::test]
async fn object_instead_of_array_is_an_invalid_response() {
    let (err, _) = invalid_response(json(200, r#"{"users":[{"key":"u1"}]}"#)).await;
    match err {
        ApiError::InvalidResponse {
            reason, snippet, ..
        } => {
            assert!(reason.contains("found an object"), "{reason}");
            assert_eq!(snippet, r#"{"users":[{"key":"u1"}]}"#);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn truncated_json_is_an_invalid_response() {
    let (err, _) = invalid_response(json(200, r#"[{"key":"u1"},{"key":"u2","ema"#)).await;
    match err {
        ApiError::InvalidResponse { reason, .. } => {
            assert!(reason.contains("truncated"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
