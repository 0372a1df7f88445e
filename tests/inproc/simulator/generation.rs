//! Member generation: deterministic, realistic, fast at a hundred thousand members,
//! and served whole and stable.

use std::time::{Duration, Instant};

use serde_json::Value;
use streak_connector::simulator::generate_members_at;

use super::{get, start_toml, DAY_MS, START_MS};

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
