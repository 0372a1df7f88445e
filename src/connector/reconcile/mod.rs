//! Continuous reconciliation in `run` and `once`: the directory topic held in
//! memory beside the organizations' state, and one finding record per change of a
//! member's finding, in the SAME transaction as the poll that found it.
//!
//! Start-up ([`Continuous::start`], from `startup::build`, after
//! `init_transactions` so that a dead instance's open transaction no longer holds
//! the topics' stable end back):
//!
//! 1. the findings topic is created compacted when absent (and checked compacted),
//!    like the state topic, unless the topic policy is `trust`;
//! 2. it is replayed (read committed, last record per key) into the
//!    [`Reconciler`]: the last published finding of every subject, so the first
//!    poll publishes only what changed since (nothing repeated, nothing lost);
//! 3. the directory topic is followed ([`crate::kafka::follow`]): read to its end
//!    before the first poll is judged, then followed while the process runs. A
//!    record that cannot be used is counted and logged, and the entry keeps what it
//!    had.
//!
//! Each cycle: [`Continuous::pending`] before the commit (the records join the
//! batch), [`Continuous::committed`] after it; an aborted transaction drops the
//! pending findings, and the redone poll computes the same records (same ids).

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

mod telemetry;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use telemetry::{
    DirectoryFollowLagging, DirectoryLoaded, DirectoryRecordRefused, FindingsCounted,
    FindingsRestored,
};

use crate::audit::{
    ocsf, DirectoryOptions, FindingRecord, PendingFindings, ReconcileOptions, Reconciler,
};
use crate::kafka::follow::{follow_topic, Followed, Follower};
use crate::kafka::{
    ensure_compacted_topic, KafkaConfig, KafkaStateSource, OutRecord, RestoreError,
    StateSource as _, TopicError, TopicPolicy,
};
use crate::membership::{OrgState, PollChanges};
use crate::metrics::Metrics;
use crate::recovery::{Classified, Recovery};
use crate::telemetry::InternalEvent as _;

/// The continuous reconciliation's settings (`--directory-topic`,
/// `--findings-topic`, `[reconcile]`; see `docs/configuration.md`).
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub directory_topic: String,
    pub findings_topic: String,
    /// Field names and email normalisation of the directory records.
    pub directory: DirectoryOptions,
    pub options: ReconcileOptions,
    /// How long start-up waits for the directory topic to be read to its end.
    pub catch_up_timeout: Duration,
}

/// Why the continuous reconciliation cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileStartError {
    #[error("findings topic")]
    Topic(#[source] TopicError),
    #[error("cannot read the findings topic `{topic}`")]
    Findings {
        topic: String,
        #[source]
        source: RestoreError,
    },
    #[error("directory topic `{0}` does not exist: create it (compacted, keyed by email; see docs/audit.md), or check --directory-topic")]
    DirectoryMissing(String),
    #[error("cannot follow the directory topic `{topic}`")]
    Directory {
        topic: String,
        #[source]
        source: RestoreError,
    },
    #[error("the directory topic `{topic}` was not read to its end within {timeout:?}: is the cluster reachable, and is a transaction of its writer stuck open?")]
    CatchUp { topic: String, timeout: Duration },
}

impl Classified for ReconcileStartError {
    fn recovery(&self) -> Recovery {
        match self {
            ReconcileStartError::Topic(e) => e.recovery(),
            ReconcileStartError::Findings { source, .. }
            | ReconcileStartError::Directory { source, .. } => source.recovery(),
            ReconcileStartError::CatchUp { .. } => Recovery::RetryNow,
            ReconcileStartError::DirectoryMissing(_) => Recovery::StopProcess,
        }
    }

    fn error_code(&self) -> &'static str {
        match self {
            ReconcileStartError::Topic(e) => e.error_code(),
            ReconcileStartError::Findings { .. } => "findings_restore",
            ReconcileStartError::Directory { .. } => "directory_follow",
            ReconcileStartError::CatchUp { .. } => "directory_catch_up",
            ReconcileStartError::DirectoryMissing(_) => "directory_missing",
        }
    }
}

/// The running reconciliation, shared by every poller.
#[derive(Debug)]
pub struct Continuous {
    reconciler: Arc<Mutex<Reconciler>>,
    findings_topic: String,
    metrics: Arc<Metrics>,
    /// Stops following the directory when the connector is dropped (`None` for a
    /// twin fed by hand).
    _follower: Option<Follower>,
}

