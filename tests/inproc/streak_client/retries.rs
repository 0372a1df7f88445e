//! Retried failures, in virtual time: Retry-After, backoff, deadlines, timeouts and
//! the rate limit.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use streak_connector::metrics::endpoint;
use streak_connector::recovery::{Classified as _, Recovery};
use streak_connector::streak::ApiError;
use tokio::time::Instant;

use testkit::streak_server::{json, with_header, Reply, Server};

use super::{client_for, ME};

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
