//! Every fault kind of the simulator produces the HTTP response it documents, hits
//! exactly the requests it targets, and is counted. Plain reqwest on port 0.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use streak_connector::simulator::{RunningSimulator, Scenario, Simulator};

const BASE: &str = r#"
[settings]
start_time_ms = 1700000000000

[[organizations]]
key = "o"
api_keys = [{ key = "k", owner = "m1" }]
members = [
  { key = "m1", email = "m1@x.example.com", displayName = "Em One", isOrgAdmin = true, lastSeenTimestamp = 1699999999123, creationTimestamp = 1600000000456 },
  { key = "m2", email = "m2@x.example.com", displayName = "Em Two", isOrgAdmin = false, lastSeenTimestamp = 1699000000000, creationTimestamp = 1650000000000 },
  { key = "m3", email = "m3@x.example.com", isOrgAdmin = false },
]

[[organizations]]
key = "other"
api_keys = ["k2"]
members = [{ key = "x" }]
"#;

const LIST: &str = "/organizations/o/users";

async fn sim_with(faults: &str) -> RunningSimulator {
    let scenario = Scenario::from_toml_str(&format!("{BASE}\n{faults}")).unwrap();
    Simulator::start(scenario, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn get_as(sim: &RunningSimulator, path: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .basic_auth(key, Some(""))
        .send()
        .await
        .unwrap()
}

async fn get(sim: &RunningSimulator, path: &str) -> reqwest::Response {
    get_as(sim, path, "k").await
}

async fn body_of(sim: &RunningSimulator, path: &str) -> (u16, String, Vec<u8>) {
    let r = get(sim, path).await;
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn listing(sim: &RunningSimulator) -> Value {
    let r = get(sim, LIST).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The listing as the simulator serves it without faults.
fn clean() -> Value {
    json!([
        {"key":"m1","email":"m1@x.example.com","displayName":"Em One","isOrgAdmin":true,
         "orgKey":"o","lastSeenTimestamp":1_699_999_999_123_i64,"creationTimestamp":1_600_000_000_456_i64},
        {"key":"m2","email":"m2@x.example.com","displayName":"Em Two","isOrgAdmin":false,
         "orgKey":"o","lastSeenTimestamp":1_699_000_000_000_i64,"creationTimestamp":1_650_000_000_000_i64},
        {"key":"m3","email":"m3@x.example.com","isOrgAdmin":false,"orgKey":"o"}
    ])
}

#[tokio::test]
async fn rate_limited_with_retry_after_in_seconds() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [1]
        status = 429
        retry_after = 7"#,
    )
    .await;
    let r = get(&sim, LIST).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("Too many requests"));
    assert_eq!(listing(&sim).await, clean());
    assert_eq!(sim.stats().faults_injected("http_error"), 1);
    assert_eq!(sim.stats().responses(429), 1);
}

#[tokio::test]
async fn rate_limited_with_retry_after_as_an_http_date() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "http_error"
        status = 429
        retry_after = 30
        retry_after_format = "http_date""#,
    )
    .await;
    let r = get(&sim, LIST).await;
    assert_eq!(r.status(), 429);
    let date = httpdate::parse_http_date(r.headers()["retry-after"].to_str().unwrap()).unwrap();
    let ahead = date.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        (Duration::from_secs(25)..=Duration::from_secs(31)).contains(&ahead),
        "{ahead:?}"
    );
}

#[tokio::test]
async fn rate_limited_without_retry_after_and_server_errors() {
    let sim = sim_with(
        r#"
        [[faults]]
        kind = "http_error"
        requests = [1]
        status = 429
        [[faults]]
        kind = "http_error"
        requests = [2]
        status = 500
        [[faults]]
        kind = "http_error"
        requests = [3]
        status = 503
        message = "Back soon""#,
    )
    .await;
    let r = get(&sim, LIST).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    let r = get(&sim, "/users/me").await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"error": "Internal Server Error (simulated)"}));
    let r = get(&sim, "/users/me/organization").await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Back soon"})
    );
    assert_eq!(get(&sim, LIST).await.status(), 200);
    assert_eq!(sim.stats().faults_injected("http_error"), 3);
}

