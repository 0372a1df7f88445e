//! A new user's first runs (issue 11): `streak-connector once`, twice, against a
//! broker with Kafka's stock settings (one node, `auto.create.topics.enable=true`,
//! what `bin/kafka-server-start.sh config/server.properties` gives), with NO config
//! file and no topic settings (partitions, replication factor, topic policy all at
//! their defaults). Both runs succeed, both topics exist, the state topic is
//! compacted, and what was published is the first poll's snapshot, once.
//!
//! The trap it guards: a client of the connector that asks for a topic's metadata
//! before creating it makes a stock broker auto-create it with
//! `cleanup.policy=delete`, and the connector then refuses the state topic it caused.
//!
//! Needs a real broker; scripts/test.sh runs it against both profiles of
//! scripts/kafka.sh (`STREAK_KAFKA_PROFILE=locked`, the default, and `stock`).

use std::collections::BTreeSet;
use std::time::Duration;

use streak_connector::membership::EventType;
use testkit::broker::real_bootstrap;
use testkit::e2e::{api_key, org_toml, start_simulator};
use testkit::process::Cmd;
use testkit::topic::{read_events, topic_configs, topic_exists};
use testkit::unique;

/// Bound of a `once` against a local broker (a debug build on a busy machine).
const ONCE_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_twice_without_a_config_file_creates_both_topics_the_state_topic_compacted() {
    let test = "once_twice_without_a_config_file_creates_both_topics_the_state_topic_compacted";
    let Some(bootstrap) = real_bootstrap(test) else {
        return;
    };
    eprintln!(
        "{test}: broker profile {}",
        std::env::var("STREAK_KAFKA_PROFILE").unwrap_or_else(|_| "unknown".into())
    );
    let key = api_key("stock");
    let sim = start_simulator(&org_toml(
        "org-stock",
        &key,
        &[("u-ann", true), ("u-ben", false)],
        "",
    ))
    .await;
    let events_topic = unique("stock-events");
    let state_topic = unique("stock-state");
    let connector_name = unique("stock");

    for run in 1..=2 {
        // No --config and no topic settings: only where things are and what to
        // call them (fresh names, so tests run in parallel on one broker).
        let mut once = Cmd::new(&["once"]);
        once.args(["--streak-base-url", &sim.base_url()])
            .args(["--kafka-bootstrap-servers", &bootstrap])
            .args(["--events-topic", &events_topic])
            .args(["--state-topic", &state_topic])
            .args(["--connector-name", &connector_name])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .env("STREAK_CONNECTOR_API_KEYS", &key);
        let finished = once.run(ONCE_TIMEOUT).await;
        assert!(
            finished.status.success(),
            "run {run} of `{}` on a stock broker without a config file exited with {}\n{}",
            finished.command,
            finished.status,
            finished.report()
        );
    }

    assert!(
        topic_exists(&bootstrap, &events_topic).await,
        "the events topic {events_topic} exists"
    );
    assert!(
        topic_exists(&bootstrap, &state_topic).await,
        "the state topic {state_topic} exists"
    );
    let state = topic_configs(&bootstrap, &state_topic).await;
    assert_eq!(
        state.get("cleanup.policy").map(String::as_str),
        Some("compact"),
        "the state topic is compacted: {state:?}"
    );

    // The first run published one SNAPSHOT per member; the second, with nothing
    // changed in Streak, published nothing.
    let events = read_events(&bootstrap, &events_topic).await;
    let snapshots: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.event.event_type == EventType::Snapshot)
        .map(|e| e.event.user_key.as_str())
        .collect();
    assert_eq!(events.len(), 2, "two events in all: {events:?}");
    assert_eq!(snapshots, BTreeSet::from(["u-ann", "u-ben"]));
}
