//! The Streak client against a scripted HTTP server on 127.0.0.1:0.
//!
//! Every error status and fault has a test asserting the typed outcome, how many
//! requests the server saw (the retry count) and which counters moved. Timing runs
//! under `tokio::time::pause()`: backoff, `Retry-After`, timeouts and the rate limit
//! are checked in virtual time, with no real waiting.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use streak_connector::membership::Member;
use streak_connector::metrics::{endpoint, Metrics};
use streak_connector::recovery::{Classified as _, Recovery};
use streak_connector::streak::{
    ApiError, ApiKey, ClientConfig, StreakApi, StreakClient, USER_AGENT,
};
use tokio::time::Instant;

use testkit::streak_server::{json, random_key, with_header, Reply, Server};

// ---------------------------------------------------------------------------------
// The client side.

struct Harness {
    client: StreakClient,
    metrics: Arc<Metrics>,
    key: String,
}

fn client_for(server: &Server, tweak: impl FnOnce(&mut ClientConfig)) -> Harness {
    let key = random_key();
    let mut config = ClientConfig::with_base_url(&server.base_url).unwrap();
    tweak(&mut config);
    let metrics = Arc::new(Metrics::new());
    let client =
        StreakClient::new(config, ApiKey::new(key.clone()).unwrap(), metrics.clone()).unwrap();
    Harness {
        client,
        metrics,
        key,
    }
}

impl Harness {
    fn requests(&self, ep: &str, class: &str) -> u64 {
        self.metrics
            .api_requests_total
            .with_label_values(&[ep, class])
            .get()
    }
    fn retries(&self, ep: &str, reason: &str) -> u64 {
        self.metrics
            .api_retries_total
            .with_label_values(&[ep, reason])
            .get()
    }
    fn errors(&self, ep: &str, code: &str) -> u64 {
        self.metrics
            .api_errors_total
            .with_label_values(&[ep, code])
            .get()
    }
    fn key_rejected(&self) -> i64 {
        self.metrics
            .api_key_rejected
            .with_label_values(&[self.client.key_fingerprint()])
            .get()
    }
    fn drift(&self, field: &str) -> u64 {
        self.metrics
            .api_drift_total
            .with_label_values(&[field])
            .get()
    }
    fn latency_samples(&self, ep: &str) -> u64 {
        self.metrics
            .api_request_duration_seconds
            .with_label_values(&[ep])
            .get_sample_count()
    }
}

const ME: &str = r#"{"key":"user-1","email":"owner@acme.io","orgKey":"org-1","extra":{"a":1}}"#;

// ---------------------------------------------------------------------------------
// Happy paths and the request itself.

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

// ---------------------------------------------------------------------------------
// Statuses that are not retried.

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

// ---------------------------------------------------------------------------------
// Retried failures, in virtual time.