#[tokio::test]
async fn unauthorized_from_the_nth_request_of_an_organization_on() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "http_error"
        org = "o"
        from_request = 3
        status = 401"#,
    )
    .await;
    assert_eq!(get(&sim, "/users/me").await.status(), 200);
    assert_eq!(get(&sim, LIST).await.status(), 200);
    for path in [LIST, "/users/me", "/users/me/organization", LIST] {
        let r = get(&sim, path).await;
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().contains_key("www-authenticate"));
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "Invalid API key");
    }
    // Another organization's key is untouched.
    assert_eq!(get_as(&sim, "/users/me", "k2").await.status(), 200);
    assert_eq!(sim.stats().faults_injected("http_error"), 4);
}

#[tokio::test(start_paused = true)]
async fn delay_holds_the_response() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "delay"
        endpoint = "organization_users"
        requests = [1]
        delay = "45s""#,
    )
    .await;
    let t = tokio::time::Instant::now();
    assert_eq!(listing(&sim).await, clean());
    assert!(t.elapsed() >= Duration::from_secs(45), "{:?}", t.elapsed());
    let t = tokio::time::Instant::now();
    listing(&sim).await;
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(sim.stats().faults_injected("delay"), 1);
}

#[tokio::test(start_paused = true)]
async fn delay_combines_with_a_status_fault() {
    let sim = sim_with(
        r#"
        [[faults]]
        kind = "delay"
        delay = "10s"
        [[faults]]
        kind = "http_error"
        status = 503"#,
    )
    .await;
    let t = tokio::time::Instant::now();
    assert_eq!(get(&sim, LIST).await.status(), 503);
    assert!(t.elapsed() >= Duration::from_secs(10));
}

#[tokio::test]
async fn malformed_json_on_any_endpoint() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "malformed_json""#,
    )
    .await;
    for path in [LIST, "/users/me", "/users/me/organization"] {
        let (status, ct, body) = body_of(&sim, path).await;
        assert_eq!(status, 200);
        assert!(ct.starts_with("application/json"));
        assert!(serde_json::from_slice::<Value>(&body).is_err(), "{path}");
    }
    assert_eq!(sim.stats().faults_injected("malformed_json"), 3);
}

#[tokio::test]
async fn truncated_body_is_cut_json_with_a_consistent_length() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "truncated_body"
        requests = [1]
        fraction = 0.6"#,
    )
    .await;
    let (status, _, cut) = body_of(&sim, LIST).await;
    let (_, _, full) = body_of(&sim, LIST).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&full).unwrap(), clean());
    assert_eq!(cut.len(), full.len() * 6 / 10);
    assert_eq!(cut[..], full[..cut.len()]);
    assert!(serde_json::from_slice::<Value>(&cut).is_err());
}

#[tokio::test]
async fn truncated_body_can_break_the_connection_mid_body() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "truncated_body"
        requests = [1]
        abort_connection = true"#,
    )
    .await;
    let r = get(&sim, LIST).await;
    assert_eq!(r.status(), 200);
    let full = serde_json::to_vec(&clean()).unwrap();
    assert_eq!(r.content_length(), Some(full.len() as u64));
    assert!(r.bytes().await.is_err(), "the body must not complete");
    assert_eq!(listing(&sim).await, clean());
    assert_eq!(sim.stats().faults_injected("truncated_body"), 1);
}

#[tokio::test]
async fn html_error_page() {
    let sim = sim_with(
        r#"
        [[faults]]
        kind = "html_error"
        requests = [1]
        [[faults]]
        kind = "html_error"
        requests = [2]
        status = 200"#,
    )
    .await;
    let (status, ct, body) = body_of(&sim, LIST).await;
    assert_eq!(status, 502);
    assert!(ct.starts_with("text/html"), "{ct}");
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("<!DOCTYPE html>") && text.contains("502"),
        "{text}"
    );
    // A 200 with a login-page-like HTML body.
    let (status, ct, _) = body_of(&sim, LIST).await;
    assert_eq!((status, ct.starts_with("text/html")), (200, true));
    assert_eq!(sim.stats().faults_injected("html_error"), 2);
}

