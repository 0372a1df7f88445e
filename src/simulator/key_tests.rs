//! Several keys per organization, each with its own owner, revoked one at a time
//! (issue 12.5): through the scenario file, the timeline and the control API, over
//! HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::world::SimApiKey;
use super::{Change, ManualClock, RunningSimulator, Scenario, SimError, Simulator};

const START_MS: i64 = 1_700_000_000_000;

const POOLED: &str = r#"
[settings]
start_time_ms = 1700000000000

[[organizations]]
key = "org-a"
api_keys = [
  { key = "key-alice", owner = "u-alice" },
  { key = "key-bob", owner = "u-bob" },
  { key = "key-carol", owner = "u-carol" },
]

[[organizations.members]]
key = "u-alice"
email = "alice@a.example.com"
isOrgAdmin = true

[[organizations.members]]
key = "u-bob"
email = "bob@a.example.com"
isOrgAdmin = true

[[organizations.members]]
key = "u-carol"
email = "carol@a.example.com"
isOrgAdmin = true

[[organizations]]
key = "org-b"
api_keys = ["key-b"]
members = [{ key = "u-zed" }]

[[timeline.changes]]
at = "10s"
org = "org-a"
demote_owner = "key-carol"

[[timeline.changes]]
at = "20s"
org = "org-a"
owner_leaves = "key-bob"

[[timeline.changes]]
at = "30s"
org = "org-a"
revoke_key = "key-alice"
"#;

const PATHS: [&str; 3] = [
    "/users/me",
    "/users/me/organization",
    "/organizations/org-a/users",
];

async fn start(toml: &str, clock: Arc<ManualClock>) -> RunningSimulator {
    let scenario = Scenario::from_toml_str(toml).expect("valid scenario");
    Simulator::new(scenario)
        .with_clock(clock)
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve")
}

