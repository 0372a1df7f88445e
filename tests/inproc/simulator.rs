//! The Streak API simulator from the outside: scenario parsing and validation, Basic
//! auth, the timeline (by request count and by elapsed time) and deterministic member
//! generation. Faults are in `simulator_faults.rs`. Every server listens on port 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use streak_connector::simulator::{
    generate_members_at, Change, Endpoint, ManualClock, MemberSpec, ProfilePatch, RunningSimulator,
    Scenario, SimError, Simulator, Stamp, GO_QUIET_FOR,
};

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

// --- Scenario files ------------------------------------------------------------------

#[test]
fn example_files_and_the_lively_scenario_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let reference = Scenario::from_path(format!("{dir}/scenario.toml")).unwrap();
    let orgs = reference.organizations();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0].key, "org-acme");
    assert_eq!(orgs[0].api_keys, ["sim-acme-admin", "sim-acme-bob"]);
    assert_eq!(orgs[0].initial_members, 3 + 50);

    let from_json = Scenario::from_path(format!("{dir}/scenario.json")).unwrap();
    assert_eq!(from_json.name(), Some("reference-json"));
    assert_eq!(from_json.organizations()[0].initial_members, 11);

    let lively = Scenario::from_path(format!("{dir}/scenario-lively.toml")).unwrap();
    assert_eq!(lively.organizations(), Scenario::lively().organizations());
    assert_eq!(
        Scenario::lively()
            .organizations()
            .iter()
            .map(|o| o.api_keys[0].as_str())
            .collect::<Vec<_>>(),
        ["sim-lively-key", "sim-steady-key"]
    );
}

