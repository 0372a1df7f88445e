//! Statuses that are not retried: typed, counted, not followed.

use streak_connector::metrics::endpoint;
use streak_connector::recovery::{Classified as _, Recovery};
use streak_connector::streak::ApiError;

use testkit::streak_server::{json, with_header, Server};

use super::{client_for, ME};

struct Case {
    status: u16,
    code: &'static str,
    key_rejected: bool,
    message: &'static str,
}

#[tokio::test]
async fn client_errors_are_typed_not_retried_and_counted() {
    let cases = [
        Case {
            status: 400,
            code: "bad_request",
            key_rejected: false,
            message: "Bad Request",
        },
        Case {
            status: 401,
            code: "unauthorized",
            key_rejected: true,
            message: "personal key trap",
        },
        Case {
            status: 403,
            code: "forbidden",
            key_rejected: true,
            message: "lost access",
        },
        Case {
            status: 404,
            code: "not_found",
            key_rejected: false,
            message: "organization key is wrong",
        },
        Case {
            status: 410,
            code: "gone",
            key_rejected: true,
            message: "retired",
        },
        Case {
            status: 422,
            code: "unexpected_status",
            key_rejected: false,
            message: "unexpected status 422",
        },
    ];
    for case in cases {
        let server = Server::start(vec![json(case.status, r#"{"error":"streak says no"}"#)]).await;
        let h = client_for(&server, |_| {});
        let err = h.client.org_users("org-1").await.unwrap_err();
        assert_eq!(err.status(), Some(case.status));
        assert_eq!(err.error_code(), case.code);
        assert_eq!(err.is_key_rejected(), case.key_rejected, "{err}");
        assert_ne!(err.recovery(), Recovery::RetryNow, "{err}");
        let msg = err.to_string();
        assert!(msg.contains(case.message), "{msg}");
        assert!(msg.contains("streak says no"), "{msg}");
        assert_eq!(server.requests(), 1, "{} must not be retried", case.status);
        assert_eq!(h.requests(endpoint::ORG_USERS, "4xx"), 1);
        assert_eq!(h.errors(endpoint::ORG_USERS, case.code), 1);
        assert_eq!(h.key_rejected(), i64::from(case.key_rejected));
        let variant_ok = match case.status {
            400 => matches!(err, ApiError::BadRequest { .. }),
            401 => matches!(err, ApiError::Unauthorized { .. }),
            403 => matches!(err, ApiError::Forbidden { .. }),
            404 => matches!(err, ApiError::NotFound { .. }),
            410 => matches!(err, ApiError::Gone { .. }),
            _ => matches!(err, ApiError::UnexpectedStatus { .. }),
        };
        assert!(variant_ok, "{err:?}");
    }
}

#[tokio::test]
async fn key_rejected_gauge_clears_on_the_next_success() {
    let server = Server::start(vec![json(401, r#"{"error":"bad key"}"#), json(200, ME)]).await;
    let h = client_for(&server, |_| {});
    assert!(h.client.me().await.unwrap_err().is_key_rejected());
    assert_eq!(h.key_rejected(), 1);
    h.client.me().await.unwrap();
    assert_eq!(h.key_rejected(), 0);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = Server::start(vec![json(200, ME)]).await;
    let server = Server::start(vec![with_header(
        json(301, ""),
        "location",
        &format!("{}/users/me", elsewhere.base_url),
    )])
    .await;
    let h = client_for(&server, |_| {});
    let err = h.client.me().await.unwrap_err();
    match &err {
        ApiError::Redirect {
            status: 301,
            location: Some(location),
            ..
        } => assert!(location.starts_with(&elsewhere.base_url)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        elsewhere.requests(),
        0,
        "the key must not follow a redirect"
    );
    assert_eq!(h.requests(endpoint::USERS_ME, "3xx"), 1);
    assert_eq!(h.errors(endpoint::USERS_ME, "redirect"), 1);
}
