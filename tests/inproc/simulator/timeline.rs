//! Changes applied from tests, and the timeline: by request count (looping) and by
//! elapsed time (an injected clock or paused tokio time); the lively scenario.

use std::sync::Arc;
use std::time::Duration;

use streak_connector::simulator::{
    Change, ManualClock, MemberSpec, ProfilePatch, RunningSimulator, Scenario, SimError, Simulator,
    Stamp, GO_QUIET_FOR,
};

use super::{get, json, listing_keys, start_toml, DAY_MS, START_MS, TWO_ORGS};

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