#[test]
fn toml_and_json_describe_the_same_scenario() {
    let toml = r#"
        [[organizations]]
        key = "o"
        api_keys = [{ key = "k", owner = "m" }]
        members = [{ key = "m", isOrgAdmin = true, lastSeenTimestamp = "now-2d" }]
        [[faults]]
        kind = "http_error"
        status = 503
        requests = [1, 3]
    "#;
    let json = r#"{
        "organizations": [{"key": "o", "api_keys": [{"key": "k", "owner": "m"}],
                           "members": [{"key": "m", "isOrgAdmin": true, "lastSeenTimestamp": "now-2d"}]}],
        "faults": [{"kind": "http_error", "status": 503, "requests": [1, 3]}]
    }"#;
    let a = Scenario::from_toml_str(toml).unwrap();
    let b = Scenario::from_json_str(json).unwrap();
    assert_eq!(a.organizations(), b.organizations());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn syntax_errors_and_unknown_fields_are_parse_errors() {
    let err = Scenario::from_toml_str("[[organizations]]\nkey = ").unwrap_err();
    assert!(
        matches!(err, SimError::Parse(ref m) if m.starts_with("TOML")),
        "{err}"
    );

    let err = Scenario::from_toml_str(
        "[[organizations]]\nkey = \"o\"\napi_keys = [\"k\"]\nmembrs = []\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("membrs"), "{err}");

    let err = Scenario::from_json_str("{\"organizations\": 3}").unwrap_err();
    assert!(
        matches!(err, SimError::Parse(ref m) if m.starts_with("JSON")),
        "{err}"
    );

    let err = Scenario::from_path("/nonexistent/scenario.toml").unwrap_err();
    assert!(matches!(err, SimError::Read { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/scenario.toml"));
}

#[test]
fn validation_reports_every_problem_at_once() {
    let bad = r#"
        [settings]
        foreign_org_status = 500

        [[organizations]]
        key = "o"
        api_keys = [{ key = "k", owner = "ghost" }, "k"]
        members = [{ key = "m" }, { key = "m" }]

        [[organizations]]
        key = "empty"

        [timeline]
        repeat_every = "10s"

        [[timeline.changes]]
        at = "20s"
        org = "o"
        leave = "m"

        [[timeline.changes]]
        at = "1s"
        org = "nowhere"
        leave = "m"

        [[timeline.changes]]
        after_requests = 1
        org = "o"
        leave = "typo"

        [[timeline.changes]]
        at = "1s"
        org = "o"
        leave = "m"
        touch = "m"

        [[timeline.changes]]
        org = "o"
        leave = "m"

        [[faults]]
        kind = "teapot"

        [[faults]]
        kind = "empty_listing"
        endpoint = "users_me"

        [[faults]]
        kind = "http_error"
        status = 200

        [[faults]]
        kind = "delay"
        delay = "2s"
        status = 500

        [[faults]]
        kind = "http_error"
        status = 503
        probability = 1.5
    "#;
    let p = problems(Scenario::from_toml_str(bad).unwrap_err());
    let expect = [
        "foreign_org_status: 500",
        "owner `ghost` is not a member",
        "the API key is used twice",
        "member key `m` is listed twice",
        "organizations[1] (empty).api_keys: at least one API key",
        "at = 20s is not before repeat_every = 10s",
        "org `nowhere` is not an organization",
        "member `typo` is never a member of `o`",
        "give exactly one action",
        "give exactly one of `at`",
        "unknown kind `teapot`",
        "does not apply to endpoint `users_me`",
        "status 200 is outside 400..=599",
        "`status` does not apply to this kind",
        "probability 1.5 is not between 0 and 1",
    ];
    for e in expect {
        assert!(p.iter().any(|x| x.contains(e)), "missing `{e}` in {p:#?}");
    }
    assert_eq!(p.len(), expect.len(), "{p:#?}");
}

// --- Endpoints and auth --------------------------------------------------------------

#[tokio::test]
async fn serves_the_three_endpoints_with_streak_field_names() {
    let sim = start_toml(TWO_ORGS).await;
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert!(sim.base_url().ends_with("/api/v1"));

    let (status, me) = json(&sim, "/users/me", "key-a").await;
    assert_eq!(status, 200);
    assert_eq!(me["key"], "u-1");
    assert_eq!(me["orgKey"], "org-a");
    assert_eq!(me["email"], "one@a.example.com");
    assert_eq!(me["lastSeenTimestamp"], START_MS - DAY_MS);

    let (_, me2) = json(&sim, "/users/me", "key-a2").await;
    assert_eq!(me2["key"], "u-2");

    let (status, org) = json(&sim, "/users/me/organization", "key-a").await;
    assert_eq!(status, 200);
    assert_eq!(
        org,
        serde_json::json!({"key": "org-a", "name": "Org A", "creationTimestamp": 1_600_000_000_000_i64})
    );

    let (status, list) = json(&sim, "/organizations/org-a/users", "key-a").await;
    assert_eq!(status, 200);
    assert_eq!(
        list[0],
        serde_json::json!({
            "key": "u-1", "email": "one@a.example.com", "displayName": "One",
            "firstName": "O", "lastName": "Ne", "image": "https://img.example.com/1",
            "isOrgAdmin": true, "orgKey": "org-a",
            "lastSeenTimestamp": START_MS - DAY_MS, "creationTimestamp": 1_600_000_000_000_i64
        })
    );
    assert_eq!(
        list[1],
        serde_json::json!({"key": "u-2", "email": "two@a.example.com", "isOrgAdmin": false, "orgKey": "org-a"})
    );

    // The generated organization: its first generated member owns the plain key.
    let keys = listing_keys(&sim, "org-b", "key-b").await;
    assert_eq!(keys.len(), 3);
    let (_, me_b) = json(&sim, "/users/me", "key-b").await;
    assert_eq!(me_b["key"], keys[0].as_str());

    let stats = sim.stats();
    assert_eq!(stats.requests(Endpoint::UsersMe), 3);
    assert_eq!(stats.requests(Endpoint::Organization), 1);
    assert_eq!(stats.requests(Endpoint::OrganizationUsers), 2);
    assert_eq!(stats.org_requests("org-a", Endpoint::UsersMe), 2);
    assert_eq!(stats.org_total("org-b"), 2);
    assert_eq!(stats.responses(200), 6);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn auth_is_checked_on_every_endpoint() {
    let sim = start_toml(TWO_ORGS).await;
    for path in [
        "/users/me",
        "/users/me/organization",
        "/organizations/org-a/users",
    ] {
        let r = get(&sim, path, None).await;
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Basic realm=\"Streak API\""
        );
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("Basic auth"));

        let (status, body) = json(&sim, path, "not-a-key").await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"], "Invalid API key");
    }
    // Bearer instead of Basic is no credential at all.
    let r = reqwest::Client::new()
        .get(format!("{}/users/me", sim.base_url()))
        .bearer_auth("key-a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A password is ignored, as Streak does.
    let r = reqwest::Client::new()
        .get(format!("{}/users/me", sim.base_url()))
        .basic_auth("key-a", Some("whatever"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    assert_eq!(sim.stats().responses(401), 7);
    // Requests without a known key count only for the organization in their path.
    assert_eq!(sim.stats().org_total("org-a"), 3);
}

#[tokio::test]
async fn another_organizations_listing_is_refused_and_unknown_ones_are_404() {
    let sim = start_toml(TWO_ORGS).await;
    let (status, body) = json(&sim, "/organizations/org-b/users", "key-a").await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("no access"));
    let (status, _) = json(&sim, "/organizations/org-zzz/users", "key-a").await;
    assert_eq!(status, 404);
    let (status, body) = json(&sim, "/no/such/path", "key-a").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("Not found")));

    let with_404 = TWO_ORGS.replace(
        "start_time_ms = 1700000000000",
        "start_time_ms = 1700000000000\nforeign_org_status = 404",
    );
    let sim = start_toml(&with_404).await;
    let (status, _) = json(&sim, "/organizations/org-b/users", "key-a").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_key_dies_when_its_owner_leaves_or_it_is_revoked() {
    let sim = start_toml(TWO_ORGS).await;
    sim.apply("org-a", Change::Leave { key: "u-2".into() })
        .unwrap();
    let (status, body) = json(&sim, "/users/me", "key-a2").await;
    assert_eq!(status, 401);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no longer a member"));
    // The other key of the organization still works and no longer lists u-2.
    assert_eq!(listing_keys(&sim, "org-a", "key-a").await, ["u-1"]);

    sim.apply(
        "org-a",
        Change::RevokeKey {
            api_key: "key-a".into(),
        },
    )
    .unwrap();
    let (status, body) = json(&sim, "/organizations/org-a/users", "key-a").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "This API key has been revoked");
    sim.apply(
        "org-a",
        Change::RestoreKey {
            api_key: "key-a".into(),
        },
    )
    .unwrap();
    assert_eq!(listing_keys(&sim, "org-a", "key-a").await, ["u-1"]);

    // A key is revoked only through its own organization.
    let err = sim
        .apply(
            "org-b",
            Change::RevokeKey {
                api_key: "key-a".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, SimError::UnknownApiKey { .. }));
    assert!(!err.to_string().contains("key-a"), "the key is not echoed");
}

// --- Changes and the timeline --------------------------------------------------------

#[tokio::test]
async fn changes_from_tests_apply_and_report_mistakes() {
    let sim = start_toml(TWO_ORGS).await;
    let mut carol = MemberSpec::new("u-3");
    carol.email = Some("three@a.example.com".into());
    carol.last_seen_timestamp = Some(Stamp::NOW);
    sim.apply("org-a", Change::Join(carol.clone())).unwrap();
    sim.apply(
        "org-a",
        Change::SetAdmin {
            key: "u-3".into(),
            admin: true,
        },
    )
    .unwrap();
    sim.apply(
        "org-a",
        Change::Profile {
            key: "u-1".into(),
            patch: ProfilePatch {
                display_name: Some("Uno".into()),
                ..ProfilePatch::default()
            },
        },
    )
    .unwrap();
    sim.apply(
        "org-a",
        Change::SetLastSeen {
            key: "u-2".into(),
            at: Stamp::ago(GO_QUIET_FOR),
        },
    )
    .unwrap();

    let (_, list) = json(&sim, "/organizations/org-a/users", "key-a").await;
    let by_key = |k: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(by_key("u-3")["isOrgAdmin"], true);
    assert_eq!(by_key("u-1")["displayName"], "Uno");
    assert_eq!(by_key("u-1")["email"], "one@a.example.com");
    let quiet = by_key("u-2")["lastSeenTimestamp"].as_i64().unwrap();
    assert!(quiet <= START_MS - 60 * DAY_MS + 60_000, "{quiet}");
    // Join order is listing order.
    assert_eq!(list.as_array().unwrap().last().unwrap()["key"], "u-3");

    assert!(matches!(
        sim.apply("org-a", Change::Join(carol)),
        Err(SimError::DuplicateMember { .. })
    ));
    assert!(matches!(
        sim.apply(
            "org-a",
            Change::Leave {
                key: "ghost".into()
            }
        ),
        Err(SimError::UnknownMember { .. })
    ));
    assert!(matches!(
        sim.apply("org-x", Change::Leave { key: "u-1".into() }),
        Err(SimError::UnknownOrganization(_))
    ));
    assert_eq!(sim.stats().changes_applied(), 4);
    assert_eq!(sim.members("org-a").unwrap().len(), 3);
}

const COUNTED: &str = r#"
[settings]
start_time_ms = 1700000000000

[[organizations]]
key = "o"
api_keys = [{ key = "k", owner = "boss" }]
members = [{ key = "boss", isOrgAdmin = true }, { key = "m", isOrgAdmin = false }]

[timeline]
repeat_every_requests = 4

[[timeline.changes]]
after_requests = 1
org = "o"
join = { key = "new", lastSeenTimestamp = "now" }

[[timeline.changes]]
after_requests = 2
org = "o"
set_admin = { key = "m", admin = true }

[[timeline.changes]]
after_requests = 3
org = "o"
leave = "new"

[[timeline.changes]]
after_requests = 3
org = "o"
set_admin = { key = "m", admin = false }
"#;

#[tokio::test]
async fn timeline_by_request_count_loops() {
    let sim = start_toml(COUNTED).await;
    let poll = || async {
        let (status, list) = json(&sim, "/organizations/o/users", "k").await;
        assert_eq!(status, 200);
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}{}",
                    m["key"].as_str().unwrap(),
                    if m["isOrgAdmin"] == true { "*" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(poll().await);
    }
    assert_eq!(
        seen,
        [
            "boss*,m",      // 1: nothing yet
            "boss*,m,new",  // 2: after 1 request, `new` joined
            "boss*,m*,new", // 3: after 2, m became admin
            "boss*,m",      // 4: after 3, new left and m lost admin
            "boss*,m",      // 5: quiet poll of the cycle
            "boss*,m,new",  // 6: after 5 = 1 + 4, the loop again
            "boss*,m*,new",
            "boss*,m",
            "boss*,m",
        ]
    );
    // Other endpoints do not move a count-based timeline.
    for _ in 0..3 {
        json(&sim, "/users/me", "k").await;
    }
    assert_eq!(poll().await, "boss*,m,new");
    // join x3 (requests 1, 5, 9), admin x2 (2, 6), the two changes at 3 x2 (3, 7).
    assert_eq!(sim.stats().changes_applied(), 9);
}

#[tokio::test]
async fn timeline_by_elapsed_time_follows_an_injected_clock() {
    let toml = r#"
        [[organizations]]
        key = "o"
        api_keys = [{ key = "k", owner = "boss" }]
        members = [{ key = "boss" }, { key = "c", lastSeenTimestamp = "now-1h" }]

        [timeline]
        repeat_every = "60s"

        [[timeline.changes]]
        at = "10s"
        org = "o"
        join = { key = "n", lastSeenTimestamp = "now", creationTimestamp = "now-1d" }

        [[timeline.changes]]
        at = "20s"
        org = "o"
        go_quiet = "c"

        [[timeline.changes]]
        at = "30s"
        org = "o"
        touch = "c"

        [[timeline.changes]]
        at = "40s"
        org = "o"
        leave = "n"
    "#;
    let clock = Arc::new(ManualClock::new(START_MS));
    let sim = Simulator::new(Scenario::from_toml_str(toml).unwrap())
        .with_clock(clock.clone())
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let state = |sim: &RunningSimulator| {
        sim.members("o")
            .unwrap()
            .into_iter()
            .map(|m| (m.key, m.last_seen_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        state(&sim),
        [
            ("boss".into(), None),
            ("c".into(), Some(START_MS - 3_600_000))
        ]
    );
    clock.advance(Duration::from_secs(9));
    assert_eq!(state(&sim).len(), 2);
    clock.advance(Duration::from_secs(1));
    // Relative stamps resolve at the scheduled time of the change.
    let joined = sim.members("o").unwrap().pop().unwrap();
    assert_eq!(joined.key, "n");
    assert_eq!(joined.last_seen_ms, Some(START_MS + 10_000));
    assert_eq!(joined.creation_ms, Some(START_MS + 10_000 - DAY_MS));

    clock.advance(Duration::from_secs(10));
    let (_, list) = json(&sim, "/organizations/o/users", "k").await;
    assert_eq!(
        list[1]["lastSeenTimestamp"],
        START_MS + 20_000 - 60 * DAY_MS
    );
    clock.advance(Duration::from_secs(10));
    let (_, list) = json(&sim, "/organizations/o/users", "k").await;
    assert_eq!(list[1]["lastSeenTimestamp"], START_MS + 30_000);
    clock.advance(Duration::from_secs(10));
    assert_eq!(state(&sim).len(), 2);

    // A jump over a whole period replays it in order: the loop's end state.
    clock.advance(Duration::from_secs(60));
    let s = state(&sim);
    assert_eq!(s.len(), 2);
    assert_eq!(s[1], ("c".into(), Some(START_MS + 90_000)));
    assert_eq!(sim.stats().changes_applied(), 8);
    // At 130 s, 10 s into the third cycle, `n` is back.
    clock.advance(Duration::from_secs(30));
    assert_eq!(state(&sim).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn timeline_by_elapsed_time_follows_paused_tokio_time() {
    let toml = r#"
        [[organizations]]
        key = "o"
        api_keys = ["k"]
        members = [{ key = "boss" }]
        [[timeline.changes]]
        at = "5m"
        org = "o"
        join = { key = "late" }
    "#;
    let sim = start_toml(toml).await;
    assert_eq!(listing_keys(&sim, "o", "k").await, ["boss"]);
    tokio::time::advance(Duration::from_secs(299)).await;
    assert_eq!(listing_keys(&sim, "o", "k").await, ["boss"]);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(listing_keys(&sim, "o", "k").await, ["boss", "late"]);
}

#[tokio::test]
async fn the_lively_scenario_keeps_changing() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let sim = Simulator::new(Scenario::lively())
        .with_clock(clock.clone())
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let lively = |sim: &RunningSimulator| sim.members("org-lively").unwrap();
    let start = lively(&sim);
    assert_eq!(start.len(), 25);
    let mut snapshots = vec![start.clone()];
    for _ in 0..12 {
        clock.advance(Duration::from_secs(5));
        snapshots.push(lively(&sim));
    }
    let changed = snapshots.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(changed, 10, "one change every 5 s but two quiet slots");
    let keys = |v: &[streak_connector::simulator::SimMember]| {
        let mut k: Vec<String> = v.iter().map(|m| m.key.clone()).collect();
        k.sort();
        k
    };
    // After a loop the same people are members again.
    assert_eq!(keys(&snapshots[12]), keys(&start));

    // org-steady moves with each listing request, with some injected 429/503.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let r = get(
            &sim,
            "/organizations/org-steady/users",
            Some("sim-steady-key"),
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    assert!(statuses.iter().filter(|&&s| s == 200).count() > 25);
    assert!(
        statuses.iter().any(|&s| s == 503 || s == 429),
        "{statuses:?}"
    );
    assert!(sim.stats().changes_applied() > 20);
}

// --- Generation ----------------------------------------------------------------------

#[test]
fn generation_is_deterministic_and_realistic() {
    let a = generate_members_at(1000, 7, START_MS);
    let b = generate_members_at(1000, 7, START_MS);
    assert_eq!(a, b);
    let c = generate_members_at(1000, 8, START_MS);
    assert!(a.iter().zip(&c).all(|(x, y)| x.key != y.key));
    // A prefix is stable as the count grows.
    assert_eq!(generate_members_at(10, 7, START_MS), a[..10]);

    let keys: std::collections::HashSet<_> = a.iter().map(|m| &m.key).collect();
    assert_eq!(keys.len(), 1000);
    assert!(a.iter().all(|m| (38..=46).contains(&m.key.len())));
    assert!(a.iter().all(|m| m.image.as_ref().unwrap().len() == 90));
    assert!(a.iter().all(|m| m.email.as_ref().unwrap().contains('@')));
    assert_eq!(a[0].is_org_admin, Some(true));
    let admins = a.iter().filter(|m| m.is_org_admin == Some(true)).count();
    assert!((20..=90).contains(&admins), "{admins} admins");
    let thirty_days_ago = START_MS - 30 * DAY_MS;
    let inactive = a
        .iter()
        .filter(|m| m.last_seen_ms.is_some_and(|t| t < thirty_days_ago))
        .count();
    assert!((150..=350).contains(&inactive), "{inactive} inactive");
    let never_seen = a.iter().filter(|m| m.last_seen_ms.is_none()).count();
    assert!(
        (5..=40).contains(&never_seen),
        "{never_seen} without lastSeen"
    );
    assert!(a
        .iter()
        .all(|m| m.creation_ms.unwrap() <= m.last_seen_ms.unwrap_or(i64::MAX)));
}

#[test]
fn a_hundred_thousand_members_generate_quickly() {
    let t = Instant::now();
    let members = generate_members_at(100_000, 1, START_MS);
    let took = t.elapsed();
    assert_eq!(members.len(), 100_000);
    // Debug build on a shared 2-core machine: generous, yet far from a slow loop.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn a_generated_organization_is_served_whole_and_stays_stable() {
    let toml = r#"
        [settings]
        start_time_ms = 1700000000000
        [[organizations]]
        key = "big"
        api_keys = ["k"]
        generate = { count = 20000, seed = 5 }
    "#;
    let sim = start_toml(toml).await;
    let r = get(&sim, "/organizations/big/users", Some("k")).await;
    let body = r.bytes().await.unwrap();
    let list: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(list.len(), 20_000);
    let expected = generate_members_at(20_000, 5, START_MS);
    assert_eq!(list[123]["key"], expected[123].key.as_str());
    assert_eq!(
        list[123]["lastSeenTimestamp"].as_i64(),
        expected[123].last_seen_ms
    );
    // ~300 bytes per member, like Streak's.
    assert!(
        (200..=400).contains(&(body.len() / 20_000)),
        "{}",
        body.len()
    );
    // The same bytes again (served from the cache until the next change).
    let again = get(&sim, "/organizations/big/users", Some("k"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, again);
}

// --- The command ---------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn simulate_command_prints_its_address_serves_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;

    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/scenario.toml");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_streak-connector"))
        .args([
            "simulate",
            "--scenario",
            scenario,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line
        .strip_prefix("simulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/api/v1"),
        "{base}"
    );
    assert!(
        !base.ends_with(":0/api/v1"),
        "the bound port is printed: {base}"
    );

    let r = reqwest::Client::new()
        .get(format!("{base}/users/me"))
        .basic_auth("sim-acme-admin", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["key"], "u-alice");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
