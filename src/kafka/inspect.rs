//! Read-only looks at the cluster: what `check` reports and how `tail` reads.
//!
//! Nothing here creates, writes or commits anything.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::StreamConsumer;
use rdkafka::ClientConfig;

use super::topics::{check_compacted, partition_count};
use super::{KafkaConfig, TopicError};

/// What `check` learns about the topics, without changing them.
#[derive(Debug)]
pub struct TopicsInspection {
    /// Partitions of the events topic; `None` when absent (it will be created).
    pub events_partitions: Option<usize>,
    /// Partitions of the state topic; `None` when absent (it will be created).
    pub state_partitions: Option<usize>,
    /// The state topic's compaction check, when it exists.
    pub state_compaction: Option<Result<(), TopicError>>,
    /// Partitions of the OCSF topic; `None` when absent or off.
    pub ocsf_partitions: Option<usize>,
}

/// Reads the topics' metadata and the state topic's configuration.
///
/// An unreachable cluster is an error within `config.request_timeout`.
pub async fn inspect_topics(config: &KafkaConfig) -> Result<TopicsInspection, TopicError> {
    let admin: Arc<AdminClient<DefaultClientContext>> =
        Arc::new(config.admin_config().create().map_err(TopicError::Client)?);
    let timeout = config.request_timeout;
    let events_partitions = partition_count(
        &admin,
        &config.events_topic,
        &config.bootstrap_servers,
        timeout,
    )
    .await?;
    let state_partitions = partition_count(
        &admin,
        &config.state_topic,
        &config.bootstrap_servers,
        timeout,
    )
    .await?;
    let ocsf_partitions = match &config.ocsf_topic {
        Some(t) => partition_count(&admin, t, &config.bootstrap_servers, timeout).await?,
        None => None,
    };
    let state_compaction = match state_partitions {
        None => None,
        // `trust`: the cluster may not answer DescribeConfigs (the mock cannot).
        Some(_) if config.topic_policy == super::TopicPolicy::Trust => None,
        Some(_) => {
            let opts = AdminOptions::new()
                .request_timeout(Some(timeout))
                .operation_timeout(Some(timeout));
            Some(check_compacted(&admin, &opts, &config.state_topic, timeout).await)
        }
    };
    Ok(TopicsInspection {
        events_partitions,
        state_partitions,
        state_compaction,
        ocsf_partitions,
    })
}

/// Where a tail starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailStart {
    Beginning,
    End,
}

/// A read-committed consumer of `topic` for `tail`, in a group of its own (nothing
/// is committed, so it leaves no offsets behind).
pub fn tail_consumer(
    config: &KafkaConfig,
    topic: &str,
    start: TailStart,
) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let mut c: ClientConfig = config.base_client_config();
    c.set("isolation.level", "read_committed")
        .set(
            "group.id",
            format!("streak-connector-tail-{:016x}", rand::random::<u64>()),
        )
        .set("enable.auto.commit", "false")
        .set(
            "auto.offset.reset",
            match start {
                TailStart::Beginning => "earliest",
                TailStart::End => "latest",
            },
        )
        .set("session.timeout.ms", "10000");
    let consumer: StreamConsumer = c.create()?;
    rdkafka::consumer::Consumer::subscribe(&consumer, &[topic])?;
    Ok(consumer)
}

/// The default request timeout of a check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
