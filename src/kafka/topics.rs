//! Topic set-up at start-up: create the events topic and the compacted state topic
//! when absent, use an existing events topic as it is, and read an existing state
//! topic's configuration back to refuse one that would lose state.
//!
//! This module must not alter an existing topic: a wrong state topic is the
//! operator's to fix (the error says how), never silently "repaired".

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::config::{KafkaConfig, TopicPolicy};
use super::telemetry::{TopicCheckSkipped, TopicCreated};
use crate::metrics::Metrics;
use crate::recovery::{Classified, Recovery};
use crate::telemetry::InternalEvent as _;

/// The configuration of a state topic the connector creates, with why:
///
/// - `cleanup.policy=compact`: the topic is the connector's memory; only the last
///   value per key matters, and a tombstone deletes a key.
/// - `segment.ms=3600000` (1 h): the active segment is never compacted; rolling it
///   hourly (default: 7 days) keeps the superseded states a restore reads small.
/// - `min.cleanable.dirty.ratio=0.1`: compact once 10% of the log is superseded
///   (default 50%), so a restore reads at most about 1.1 records per live key.
/// - `delete.retention.ms=86400000` (24 h): a tombstone stays readable for a day
///   after compaction, far longer than any restore takes, so a restore never misses
///   the deletion of a key whose older value it has read.
/// - `min.compaction.lag.ms=60000` (1 min): the latest writes stay readable as
///   written for a minute, for whoever debugs with a console consumer.
pub const STATE_TOPIC_DEFAULTS: [(&str, &str); 5] = [
    ("cleanup.policy", "compact"),
    ("segment.ms", "3600000"),
    ("min.cleanable.dirty.ratio", "0.1"),
    ("delete.retention.ms", "86400000"),
    ("min.compaction.lag.ms", "60000"),
];

/// What [`ensure_topics`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicsReport {
    pub events_created: bool,
    pub state_created: bool,
    /// Whether the OCSF topic was created (`false` when it is off).
    pub ocsf_created: bool,
    /// Partition count seen in the metadata (`None` under [`TopicPolicy::Trust`]
    /// when the topic does not exist yet).
    pub events_partitions: Option<usize>,
    pub state_partitions: Option<usize>,
    /// `None` also when the OCSF topic is off.
    pub ocsf_partitions: Option<usize>,
    /// Whether the state topic's configuration was read back and found compacted.
    pub state_verified: bool,
}

/// Why the topics are not usable.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// Recovery: stop; the properties cannot make a client.
    #[error("cannot create the Kafka admin client (check the kafka properties): {0}")]
    Client(#[source] KafkaError),
    /// Recovery: retry start-up (the cluster may be unreachable or still starting).
    #[error("cannot read the metadata of topic `{topic}` from {bootstrap}: {source}; is the cluster reachable?")]
    Metadata {
        topic: String,
        bootstrap: String,
        #[source]
        source: KafkaError,
    },
    /// Recovery: stop; grant the connector's principal CreateTopics, or create the
    /// topic by hand with the settings of the docs, or fix partitions/replication.
    #[error("cannot create topic `{topic}`: {code:?} ({code}); create it by hand (see docs/kafka.md) or grant the connector the right to create topics")]
    Create {
        topic: String,
        code: RDKafkaErrorCode,
    },
    /// Recovery: stop; grant DescribeConfigs on the topic, or use topic policy `trust`.
    #[error("cannot read the configuration of state topic `{topic}`: {detail}; grant the connector DescribeConfigs on it")]
    Describe { topic: String, detail: String },
    /// Recovery: stop; the operator fixes the topic or picks another.
    #[error(
        "state topic `{topic}` is not compacted ({found}): old member states would be deleted and members announced again as JOINED. \
         Fix it with `kafka-configs.sh --bootstrap-server <broker> --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact` \
         (and delete any retention: `--delete-config retention.ms,retention.bytes`), or choose another state topic"
    )]
    NotCompacted { topic: String, found: String },
}

impl Classified for TopicError {
    /// The cluster may be unreachable or still starting ([`Recovery::RetryNow`]:
    /// retry start-up); everything else needs an operator.
    fn recovery(&self) -> Recovery {
        match self {
            TopicError::Metadata { .. } => Recovery::RetryNow,
            TopicError::Client(_)
            | TopicError::Create { .. }
            | TopicError::Describe { .. }
            | TopicError::NotCompacted { .. } => Recovery::StopProcess,
        }
    }

    /// A fixed label for metrics and logs.
    fn error_code(&self) -> &'static str {
        match self {
            TopicError::Client(_) => "client",
            TopicError::Metadata { .. } => "metadata",
            TopicError::Create { .. } => "create",
            TopicError::Describe { .. } => "describe",
            TopicError::NotCompacted { .. } => "not_compacted",
        }
    }
}