fn lock(r: &Mutex<Reconciler>) -> MutexGuard<'_, Reconciler> {
    // Every Reconciler method leaves it consistent: a panic elsewhere while the
    // lock was held cannot have left it half-changed.
    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Continuous {
    /// Creates the findings topic when absent, restores the published findings and
    /// reads the directory topic to its end; then follows it.
    pub async fn start(
        kafka: &KafkaConfig,
        settings: &ReconcileSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Continuous, ReconcileStartError> {
        let findings_topic = settings.findings_topic.clone();
        if kafka.topic_policy != TopicPolicy::Trust {
            ensure_compacted_topic(kafka, &findings_topic, "findings", &metrics)
                .await
                .map_err(ReconcileStartError::Topic)?;
        }
        let directory = crate::audit::Directory::new(settings.directory.normalisation.clone());
        let mut reconciler = Reconciler::new(directory, settings.options);
        let restored = restore_findings(kafka, &findings_topic, &metrics).await?;
        for r in &restored {
            reconciler.restore(r);
        }
        let reconciler = Arc::new(Mutex::new(reconciler));
        let orgs: std::collections::BTreeSet<&str> =
            restored.iter().map(|r| r.org_key.as_str()).collect();
        FindingsRestored {
            topic: &findings_topic,
            records: restored.len(),
            organizations: orgs.len(),
        }
        .emit(&metrics);
        for org in orgs {
            let counts = lock(&reconciler).counts(org);
            FindingsCounted { org, counts }.emit(&metrics);
        }
        let follower = follow_directory(kafka, settings, &reconciler, &metrics).await?;
        Ok(Continuous {
            reconciler,
            findings_topic,
            metrics,
            _follower: Some(follower),
        })
    }

    /// A reconciliation over `reconciler` that follows no topic: the directory is
    /// fed through [`Continuous::apply_directory`] (tests of the cycle on twins).
    pub fn unfollowed(
        reconciler: Reconciler,
        findings_topic: impl Into<String>,
        metrics: Arc<Metrics>,
    ) -> Continuous {
        Continuous {
            reconciler: Arc::new(Mutex::new(reconciler)),
            findings_topic: findings_topic.into(),
            metrics,
            _follower: None,
        }
    }

    /// Applies one directory update (what the follower does for each record).
    pub fn apply_directory(&self, update: crate::audit::DirectoryUpdate) {
        lock(&self.reconciler).apply_directory(update);
    }

    /// What the poll would publish: `state` before the poll, `changes` its
    /// not-yet-committed result.
    pub(crate) fn pending(&self, state: &OrgState, changes: &PollChanges) -> PendingFindings {
        lock(&self.reconciler).poll(state, changes)
    }

    /// The pending findings as records of the findings topic (key and value JSON).
    pub fn records(&self, pending: &PendingFindings) -> Vec<OutRecord> {
        pending
            .records
            .iter()
            .map(|r| OutRecord::new(&self.findings_topic, r.key_json(), r.to_json()))
            .collect()
    }

    /// The pending findings as OCSF Detection Finding records of `topic` (keyed
    /// like the findings topic): for the OCSF topic's batch.
    pub fn ocsf_records(
        &self,
        pending: &PendingFindings,
        topic: &str,
        product_version: &str,
    ) -> Vec<OutRecord> {
        pending
            .records
            .iter()
            .map(|r| {
                OutRecord::new(
                    topic,
                    r.key_json(),
                    ocsf::finding_record_bytes(r, product_version),
                )
            })
            .collect()
    }

    /// The poll's transaction committed: its findings are now the published ones.
    pub fn committed(&self, pending: PendingFindings) {
        let org = pending.org_key.clone();
        let counts = {
            let mut r = lock(&self.reconciler);
            r.commit(pending);
            r.counts(&org)
        };
        FindingsCounted { org: &org, counts }.emit(&self.metrics);
    }
}

/// One poll's finding changes, staged into its batch, waiting for its commit.
#[derive(Debug)]
pub struct PollFindings(Option<(Arc<Continuous>, PendingFindings)>);

impl PollFindings {
    /// With the reconciliation on, the poll's finding records (for its
    /// transaction, after its other records); `state` is before the poll,
    /// `changes` its uncommitted result.
    pub(crate) fn stage(
        reconcile: Option<&Arc<Continuous>>,
        ocsf_topic: Option<&str>,
        state: &OrgState,
        changes: &PollChanges,
    ) -> (PollFindings, Vec<OutRecord>) {
        let mut records = Vec::new();
        let findings = PollFindings(reconcile.map(|r| {
            let pending = r.pending(state, changes);
            records.extend(r.records(&pending));
            // With an OCSF topic, each finding change is also an OCSF Detection
            // Finding there, in the same transaction.
            if let Some(topic) = ocsf_topic {
                records.extend(r.ocsf_records(&pending, topic, env!("CARGO_PKG_VERSION")));
            }
            (r.clone(), pending)
        }));
        (findings, records)
    }

    /// The batch committed: the staged findings are the published ones now.
    pub fn committed(self) {
        if let Some((r, pending)) = self.0 {
            r.committed(pending);
        }
    }
}

/// The last record of every key of the findings topic, read committed.
async fn restore_findings(
    kafka: &KafkaConfig,
    topic: &str,
    metrics: &Arc<Metrics>,
) -> Result<Vec<FindingRecord>, ReconcileStartError> {
    let mut config = kafka.clone();
    config.state_topic = topic.to_owned();
    let source = KafkaStateSource::new(config, metrics.clone());
    let restored = source
        .restore(|_key: &[u8], value: Option<&[u8]>| {
            value.map(FindingRecord::from_json).transpose()
        })
        .await
        .map_err(|source| ReconcileStartError::Findings {
            topic: topic.to_owned(),
            source,
        })?;
    let mut records: Vec<FindingRecord> = restored
        .entries
        .into_iter()
        .filter_map(|(_, r)| r)
        .collect();
    // Deterministic replay order (keys are distinct subjects: order cannot matter
    // to the result, only to whoever reads the logs).
    records.sort_by(|a, b| (&a.org_key, a.poll_seq).cmp(&(&b.org_key, b.poll_seq)));
    Ok(records)
}

/// Follows the directory topic into the reconciler; returns once it was read to
/// the end it had at start-up.
async fn follow_directory(
    kafka: &KafkaConfig,
    settings: &ReconcileSettings,
    reconciler: &Arc<Mutex<Reconciler>>,
    metrics: &Arc<Metrics>,
) -> Result<Follower, ReconcileStartError> {
    let topic = settings.directory_topic.clone();
    let (caught_up, wait) = tokio::sync::oneshot::channel::<u64>();
    let mut caught_up = Some(caught_up);
    let target = reconciler.clone();
    let options = settings.directory.clone();
    let m = metrics.clone();
    let name = topic.clone();
    let on_event = move |event: Followed| match event {
        Followed::Record {
            partition,
            offset,
            key,
            value,
        } => match crate::audit::parse_directory_record(Some(&key), value.as_deref(), &options) {
            Ok(update) => lock(&target).apply_directory(update),
            Err(error) => DirectoryRecordRefused {
                topic: &name,
                partition,
                offset,
                error: &error,
            }
            .emit(&m),
        },
        Followed::CaughtUp { records } => {
            let entries = {
                let mut r = lock(&target);
                r.set_directory_loaded();
                r.directory().len()
            };
            DirectoryLoaded {
                topic: &name,
                records,
                entries,
            }
            .emit(&m);
            if let Some(tx) = caught_up.take() {
                let _ = tx.send(records);
            }
        }
        Followed::Lagging { error } => DirectoryFollowLagging {
            topic: &name,
            error: &error,
        }
        .emit(&m),
    };
    let config = kafka.clone();
    let follow_name = topic.clone();
    let follower =
        tokio::task::spawn_blocking(move || follow_topic(&config, &follow_name, on_event))
            .await
            .unwrap_or_else(|_| {
                Err(RestoreError::Kafka {
                    topic: topic.clone(),
                    what: "the follower".into(),
                    source: rdkafka::error::KafkaError::Canceled,
                })
            })
            .map_err(|source| match source {
                RestoreError::MissingTopic(t) => ReconcileStartError::DirectoryMissing(t),
                source => ReconcileStartError::Directory {
                    topic: topic.clone(),
                    source,
                },
            })?;
    match tokio::time::timeout(settings.catch_up_timeout, wait).await {
        Ok(Ok(_)) => Ok(follower),
        _ => Err(ReconcileStartError::CatchUp {
            topic,
            timeout: settings.catch_up_timeout,
        }),
    }
}
