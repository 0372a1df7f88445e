//! Topic set-up at start-up: creation with the documented settings, an existing
//! events topic used as is, a state topic that is not compacted refused with the
//! fix in the message. Creating topics with configs and describing them needs a
//! real broker (the mock cluster implements neither).

use std::collections::HashMap;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use streak_connector::kafka::{
    ensure_topics, KafkaConfig, TopicError, TopicPolicy, STATE_TOPIC_DEFAULTS,
};
use streak_connector::metrics::Metrics;
use testkit::broker::Broker;
use testkit::topic::topic_configs;

async fn describe(broker: &Broker, topic: &str) -> HashMap<String, String> {
    topic_configs(broker.bootstrap(), topic).await
}

fn partitions(config: &KafkaConfig, topic: &str) -> usize {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap_servers)
        .create()
        .expect("consumer");
    let md = c
        .fetch_metadata(Some(topic), std::time::Duration::from_secs(10))
        .expect("metadata");
    md.topics()[0].partitions().len()
}

#[tokio::test]
async fn creates_missing_topics_with_the_documented_settings() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("creates_missing_topics_with_the_documented_settings") {
        return;
    }
    let config = broker.config("create");
    let report = ensure_topics(&config, &Metrics::new())
        .await
        .expect("set up");
    assert!(report.events_created && report.state_created, "{report:?}");
    assert!(report.state_verified);
    assert_eq!(report.state_partitions, Some(3));

    let state = describe(&broker, &config.state_topic).await;
    for (k, v) in STATE_TOPIC_DEFAULTS {
        assert_eq!(state.get(k).map(String::as_str), Some(v), "{k}");
    }
    let events = describe(&broker, &config.events_topic).await;
    assert_eq!(events["cleanup.policy"], "delete");
    assert_eq!(partitions(&config, &config.events_topic), 3);

    // A second start finds them and changes nothing.
    let again = ensure_topics(&config, &Metrics::new())
        .await
        .expect("set up again");
    assert!(!again.events_created && !again.state_created, "{again:?}");
    assert!(again.state_verified);
}

#[tokio::test]
async fn an_existing_events_topic_is_used_as_it_is() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("an_existing_events_topic_is_used_as_it_is") {
        return;
    }
    let config = broker.config("existing");
    broker
        .create_topic(&config.events_topic, 1, &[("retention.ms", "3600000")])
        .await;
    let report = ensure_topics(&config, &Metrics::new())
        .await
        .expect("set up");
    assert!(!report.events_created);
    assert_eq!(report.events_partitions, Some(1));
    assert!(report.state_created);
    let events = describe(&broker, &config.events_topic).await;
    assert_eq!(events["retention.ms"], "3600000");
}

#[tokio::test]
async fn a_state_topic_that_is_not_compacted_is_refused() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("a_state_topic_that_is_not_compacted_is_refused") {
        return;
    }
    let config = broker.config("notcompacted");
    broker
        .create_topic(&config.state_topic, 3, &[("cleanup.policy", "delete")])
        .await;
    let err = ensure_topics(&config, &Metrics::new())
        .await
        .expect_err("refused");
    assert!(matches!(err, TopicError::NotCompacted { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cleanup.policy=delete"), "{msg}");
    assert!(
        msg.contains(&format!(
            "--entity-name {} --add-config cleanup.policy=compact",
            config.state_topic
        )),
        "{msg}"
    );
    assert!(msg.contains("choose another state topic"), "{msg}");
}

#[tokio::test]
async fn compact_and_delete_with_retention_is_refused() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("compact_and_delete_with_retention_is_refused") {
        return;
    }
    let config = broker.config("compactdelete");
    broker
        .create_topic(
            &config.state_topic,
            3,
            &[
                ("cleanup.policy", "compact,delete"),
                ("retention.ms", "86400000"),
            ],
        )
        .await;
    let err = ensure_topics(&config, &Metrics::new())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("retention.ms=86400000"), "{err}");
}

/// The mock cluster (or a cluster where the connector may not create topics):
/// policy `trust` contacts nothing and says the state topic is unverified.
#[tokio::test]
async fn trust_policy_skips_creation_and_the_check() {
    let broker = Broker::mock();
    let mut config = broker.config("trust");
    config.topic_policy = TopicPolicy::Trust;
    let report = ensure_topics(&config, &Metrics::new())
        .await
        .expect("nothing to fail");
    assert!(!report.state_verified);
    assert!(!report.events_created && !report.state_created);
}

/// Without `trust`, the mock cluster's missing CreateTopics is an error that says
/// how to proceed, not a hang.
#[tokio::test]
async fn create_and_verify_on_the_mock_fails_clearly() {
    let broker = Broker::mock();
    let mut config = broker.config("mockcreate");
    config.topic_policy = TopicPolicy::CreateAndVerify;
    config.request_timeout = std::time::Duration::from_secs(5);
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        ensure_topics(&config, &Metrics::new()),
    )
    .await
    .expect("ends")
    .expect_err("the mock cannot create topics");
    assert!(
        matches!(err, TopicError::Create { .. } | TopicError::Describe { .. }),
        "{err:?}"
    );
}

/// Whether `topic` exists, asked by a client that cannot create it.
fn exists(config: &KafkaConfig, topic: &str) -> bool {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("consumer");
    let md = c
        .fetch_metadata(Some(topic), std::time::Duration::from_secs(10))
        .expect("metadata");
    md.topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
}

/// With the defaults (`-1`: the broker's partition count and replication factor,
/// KIP-464) the topics are created, the state topic compacted. On a broker that
/// auto-creates topics (Kafka's stock setting), the connector's metadata look-ups
/// before the creation must not create them first (the state topic would then be
/// `cleanup.policy=delete` and refused).
#[tokio::test]
async fn broker_default_counts_and_no_auto_creation() {
    let broker = Broker::start().await;
    if broker.skip_unless_real("broker_default_counts_and_no_auto_creation") {
        return;
    }
    let mut config = broker.config("brokerdefault");
    config.partitions = -1;
    config.replication_factor = -1;

    // `check`'s read-only look creates nothing.
    let seen = streak_connector::kafka::inspect::inspect_topics(&config)
        .await
        .expect("inspected");
    assert_eq!(seen.state_partitions, None);
    assert!(!exists(&config, &config.events_topic));
    assert!(!exists(&config, &config.state_topic));

    let report = ensure_topics(&config, &Metrics::new())
        .await
        .expect("set up");
    assert!(report.events_created && report.state_created, "{report:?}");
    assert!(report.state_verified);
    let state = describe(&broker, &config.state_topic).await;
    assert_eq!(state["cleanup.policy"], "compact");
    assert!(partitions(&config, &config.state_topic) >= 1);
}