async fn get(sim: &RunningSimulator, path: &str, key: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .basic_auth(key, Some(""))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn statuses(sim: &RunningSimulator, key: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for p in PATHS {
        out.push(get(sim, p, key).await.0);
    }
    out
}

async fn listed(sim: &RunningSimulator, key: &str) -> Vec<(String, Value)> {
    let (status, body) = get(sim, "/organizations/org-a/users", key).await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["key"].as_str().unwrap_or("").to_owned(),
                m["isOrgAdmin"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_key_answers_users_me_with_its_own_owner() {
    let sim = start(POOLED, Arc::new(ManualClock::new(START_MS))).await;
    for (key, owner) in [
        ("key-alice", "u-alice"),
        ("key-bob", "u-bob"),
        ("key-carol", "u-carol"),
    ] {
        let (status, me) = get(&sim, "/users/me", key).await;
        assert_eq!(status, 200);
        assert_eq!(me["key"], owner);
        assert_eq!(me["email"], format!("{}@a.example.com", &owner[2..]));
        assert_eq!(me["orgKey"], "org-a");
        let (_, org) = get(&sim, "/users/me/organization", key).await;
        assert_eq!(org["key"], "org-a");
    }
    let keys = sim.api_keys("org-a").expect("keys");
    assert_eq!(
        keys.iter()
            .map(|k| (k.api_key.as_str(), k.owner.as_str()))
            .collect::<Vec<_>>(),
        [
            ("key-alice", "u-alice"),
            ("key-bob", "u-bob"),
            ("key-carol", "u-carol")
        ]
    );
    assert!(keys.iter().all(|k| !k.revoked && k.owner_listed));
}

#[tokio::test]
async fn a_timeline_demotes_an_owner_removes_one_and_revokes_one_key_at_a_time() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let sim = start(POOLED, clock.clone()).await;

    clock.advance(Duration::from_secs(10));
    let admins = listed(&sim, "key-alice").await;
    assert!(
        admins.contains(&("u-carol".into(), Value::Bool(false))),
        "{admins:?}"
    );
    assert_eq!(
        get(&sim, "/users/me", "key-carol").await.1["isOrgAdmin"],
        false
    );

    // Bob leaves the listing, but his key keeps working: the owner watch's window.
    clock.advance(Duration::from_secs(10));
    let members: Vec<String> = listed(&sim, "key-alice")
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(members, ["u-alice", "u-carol"]);
    assert_eq!(statuses(&sim, "key-bob").await, [200, 200, 200]);
    let (_, me) = get(&sim, "/users/me", "key-bob").await;
    assert_eq!(me["key"], "u-bob", "users/me still names the owner");
    let bob = |keys: Vec<SimApiKey>| keys.into_iter().find(|k| k.api_key == "key-bob");
    assert_eq!(
        bob(sim.api_keys("org-a").expect("keys")).map(|k| k.owner_listed),
        Some(false)
    );

    // Alice's key is revoked: 401 everywhere for it, the others go on.
    clock.advance(Duration::from_secs(10));
    assert_eq!(statuses(&sim, "key-alice").await, [401, 401, 401]);
    assert_eq!(statuses(&sim, "key-bob").await, [200, 200, 200]);
    assert_eq!(statuses(&sim, "key-carol").await, [200, 200, 200]);
    assert_eq!(get(&sim, "/users/me", "key-b").await.0, 200);
}

#[tokio::test]
async fn the_control_api_revokes_one_key_at_a_time() {
    let sim = start(POOLED, Arc::new(ManualClock::new(START_MS))).await;
    sim.revoke_key("key-bob").expect("revoke");
    assert_eq!(statuses(&sim, "key-bob").await, [401, 401, 401]);
    assert_eq!(statuses(&sim, "key-alice").await, [200, 200, 200]);
    let (_, body) = get(&sim, "/users/me", "key-bob").await;
    assert_eq!(body["error"], "This API key has been revoked");
    sim.restore_key("key-bob").expect("restore");
    assert_eq!(statuses(&sim, "key-bob").await, [200, 200, 200]);

    sim.demote_owner("key-alice").expect("demote");
    assert_eq!(
        get(&sim, "/users/me", "key-alice").await.1["isOrgAdmin"],
        false
    );

    sim.owner_leaves("key-carol").expect("owner leaves");
    assert_eq!(statuses(&sim, "key-carol").await, [200, 200, 200]);
    assert!(sim
        .members("org-a")
        .expect("members")
        .iter()
        .all(|m| m.key != "u-carol"));
    // Leaving twice is a mistake the caller hears about.
    assert!(matches!(
        sim.owner_leaves("key-carol"),
        Err(SimError::UnknownMember { .. })
    ));
    // Carol rejoins, then leaves for good: now her key dies with her membership.
    sim.apply("org-a", Change::Join(super::MemberSpec::new("u-carol")))
        .expect("rejoin");
    sim.apply(
        "org-a",
        Change::Leave {
            key: "u-carol".into(),
        },
    )
    .expect("leave");
    assert_eq!(statuses(&sim, "key-carol").await, [401, 401, 401]);

    let err = sim.revoke_key("no-such-key").expect_err("unknown key");
    assert!(matches!(err, SimError::NoSuchApiKey));
    assert!(
        !err.to_string().contains("no-such-key"),
        "the key is not echoed"
    );
    let stats = sim.stats();
    assert!(stats.changes_applied() >= 5, "{stats:?}");
}

#[test]
fn key_actions_must_name_a_key_of_the_changes_organization() {
    let bad = POOLED.replace("owner_leaves = \"key-bob\"", "owner_leaves = \"key-b\"");
    let Err(SimError::Invalid { problems }) = Scenario::from_toml_str(&bad) else {
        panic!("a key of org-b in an org-a change is refused");
    };
    assert!(
        problems.iter().any(|p| p.contains("not one of `org-a`'s")),
        "{problems:?}"
    );
    let unknown = POOLED.replace("demote_owner = \"key-carol\"", "demote_owner = \"key-x\"");
    let Err(SimError::Invalid { problems }) = Scenario::from_toml_str(&unknown) else {
        panic!("an unknown key is refused");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("not one of the scenario's")),
        "{problems:?}"
    );
    let two = POOLED.replace(
        "demote_owner = \"key-carol\"",
        "demote_owner = \"key-carol\"\nrevoke_key = \"key-carol\"",
    );
    assert!(
        Scenario::from_toml_str(&two).is_err(),
        "one action per change"
    );
}

#[test]
fn the_lively_scenario_pools_two_keys_for_one_organization() {
    let orgs = Scenario::lively().organizations();
    let lively = orgs
        .iter()
        .find(|o| o.key == "org-lively")
        .expect("org-lively");
    assert_eq!(lively.api_keys, ["sim-lively-key", "sim-lively-carol"]);
}