#[tokio::test]
async fn empty_listing_only_touches_the_listing() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "empty_listing""#,
    )
    .await;
    assert_eq!(listing(&sim).await, json!([]));
    let me: Value = get(&sim, "/users/me").await.json().await.unwrap();
    assert_eq!(me["key"], "m1");
    assert_eq!(sim.stats().faults_injected("empty_listing"), 1);
}

#[tokio::test]
async fn duplicate_entries_repeat_the_first_ones() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "duplicate_entries"
        count = 2"#,
    )
    .await;
    let list = listing(&sim).await;
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["m1", "m2", "m3", "m1", "m2"]);
    assert_eq!(list[3], clean()[0]);
}

#[tokio::test]
async fn timestamps_in_seconds() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "timestamps_in_seconds""#,
    )
    .await;
    let list = listing(&sim).await;
    assert_eq!(list[0]["lastSeenTimestamp"], 1_699_999_999);
    assert_eq!(list[0]["creationTimestamp"], 1_600_000_000);
    assert_eq!(list[1]["lastSeenTimestamp"], 1_699_000_000);
    assert!(list[2].get("lastSeenTimestamp").is_none());
    let me: Value = get(&sim, "/users/me").await.json().await.unwrap();
    assert_eq!(me["lastSeenTimestamp"], 1_699_999_999);
}

#[tokio::test]
async fn wrong_field_types_in_the_first_entries() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "wrong_field_types"
        endpoint = "organization_users""#,
    )
    .await;
    let list = listing(&sim).await;
    let m = &list[0];
    assert_eq!(m["key"], "m1");
    assert_eq!(m["email"], 42);
    assert_eq!(m["displayName"], json!({"text": "Em One"}));
    assert_eq!(m["isOrgAdmin"], "true");
    assert_eq!(m["lastSeenTimestamp"], "1699999999123");
    assert_eq!(m["creationTimestamp"], json!([1_600_000_000_456_i64]));
    assert!(m["firstName"].is_number() && m["lastName"].is_boolean() && m["image"].is_f64());
    assert_eq!(list[1], clean()[1]);
}

#[tokio::test]
async fn entries_without_a_usable_key() {
    let sim = sim_with(
        r#"
        [[faults]]
        kind = "entry_without_key"
        requests = [1]
        [[faults]]
        kind = "entry_without_key"
        requests = [2]
        key_value = "null"
        count = 3
        [[faults]]
        kind = "entry_without_key"
        requests = [3]
        key_value = "empty"
        [[faults]]
        kind = "entry_without_key"
        requests = [4]
        key_value = "number""#,
    )
    .await;
    let list = listing(&sim).await;
    assert!(list[0].get("key").is_none());
    assert_eq!(list[0]["email"], "m1@x.example.com");
    assert_eq!(list[1]["key"], "m2");
    let list = listing(&sim).await;
    assert!(list.as_array().unwrap().iter().all(|m| m["key"].is_null()));
    assert_eq!(listing(&sim).await[0]["key"], "");
    assert_eq!(listing(&sim).await[0]["key"], 12345);
    assert_eq!(listing(&sim).await, clean());
    assert_eq!(sim.stats().faults_injected("entry_without_key"), 4);
}

#[tokio::test]
async fn object_instead_of_array() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "object_body""#,
    )
    .await;
    let body = listing(&sim).await;
    assert!(body.is_object());
    assert_eq!(body["results"], clean());
}