/// Create the topics when absent (the OCSF topic, when set, like the events topic)
/// and check the state topic, per `config.topic_policy`.
pub async fn ensure_topics(
    config: &KafkaConfig,
    metrics: &Metrics,
) -> Result<TopicsReport, TopicError> {
    if config.topic_policy == TopicPolicy::Trust {
        TopicCheckSkipped {
            events_topic: &config.events_topic,
            state_topic: &config.state_topic,
            ocsf_topic: config.ocsf_topic.as_deref(),
        }
        .emit(metrics);
        return Ok(TopicsReport {
            events_created: false,
            state_created: false,
            ocsf_created: false,
            events_partitions: None,
            state_partitions: None,
            ocsf_partitions: None,
            state_verified: false,
        });
    }
    let admin: Arc<AdminClient<DefaultClientContext>> =
        Arc::new(config.admin_config().create().map_err(TopicError::Client)?);
    let timeout = config.request_timeout;
    let opts = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let one = |name, role, configs| ensure_one(&admin, &opts, config, metrics, name, role, configs);
    let (events_created, events_partitions) = one(&config.events_topic, "events", &[]).await?;
    let (state_created, state_partitions) =
        one(&config.state_topic, "state", &STATE_TOPIC_DEFAULTS).await?;
    let (ocsf_created, ocsf_partitions) = match &config.ocsf_topic {
        Some(t) => one(t, "ocsf", &[]).await?,
        None => (false, None),
    };
    check_compacted(&admin, &opts, &config.state_topic, timeout).await?;
    crate::release::drop_in_background(admin);
    Ok(TopicsReport {
        events_created,
        state_created,
        ocsf_created,
        events_partitions,
        state_partitions,
        ocsf_partitions,
        state_verified: true,
    })
}

/// Create a compacted topic of the connector's own (the findings topic) when
/// absent, with the state topic's settings ([`STATE_TOPIC_DEFAULTS`]), and refuse
/// one that is not compacted. Under [`TopicPolicy::Trust`], does nothing.
pub(crate) async fn ensure_compacted_topic(
    config: &KafkaConfig,
    topic: &str,
    role: &'static str,
    metrics: &Metrics,
) -> Result<bool, TopicError> {
    if config.topic_policy == TopicPolicy::Trust {
        return Ok(false);
    }
    let admin: Arc<AdminClient<DefaultClientContext>> =
        Arc::new(config.admin_config().create().map_err(TopicError::Client)?);
    let timeout = config.request_timeout;
    let opts = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let exists = partition_count(&admin, topic, &config.bootstrap_servers, timeout)
        .await?
        .is_some();
    let created = !exists && create(&admin, &opts, config, topic, &STATE_TOPIC_DEFAULTS).await?;
    if created {
        TopicCreated {
            topic,
            role,
            partitions: config.partitions,
            replication_factor: config.replication_factor,
        }
        .emit(metrics);
    }
    check_compacted(&admin, &opts, topic, timeout).await?;
    Ok(created)
}

/// One topic: its partition count, after creating it when absent (`true` when this
/// call created it).
async fn ensure_one(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    opts: &AdminOptions,
    config: &KafkaConfig,
    metrics: &Metrics,
    topic: &str,
    role: &'static str,
    configs: &[(&str, &str)],
) -> Result<(bool, Option<usize>), TopicError> {
    let partitions = partition_count(
        admin,
        topic,
        &config.bootstrap_servers,
        config.request_timeout,
    )
    .await?;
    if partitions.is_some() || !create(admin, opts, config, topic, configs).await? {
        return Ok((false, partitions));
    }
    TopicCreated {
        topic,
        role,
        partitions: config.partitions,
        replication_factor: config.replication_factor,
    }
    .emit(metrics);
    // Created with `-1` partitions: the broker's count, not known here.
    Ok((true, usize::try_from(config.partitions).ok()))
}

/// The topic's partition count, `None` when it does not exist.
pub(crate) async fn partition_count(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    topic: &str,
    bootstrap: &str,
    timeout: Duration,
) -> Result<Option<usize>, TopicError> {
    let admin = Arc::clone(admin);
    let name = topic.to_owned();
    let fetched = tokio::task::spawn_blocking(move || {
        let md = admin.inner().fetch_metadata(Some(&name), timeout)?;
        let found = md
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .map(|t| (t.error(), t.partitions().len()));
        Ok::<_, KafkaError>(found)
    })
    .await
    .unwrap_or(Err(KafkaError::Canceled));
    let meta_err = |source| TopicError::Metadata {
        topic: topic.to_owned(),
        bootstrap: bootstrap.to_owned(),
        source,
    };
    match fetched.map_err(meta_err)? {
        None => Ok(None),
        Some((None, n)) => Ok(Some(n)),
        Some((Some(err), n)) => match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::UnknownTopicOrPartition => Ok(None),
            RDKafkaErrorCode::LeaderNotAvailable if n > 0 => Ok(Some(n)),
            code => Err(meta_err(KafkaError::MetadataFetch(code))),
        },
    }
}

