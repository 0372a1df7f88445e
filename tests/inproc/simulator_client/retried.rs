//! Transient faults, retried: rate limits (with and without Retry-After), server
//! errors, the deadline, delays under and over the timeout, dropped connections.

use std::time::Duration;

use streak_connector::recovery::{Classified as _, Recovery};
use streak_connector::simulator::Endpoint;
use streak_connector::streak::ApiError;
use tokio::time::Instant;

use super::{rig, rig_with, ORG_USERS};

#[tokio::test(start_paused = true)]
async fn rate_limited_with_retry_after_waits_as_told() {
    let r = rig(r#"[[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [1, 2]
        status = 429
        retry_after = 7"#)
    .await;
    let t = Instant::now();
    let fetched = r.client.org_users("o").await.unwrap();
    let waited = t.elapsed();
    assert_eq!(fetched.listing.members.len(), 3);
    assert!(
        waited >= Duration::from_secs(14) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
    assert_eq!(r.retries("rate_limited"), 2);
    assert_eq!(r.requests("4xx"), 2);
    assert_eq!(r.listing_requests(), 3);
    assert_eq!(r.sim.stats().faults_injected("http_error"), 2);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_with_an_http_date_waits_until_then() {
    let r = rig(r#"[[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [1]
        status = 429
        retry_after = 40
        retry_after_format = "http_date""#)
    .await;
    let t = Instant::now();
    r.client.org_users("o").await.unwrap();
    let waited = t.elapsed();
    // HTTP dates have whole seconds: 39 to 40 s.
    assert!(
        waited >= Duration::from_secs(38) && waited <= Duration::from_secs(41),
        "{waited:?}"
    );
    assert_eq!(r.retries("rate_limited"), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped() {
    let r = rig_with(
        r#"[[faults]]
        kind = "http_error"
        requests = [1]
        status = 503
        retry_after = 86400"#,
        "key-o",
        |c| c.retry_after_cap = Duration::from_secs(20),
    )
    .await;
    let t = Instant::now();
    r.client.org_users("o").await.unwrap();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(20) && waited < Duration::from_secs(21),
        "{waited:?}"
    );
    assert_eq!(r.retries("server_error"), 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_without_retry_after_backs_off_then_gives_up() {
    let r = rig(r#"[[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        status = 429"#)
    .await;
    let t = Instant::now();
    let err = r.client.org_users("o").await.unwrap_err();
    let waited = t.elapsed();
    assert!(
        matches!(
            err,
            ApiError::RateLimited {
                attempts: 6,
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.recovery() == Recovery::RetryNow && !err.is_key_rejected());
    // Full jitter: at most the sum of the ceilings 0.5 + 1 + 2 + 4 + 8 s.
    assert!(waited <= Duration::from_millis(15_500), "{waited:?}");
    assert_eq!(r.retries("rate_limited"), 5);
    assert_eq!(r.errors(ORG_USERS, "rate_limited"), 1);
    assert_eq!(r.listing_requests(), 6);
}

#[tokio::test(start_paused = true)]
async fn server_errors_500_and_503_are_retried() {
    let r = rig(r#"
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [1]
        status = 500
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [2]
        status = 503"#)
    .await;
    let t = Instant::now();
    assert_eq!(
        r.client.org_users("o").await.unwrap().listing.members.len(),
        3
    );
    assert!(
        t.elapsed() <= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.retries("server_error"), 2);
    assert_eq!(r.requests("5xx"), 2);
    assert_eq!(r.requests("2xx"), 1);
    assert_eq!(r.listing_requests(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_persistent_server_error_is_a_typed_error_after_the_attempts() {
    let r = rig_with(
        r#"[[faults]]
        kind = "http_error"
        endpoint = "users_me"
        status = 503
        message = "maintenance""#,
        "key-o",
        |c| c.retry.max_attempts = 3,
    )
    .await;
    let err = r.client.me().await.unwrap_err();
    match &err {
        ApiError::ServerError {
            status: 503,
            attempts: 3,
            detail,
            ..
        } => assert_eq!(detail.as_deref(), Some("maintenance")),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.errors("users_me", "server_error"), 1);
    assert_eq!(r.sim.requests(Endpoint::UsersMe), 3);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_stops_retries_early() {
    let r = rig_with(
        r#"[[faults]]
        kind = "http_error"
        status = 429
        retry_after = 30"#,
        "key-o",
        |c| c.retry.deadline = Duration::from_secs(100),
    )
    .await;
    let t = Instant::now();
    let err = r.client.org_users("o").await.unwrap_err();
    assert!(
        matches!(err, ApiError::RateLimited { attempts: 4, .. }),
        "{err:?}"
    );
    assert!(t.elapsed() <= Duration::from_secs(100));
    assert_eq!(r.listing_requests(), 4);
}

#[tokio::test(start_paused = true)]
async fn html_error_pages_with_5xx_are_server_errors() {
    let r = rig_with(
        r#"[[faults]]
        kind = "html_error"
        endpoint = "organization_users""#,
        "key-o",
        |c| c.retry.max_attempts = 2,
    )
    .await;
    let err = r.client.org_users("o").await.unwrap_err();
    match &err {
        ApiError::ServerError {
            status: 502,
            detail: Some(d),
            ..
        } => assert!(d.starts_with("<!DOCTYPE html>"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.retries("server_error"), 1);
    assert_eq!(r.sim.stats().faults_injected("html_error"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_delay_under_the_timeout_is_only_latency() {
    let r = rig(r#"[[faults]]
        kind = "delay"
        endpoint = "organization_users"
        delay = "5s""#)
    .await;
    r.client.org_users("o").await.unwrap();
    let latency = r
        .metrics
        .api_request_duration_seconds
        .with_label_values(&[ORG_USERS]);
    assert_eq!(latency.get_sample_count(), 1);
    assert!(
        latency.get_sample_sum() >= 5.0,
        "{}",
        latency.get_sample_sum()
    );
    assert_eq!(r.retries("timeout"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_delay_over_the_timeout_is_a_timeout() {
    let r = rig_with(
        r#"[[faults]]
        kind = "delay"
        endpoint = "organization_users"
        delay = "60s""#,
        "key-o",
        |c| {
            c.request_timeout = Duration::from_secs(2);
            c.retry.max_attempts = 3;
        },
    )
    .await;
    let err = r.client.org_users("o").await.unwrap_err();
    assert!(
        matches!(err, ApiError::Timeout { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(r.retries("timeout"), 2);
    assert_eq!(r.requests("timeout"), 3);
    assert_eq!(r.errors(ORG_USERS, "timeout"), 1);
    assert_eq!(r.listing_requests(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_connection_dropped_mid_body_is_a_transport_failure_and_retried() {
    let r = rig(r#"[[faults]]
        kind = "truncated_body"
        endpoint = "organization_users"
        requests = [1]
        abort_connection = true"#)
    .await;
    let fetched = r.client.org_users("o").await.unwrap();
    assert_eq!(fetched.listing.members.len(), 3);
    assert_eq!(r.retries("transport"), 1);
    assert_eq!(r.listing_requests(), 2);
}
