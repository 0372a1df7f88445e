//! The Streak API simulator from the outside: scenario parsing and validation
//! (`scenario`), the endpoints and Basic auth (`endpoints`), changes and the timeline by
//! request count and by elapsed time (`timeline`), deterministic member generation
//! (`generation`) and the `simulate` command (`command`). Faults are in
//! `simulator_faults.rs`. Every server listens on port 0. The shared scenarios and
//! request helpers are here.

mod command;
mod endpoints;
mod generation;
mod scenario;
mod timeline;

use serde_json::Value;
use streak_connector::simulator::{RunningSimulator, Scenario, SimError, Simulator};

const START_MS: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;

const TWO_ORGS: &str = r#"
[settings]
start_time_ms = 1700000000000

[[organizations]]
key = "org-a"
name = "Org A"
creation_timestamp = 1600000000000
api_keys = [{ key = "key-a", owner = "u-1" }, { key = "key-a2", owner = "u-2" }]

[[organizations.members]]
key = "u-1"
email = "one@a.example.com"
displayName = "One"
firstName = "O"
lastName = "Ne"
image = "https://img.example.com/1"
isOrgAdmin = true
lastSeenTimestamp = "now-1d"
creationTimestamp = 1600000000000

[[organizations.members]]
key = "u-2"
email = "two@a.example.com"
isOrgAdmin = false

[[organizations]]
key = "org-b"
api_keys = ["key-b"]
generate = { count = 3, seed = 9 }
"#;

async fn start(scenario: Scenario) -> RunningSimulator {
    Simulator::start(scenario, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn start_toml(toml: &str) -> RunningSimulator {
    start(Scenario::from_toml_str(toml).unwrap()).await
}

async fn get(sim: &RunningSimulator, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", sim.base_url()));
    if let Some(key) = key {
        req = req.basic_auth(key, Some(""));
    }
    req.send().await.unwrap()
}

async fn json(sim: &RunningSimulator, path: &str, key: &str) -> (u16, Value) {
    let r = get(sim, path, Some(key)).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn listing_keys(sim: &RunningSimulator, org: &str, key: &str) -> Vec<String> {
    let (status, body) = json(sim, &format!("/organizations/{org}/users"), key).await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_owned())
        .collect()
}

fn problems(err: SimError) -> Vec<String> {
    match err {
        SimError::Invalid { problems } => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}