#[tokio::test(start_paused = true)]
async fn rate_limited_with_retry_after_seconds_waits_exactly_that_long() {
    let server = Server::start(vec![
        with_header(json(429, r#"{"error":"slow down"}"#), "retry-after", "7"),
        json(200, ME),
    ])
    .await;
    let h = client_for(&server, |_| {});
    let start = Instant::now();
    h.client.me().await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_millis(7100),
        "{waited:?}"
    );
    assert_eq!(server.requests(), 2);
    assert_eq!(h.retries(endpoint::USERS_ME, "rate_limited"), 1);
    assert_eq!(h.requests(endpoint::USERS_ME, "4xx"), 1);
    assert_eq!(h.requests(endpoint::USERS_ME, "2xx"), 1);
    assert_eq!(h.errors(endpoint::USERS_ME, "rate_limited"), 0);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_with_retry_after_http_date() {
    let at = SystemTime::now() + Duration::from_secs(30);
    let server = Server::start(vec![
        with_header(json(429, ""), "retry-after", &httpdate::fmt_http_date(at)),
        json(200, ME),
    ])
    .await;
    let h = client_for(&server, |_| {});
    let start = Instant::now();
    h.client.me().await.unwrap();
    // HTTP dates have whole seconds, and the wall clock moved on a little.
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(27) && waited <= Duration::from_secs(30),
        "{waited:?}"
    );
    assert_eq!(h.retries(endpoint::USERS_ME, "rate_limited"), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped() {
    let server = Server::start(vec![
        with_header(json(429, ""), "retry-after", "3600"),
        json(200, ME),
    ])
    .await;
    let h = client_for(&server, |c| {
        c.retry_after_cap = Duration::from_secs(300);
        c.retry.deadline = Duration::from_secs(600);
    });
    let start = Instant::now();
    h.client.me().await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(300) && waited < Duration::from_millis(300_100),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_deadline_gives_up_at_once() {
    let server = Server::start(vec![with_header(json(429, ""), "retry-after", "3600")]).await;
    // Defaults: Retry-After capped at 5 min, deadline 5 min: waiting cannot fit.
    let h = client_for(&server, |_| {});
    let start = Instant::now();
    let err = h.client.me().await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    match err {
        ApiError::RateLimited {
            attempts: 1,
            retry_after: Some(d),
            ..
        } => assert_eq!(d, Duration::from_secs(3600)),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests(), 1);
    assert_eq!(h.retries(endpoint::USERS_ME, "rate_limited"), 0);
    assert_eq!(h.errors(endpoint::USERS_ME, "rate_limited"), 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_without_retry_after_backs_off_with_jitter() {
    let server = Server::start(vec![
        json(429, ""),
        json(429, ""),
        json(429, ""),
        json(200, ME),
    ])
    .await;
    let h = client_for(&server, |_| {});
    let start = Instant::now();
    h.client.me().await.unwrap();
    // Full jitter: each wait is in [0, 0.5 s], [0, 1 s], [0, 2 s].
    assert!(
        start.elapsed() <= Duration::from_millis(3500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.requests(), 4);
    assert_eq!(h.retries(endpoint::USERS_ME, "rate_limited"), 3);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_for_good_after_max_attempts() {
    let server = Server::start(vec![json(429, "")]).await;
    let h = client_for(&server, |_| {});
    let err = h.client.me().await.unwrap_err();
    assert!(matches!(
        err,
        ApiError::RateLimited {
            attempts: 6,
            retry_after: None,
            ..
        }
    ));
    assert_eq!(err.recovery(), Recovery::RetryNow);
    assert_eq!(server.requests(), 6);
    assert_eq!(h.retries(endpoint::USERS_ME, "rate_limited"), 5);
    assert_eq!(h.requests(endpoint::USERS_ME, "4xx"), 6);
    assert_eq!(h.errors(endpoint::USERS_ME, "rate_limited"), 1);
}

#[tokio::test(start_paused = true)]
async fn server_error_is_retried_then_succeeds() {
    let server = Server::start(vec![
        json(500, r#"{"error":"oops"}"#),
        json(200, r#"[{"key":"u1"}]"#),
    ])
    .await;
    let h = client_for(&server, |_| {});
    let fetched = h.client.org_users("org-1").await.unwrap();
    assert_eq!(fetched.listing.members.len(), 1);
    assert_eq!(server.requests(), 2);
    assert_eq!(h.retries(endpoint::ORG_USERS, "server_error"), 1);
    assert_eq!(h.requests(endpoint::ORG_USERS, "5xx"), 1);
    assert_eq!(h.requests(endpoint::ORG_USERS, "2xx"), 1);
}

#[tokio::test(start_paused = true)]
async fn service_unavailable_for_good_after_max_attempts() {
    let server = Server::start(vec![Reply::Plain {
        status: 503,
        headers: vec![("content-type", "text/html".into())],
        body: b"<html><body>Service Unavailable</body></html>".to_vec(),
    }])
    .await;
    let h = client_for(&server, |_| {});
    let start = Instant::now();
    let err = h.client.org_users("org-1").await.unwrap_err();
    match &err {
        ApiError::ServerError {
            status: 503,
            attempts: 6,
            detail: Some(detail),
            ..
        } => assert!(detail.contains("Service Unavailable")),
        other => panic!("{other:?}"),
    }
    // Five waits, each at most min(60 s, 0.5 s * 2^n).
    assert!(start.elapsed() <= Duration::from_millis(500 + 1000 + 2000 + 4000 + 8000));
    assert_eq!(server.requests(), 6);
    assert_eq!(h.retries(endpoint::ORG_USERS, "server_error"), 5);
    assert_eq!(h.errors(endpoint::ORG_USERS, "server_error"), 1);
    assert_eq!(h.errors(endpoint::ORG_USERS, "rate_limited"), 0);
}

#[tokio::test(start_paused = true)]
async fn the_overall_deadline_stops_retries_before_max_attempts() {
    let server = Server::start(vec![json(503, "")]).await;
    let h = client_for(&server, |c| {
        c.retry.base = Duration::from_secs(10);
        c.retry.cap = Duration::from_secs(10);
        c.retry.max_attempts = 1000;
        c.retry.deadline = Duration::from_secs(25);
    });
    let start = Instant::now();
    let err = h.client.me().await.unwrap_err();
    let ApiError::ServerError { attempts, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "{:?}",
        start.elapsed()
    );
    // Two waits of at most 10 s always fit in 25 s; a thousand never do.
    assert!((3..1000).contains(&attempts), "{attempts}");
    assert_eq!(server.requests(), attempts as usize);
    assert_eq!(
        h.retries(endpoint::USERS_ME, "server_error"),
        u64::from(attempts - 1)
    );
}

#[tokio::test(start_paused = true)]
async fn slow_answers_time_out_and_are_retried() {
    let server = Server::start(vec![Reply::Slow(
        Duration::from_secs(60),
        Box::new(json(200, ME)),
    )])
    .await;
    let h = client_for(&server, |c| {
        c.request_timeout = Duration::from_secs(2);
        c.retry.max_attempts = 3;
    });
    let start = Instant::now();
    let err = h.client.me().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Timeout { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(err.recovery(), Recovery::RetryNow);
    assert!(
        start.elapsed() >= Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.requests(), 3);
    assert_eq!(h.requests(endpoint::USERS_ME, "timeout"), 3);
    assert_eq!(h.retries(endpoint::USERS_ME, "timeout"), 2);
    assert_eq!(h.errors(endpoint::USERS_ME, "timeout"), 1);
}

#[tokio::test(start_paused = true)]
async fn status_408_is_retried_as_a_timeout() {
    let server = Server::start(vec![json(408, ""), json(200, ME)]).await;
    let h = client_for(&server, |_| {});
    h.client.me().await.unwrap();
    assert_eq!(server.requests(), 2);
    assert_eq!(h.requests(endpoint::USERS_ME, "4xx"), 1);
    assert_eq!(h.retries(endpoint::USERS_ME, "timeout"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_within_the_timeout_succeeds() {
    let server = Server::start(vec![Reply::Slow(
        Duration::from_secs(20),
        Box::new(json(200, ME)),
    )])
    .await;
    let h = client_for(&server, |_| {});
    h.client.me().await.unwrap();
    assert_eq!(server.requests(), 1);
}

#[tokio::test(start_paused = true)]
async fn connection_refused_is_a_transport_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let server = Server {
        base_url: format!("http://{addr}/api/v1"),
        seen: Arc::default(),
    };
    let h = client_for(&server, |c| c.retry.max_attempts = 3);
    let err = h.client.me().await.unwrap_err();
    match &err {
        ApiError::Transport {
            attempts: 3,
            detail,
            ..
        } => assert!(!detail.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.recovery(), Recovery::RetryNow);
    assert_eq!(h.requests(endpoint::USERS_ME, "transport"), 3);
    assert_eq!(h.retries(endpoint::USERS_ME, "transport"), 2);
    assert_eq!(h.errors(endpoint::USERS_ME, "transport"), 1);
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_paces_requests() {
    let server = Server::start(vec![json(200, ME)]).await;
    let h = client_for(&server, |c| c.rate_limit_per_sec = 4);
    let start = Instant::now();
    for _ in 0..9 {
        h.client.me().await.unwrap();
    }
    // A burst of 4, then one every 250 ms for the other 5.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1250) && elapsed < Duration::from_millis(1400),
        "{elapsed:?}"
    );
    assert_eq!(server.requests(), 9);
}

// ---------------------------------------------------------------------------------
// Bodies.

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

// ---------------------------------------------------------------------------------
// Lenient listings.

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

// ---------------------------------------------------------------------------------
// Configuration.

#[test]
fn plain_http_to_a_remote_host_is_refused_at_start_up() {
    let err = ClientConfig::with_base_url("http://api.streak.com/api/v1").unwrap_err();
    assert!(matches!(
        err,
        ApiError::Config {
            setting: "base_url",
            ..
        }
    ));
    let config = ClientConfig {
        base_url: "http://api.streak.com/api/v1".parse().unwrap(),
        ..ClientConfig::default()
    };
    let err = StreakClient::new(
        config,
        ApiKey::new(random_key()).unwrap(),
        Arc::new(Metrics::new()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`base_url`"), "{err}");
    assert_eq!(err.error_code(), "config");
}
