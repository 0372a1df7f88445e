//! The real `StreakClient` against the in-process simulator, for every fault the
//! simulator can inject: the typed outcome, the client's counter that moved, and
//! how many requests the simulator saw. Retry timing runs on paused tokio time, so
//! backoffs of seconds take no real time.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounterVec;
use streak_connector::metrics::Metrics;
use streak_connector::recovery::{Classified as _, Recovery};
use streak_connector::simulator::{Change, Endpoint, RunningSimulator, Scenario, Simulator};
use streak_connector::streak::{ApiError, ApiKey, ClientConfig, StreakClient};
use tokio::time::Instant;

const BASE: &str = r#"
[settings]
start_time_ms = 1700000000000

[[organizations]]
key = "o"
name = "Org O"
api_keys = [{ key = "key-o", owner = "m1" }, { key = "key-o2", owner = "m2" }]
members = [
  { key = "m1", email = "m1@x.example.com", displayName = "Em One", isOrgAdmin = true, lastSeenTimestamp = 1699999999123, creationTimestamp = 1600000000456 },
  { key = "m2", email = "m2@x.example.com", displayName = "Em Two", isOrgAdmin = false, lastSeenTimestamp = 1699000000000 },
  { key = "m3", email = "m3@x.example.com", isOrgAdmin = false },
]

[[organizations]]
key = "p"
api_keys = ["key-p"]
members = [{ key = "x" }]
"#;

const ORG_USERS: &str = "organization_users";

struct Rig {
    sim: RunningSimulator,
    client: StreakClient,
    metrics: Arc<Metrics>,
}

async fn rig(faults: &str) -> Rig {
    rig_with(faults, "key-o", |_| {}).await
}

async fn rig_with(faults: &str, key: &str, tweak: impl FnOnce(&mut ClientConfig)) -> Rig {
    let scenario = Scenario::from_toml_str(&format!("{BASE}\n{faults}")).unwrap();
    let sim = Simulator::start(scenario, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = ClientConfig::with_base_url(&sim.base_url()).unwrap();
    tweak(&mut config);
    let metrics = Arc::new(Metrics::new());
    let client =
        StreakClient::new(config, ApiKey::new(key.into()).unwrap(), metrics.clone()).unwrap();
    Rig {
        sim,
        client,
        metrics,
    }
}

fn count(vec: &IntCounterVec, labels: &[&str]) -> u64 {
    vec.with_label_values(labels).get()
}

impl Rig {
    fn retries(&self, reason: &str) -> u64 {
        count(&self.metrics.api_retries_total, &[ORG_USERS, reason])
    }
    fn errors(&self, endpoint: &str, code: &str) -> u64 {
        count(&self.metrics.api_errors_total, &[endpoint, code])
    }
    fn requests(&self, class: &str) -> u64 {
        count(&self.metrics.api_requests_total, &[ORG_USERS, class])
    }
    fn drift(&self, field: &str) -> u64 {
        count(&self.metrics.api_drift_total, &[field])
    }
    fn listing_requests(&self) -> u64 {
        self.sim.requests(Endpoint::OrganizationUsers)
    }
    fn key_rejected(&self) -> i64 {
        self.metrics
            .api_key_rejected
            .with_label_values(&[self.client.key_fingerprint()])
            .get()
    }
}

// --- The happy path --------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn all_three_calls_parse_the_simulators_answers() {
    let r = rig("").await;
    let me = r.client.me().await.unwrap();
    assert_eq!(me.key, "m1");
    assert_eq!(me.org_key.as_deref(), Some("o"));
    let org = r.client.organization().await.unwrap();
    assert_eq!(
        (org.key.as_str(), org.name.as_deref()),
        ("o", Some("Org O"))
    );
    let fetched = r.client.org_users("o").await.unwrap();
    let l = &fetched.listing;
    assert!(l.complete);
    assert_eq!(l.members.len(), 3);
    assert_eq!(l.members[0].last_seen_ms, Some(1_699_999_999_123));
    assert_eq!(l.members[0].is_org_admin, Some(true));
    assert_eq!(l.members[2].display_name, None);
    assert_eq!(r.requests("2xx"), 1);
    assert_eq!(r.sim.stats().total(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_large_generated_organization_round_trips() {
    let toml = r#"
        [settings]
        start_time_ms = 1700000000000
        [[organizations]]
        key = "big"
        api_keys = ["k"]
        generate = { count = 20000, seed = 3 }
    "#;
    let sim = Simulator::start(
        Scenario::from_toml_str(toml).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let client = StreakClient::new(
        ClientConfig::with_base_url(&sim.base_url()).unwrap(),
        ApiKey::new("k".into()).unwrap(),
        metrics,
    )
    .unwrap();
    let fetched = client.org_users("big").await.unwrap();
    let expected: Vec<streak_connector::membership::Member> =
        streak_connector::simulator::generate_members_at(20_000, 3, 1_700_000_000_000)
            .iter()
            .map(Into::into)
            .collect();
    assert_eq!(fetched.listing.members, expected);
    assert_eq!(fetched.stats.drifted_fields, 0);
}

// --- Transient faults: retried ---------------------------------------------------------

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

// --- Key rejected and wrong organization: not retried ------------------------------------

#[tokio::test(start_paused = true)]
async fn unauthorized_from_the_nth_request_on() {
    let r = rig(r#"[[faults]]
        kind = "http_error"
        org = "o"
        from_request = 3
        status = 401"#)
    .await;
    r.client.me().await.unwrap();
    r.client.org_users("o").await.unwrap();
    assert_eq!(r.key_rejected(), 0);
    let err = r.client.org_users("o").await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert!(err.is_key_rejected());
    assert!(err.to_string().contains("Invalid API key"), "{err}");
    assert_eq!(r.key_rejected(), 1);
    assert_eq!(r.errors(ORG_USERS, "unauthorized"), 1);
    assert_eq!(r.retries("rate_limited") + r.retries("server_error"), 0);
    // Not retried: one request for the failing call.
    assert_eq!(r.listing_requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_personal_key_trap_and_revocation() {
    let r = rig_with("", "key-o2", |_| {}).await;
    r.client.org_users("o").await.unwrap();
    r.sim
        .apply("o", Change::Leave { key: "m2".into() })
        .unwrap();
    let err = r.client.org_users("o").await.unwrap_err();
    match &err {
        ApiError::Unauthorized { detail, .. } => {
            assert!(detail.as_deref().unwrap().contains("no longer a member"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.key_rejected(), 1);

    let r = rig("").await;
    r.sim
        .apply(
            "o",
            Change::RevokeKey {
                api_key: "key-o".into(),
            },
        )
        .unwrap();
    assert!(matches!(
        r.client.me().await,
        Err(ApiError::Unauthorized { .. })
    ));
    assert_eq!(r.key_rejected(), 1);
    r.sim
        .apply(
            "o",
            Change::RestoreKey {
                api_key: "key-o".into(),
            },
        )
        .unwrap();
    r.client.me().await.unwrap();
    assert_eq!(r.key_rejected(), 0, "accepted again");
}

#[tokio::test(start_paused = true)]
async fn forbidden_gone_not_found_and_bad_request_are_typed_and_not_retried() {
    let r = rig(r#"
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [1]
        status = 403
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [2]
        status = 410
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [3]
        status = 404
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [4]
        status = 400"#)
    .await;
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::Forbidden { .. })
    ));
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::Gone { .. })
    ));
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::NotFound { .. })
    ));
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::BadRequest { .. })
    ));
    for code in ["forbidden", "gone", "not_found", "bad_request"] {
        assert_eq!(r.errors(ORG_USERS, code), 1, "{code}");
    }
    assert_eq!(r.listing_requests(), 4);
    assert_eq!(r.key_rejected(), 1, "403 and 410 reject the key");
}