#[tokio::test]
async fn unknown_null_and_absurd_fields() {
    let sim = sim_with(
        r#"
        [[faults]]
        kind = "unknown_fields"
        requests = [1]
        [[faults]]
        kind = "null_fields"
        requests = [2]
        count = 1
        [[faults]]
        kind = "absurd_timestamps"
        requests = [3]"#,
    )
    .await;
    let list = listing(&sim).await;
    assert_eq!(list[2]["timezone"], "Europe/Paris");
    assert!(list[2]["simulatorExtra"].is_object());
    assert_eq!(list[2]["email"], "m3@x.example.com");

    let list = listing(&sim).await;
    for f in [
        "email",
        "displayName",
        "firstName",
        "lastName",
        "image",
        "isOrgAdmin",
        "lastSeenTimestamp",
        "creationTimestamp",
    ] {
        assert!(list[0][f].is_null() && list[0].get(f).is_some(), "{f}");
    }
    assert_eq!(list[0]["key"], "m1");
    assert_eq!(list[1], clean()[1]);

    let list = listing(&sim).await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["lastSeenTimestamp"] == -1000));
    assert_eq!(list[0]["creationTimestamp"], 40_000_000_000_000_i64);
}

#[tokio::test]
async fn faults_hit_only_their_organization_endpoint_and_request_numbers() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "http_error"
        org = "o"
        endpoint = "organization_users"
        requests = [2, 3]
        status = 503"#,
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        // users/me and the other organization do not advance o's listing count.
        seen.push(get(&sim, "/users/me").await.status().as_u16());
        seen.push(
            get_as(&sim, "/organizations/other/users", "k2")
                .await
                .status()
                .as_u16(),
        );
        seen.push(get(&sim, LIST).await.status().as_u16());
    }
    seen.push(get(&sim, LIST).await.status().as_u16());
    seen.push(get(&sim, LIST).await.status().as_u16());
    assert_eq!(seen, [200, 200, 200, 200, 200, 503, 503, 200]);
}

#[tokio::test]
async fn a_status_fault_answers_before_the_key_is_checked() {
    let sim = sim_with(
        r#"[[faults]]
        kind = "http_error"
        endpoint = "users_me"
        status = 503"#,
    )
    .await;
    assert_eq!(get_as(&sim, "/users/me", "wrong").await.status(), 503);
    // Body faults apply only to answers that passed auth.
    let sim = sim_with(
        r#"[[faults]]
        kind = "malformed_json""#,
    )
    .await;
    let r = get_as(&sim, LIST, "wrong").await;
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.is_ok());
    assert_eq!(sim.stats().faults_injected("malformed_json"), 0);
}

#[tokio::test]
async fn probability_faults_are_deterministic_per_seed() {
    let faults = r#"[[faults]]
        kind = "http_error"
        org = "o"
        endpoint = "organization_users"
        status = 503
        probability = 0.3
        seed = 11"#;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = sim_with(faults).await;
        let mut statuses = Vec::new();
        for _ in 0..60 {
            statuses.push(get(&sim, LIST).await.status().as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    let failed = runs[0].iter().filter(|&&s| s == 503).count();
    assert!((6..=30).contains(&failed), "{failed} of 60");

    let other_seed = sim_with(&faults.replace("seed = 11", "seed = 12")).await;
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(get(&other_seed, LIST).await.status().as_u16());
    }
    assert_ne!(statuses, runs[0]);
}

#[tokio::test]
async fn transforms_compose_and_a_truncation_cuts_the_result() {
    let sim = sim_with(
        r#"
        [[faults]]
        kind = "duplicate_entries"
        requests = [1, 2]
        [[faults]]
        kind = "timestamps_in_seconds"
        requests = [1, 2]
        [[faults]]
        kind = "truncated_body"
        requests = [2]"#,
    )
    .await;
    let list = listing(&sim).await;
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert_eq!(list[3]["lastSeenTimestamp"], 1_699_999_999);
    let expected = serde_json::to_vec(&list).unwrap();
    let (_, _, cut) = body_of(&sim, LIST).await;
    assert_eq!(cut[..], expected[..expected.len() / 2]);
}