/// Create one topic; `Ok(false)` when another process created it first.
async fn create(
    admin: &AdminClient<DefaultClientContext>,
    opts: &AdminOptions,
    config: &KafkaConfig,
    topic: &str,
    configs: &[(&str, &str)],
) -> Result<bool, TopicError> {
    let mut new = NewTopic::new(
        topic,
        config.partitions,
        TopicReplication::Fixed(config.replication_factor),
    );
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let results = admin
        .create_topics([&new], opts)
        .await
        .map_err(|e| TopicError::Create {
            topic: topic.to_owned(),
            code: e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
        })?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((_, code))) => Err(TopicError::Create {
            topic: topic.to_owned(),
            code,
        }),
        None => Err(TopicError::Create {
            topic: topic.to_owned(),
            code: RDKafkaErrorCode::Fail,
        }),
    }
}

/// Read the state topic's configuration back; refuse it unless compacted and
/// without a deletion that would drop live keys.
///
/// Right after a creation the broker may not know the topic yet (metadata
/// propagation): an answer without the topic or without its `cleanup.policy` is
/// asked again, with a short backoff, until `timeout`.
pub(crate) async fn check_compacted(
    admin: &AdminClient<DefaultClientContext>,
    opts: &AdminOptions,
    topic: &str,
    timeout: Duration,
) -> Result<(), TopicError> {
    let describe_err = |detail: String| TopicError::Describe {
        topic: topic.to_owned(),
        detail,
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = Duration::from_millis(50);
    loop {
        let results = admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], opts)
            .await
            .map_err(|e| describe_err(e.to_string()))?;
        let answer = match results.into_iter().next() {
            Some(Ok(r)) => {
                let value = |name: &str| r.get(name).map(|e| e.value.clone().unwrap_or_default());
                match value("cleanup.policy") {
                    Some(policy) => Ok((
                        policy,
                        value("retention.ms").unwrap_or_default(),
                        value("retention.bytes").unwrap_or_default(),
                    )),
                    None => Err("no cleanup.policy in the answer".to_owned()),
                }
            }
            Some(Err(code)) => Err(format!("{code:?} ({code})")),
            None => Err("empty answer".to_owned()),
        };
        match answer {
            Ok((policy, retention_ms, retention_bytes)) => {
                return verdict(topic, &policy, &retention_ms, &retention_bytes)
            }
            Err(detail) if tokio::time::Instant::now() + backoff > deadline => {
                return Err(describe_err(detail))
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The rule itself, pure: compacted, and if also `delete`, with no time or size
/// retention (which would delete live keys).
fn verdict(
    topic: &str,
    cleanup_policy: &str,
    retention_ms: &str,
    retention_bytes: &str,
) -> Result<(), TopicError> {
    let policies: Vec<&str> = cleanup_policy.split(',').map(str::trim).collect();
    let refuse = |found: String| {
        Err(TopicError::NotCompacted {
            topic: topic.to_owned(),
            found,
        })
    };
    if !policies.contains(&"compact") {
        return refuse(format!("cleanup.policy={cleanup_policy}"));
    }
    if policies.contains(&"delete") && (retention_ms != "-1" || retention_bytes != "-1") {
        return refuse(format!(
            "cleanup.policy={cleanup_policy} with retention.ms={retention_ms}, retention.bytes={retention_bytes}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacted_is_accepted() {
        assert!(verdict("s", "compact", "604800000", "-1").is_ok());
        assert!(verdict("s", "compact,delete", "-1", "-1").is_ok());
        assert!(verdict("s", "delete, compact", "-1", "-1").is_ok());
    }

    #[test]
    fn delete_is_refused_with_the_fix() {
        let err = verdict("state", "delete", "604800000", "-1").unwrap_err();
        assert_eq!(err.error_code(), "not_compacted");
        let msg = err.to_string();
        assert!(msg.contains("cleanup.policy=delete"), "{msg}");
        assert!(
            msg.contains("--entity-name state --add-config cleanup.policy=compact"),
            "{msg}"
        );
        assert!(msg.contains("choose another state topic"), "{msg}");
    }

    #[test]
    fn compact_with_retention_is_refused() {
        let err = verdict("state", "compact,delete", "604800000", "-1").unwrap_err();
        assert!(err.to_string().contains("retention.ms=604800000"));
    }
}