#[tokio::test(start_paused = true)]
async fn another_organization_is_refused() {
    let r = rig("").await;
    let err = r.client.org_users("p").await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    let err = r.client.org_users("nope").await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert_eq!(r.errors(ORG_USERS, "not_found"), 1);
}

// --- Bodies that are not the expected JSON ---------------------------------------------

async fn invalid_response(faults: &str) -> (Rig, ApiError) {
    let r = rig(faults).await;
    let err = r.client.org_users("o").await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
    assert_eq!(err.recovery(), Recovery::RetryNow);
    assert_eq!(r.errors(ORG_USERS, "invalid_response"), 1);
    assert_eq!(r.listing_requests(), 1, "not retried within the call");
    (r, err)
}

#[tokio::test(start_paused = true)]
async fn malformed_json_is_an_invalid_response() {
    let (_, err) = invalid_response(
        r#"[[faults]]
        kind = "malformed_json""#,
    )
    .await;
    let ApiError::InvalidResponse {
        status,
        content_type,
        snippet,
        ..
    } = err
    else {
        unreachable!()
    };
    assert_eq!(status, 200);
    assert!(content_type.unwrap().starts_with("application/json"));
    assert!(snippet.starts_with("[{\"key\""), "{snippet}");
}

#[tokio::test(start_paused = true)]
async fn truncated_json_is_an_invalid_response() {
    let (_, err) = invalid_response(
        r#"[[faults]]
        kind = "truncated_body""#,
    )
    .await;
    let ApiError::InvalidResponse { reason, .. } = err else {
        unreachable!()
    };
    assert!(reason.contains("truncated"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn an_html_page_with_200_is_an_invalid_response() {
    let (_, err) = invalid_response(
        r#"[[faults]]
        kind = "html_error"
        status = 200"#,
    )
    .await;
    let ApiError::InvalidResponse {
        content_type,
        snippet,
        ..
    } = err
    else {
        unreachable!()
    };
    assert!(content_type.unwrap().starts_with("text/html"));
    assert!(snippet.starts_with("<!DOCTYPE html>"));
    assert!(snippet.chars().count() <= 200);
}

#[tokio::test(start_paused = true)]
async fn an_object_instead_of_a_list_is_an_invalid_response() {
    invalid_response(
        r#"[[faults]]
        kind = "object_body""#,
    )
    .await;
}

// --- Odd entries: parsed leniently and counted ---------------------------------------------

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

// --- The lively scenario -----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_lively_scenario_survives_its_own_faults() {
    let sim = Simulator::start(Scenario::lively(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let metrics = Arc::new(Metrics::new());
    let client = StreakClient::new(
        ClientConfig::with_base_url(&sim.base_url()).unwrap(),
        ApiKey::new("sim-steady-key".into()).unwrap(),
        metrics.clone(),
    )
    .unwrap();
    let mut sizes = Vec::new();
    for _ in 0..20 {
        sizes.push(
            client
                .org_users("org-steady")
                .await
                .unwrap()
                .listing
                .members
                .len(),
        );
    }
    // 31 members, 32 while u-omar is in: the count-based loop keeps moving.
    assert!(sizes.contains(&31) && sizes.contains(&32), "{sizes:?}");
    let retries: u64 = ["rate_limited", "server_error"]
        .iter()
        .map(|r| count(&metrics.api_retries_total, &[ORG_USERS, r]))
        .sum();
    assert!(retries > 0, "the lively faults were retried");
    assert_eq!(sim.requests(Endpoint::OrganizationUsers), 20 + retries);
}
