//! Start-up: everything that must work before the first poll, in order, failing
//! here rather than at 3 a.m.
//!
//! [`build`] makes the parts from the configuration, once:
//!
//! 1. Parse the embedded schemas; register them when a Schema Registry is set.
//! 2. Create or check the topics (the state topic must be compacted), and at the
//!    same time
//! 3. `init_transactions`: fences a zombie with the same transactional id and
//!    aborts its open transaction (skipped by `--dry-run`, which must not fence the
//!    live instance).
//! 4. One Streak client per API key.
//!
//! [`start`] takes the parts (real ones, or in-memory twins in tests), restores
//! every organization's state through [`Restore`] and builds one poller per
//! organization; while the restore runs it places the API keys and starts the first
//! organizations' first fetch ([`super::prefetch`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::context::{Clock, Mode, PollContext};
use super::keys::rejected::RejectedKey;
use super::keys::ring::{Admitted, KeyRing};
use super::ocsf::OcsfOutput;
use super::poller::OrgPoller;
use super::prefetch::Prefetch;
use super::record_size::RecordLimit;
use super::restore::{Restore, StateReader};
use super::shared::Shared;
pub use super::startup_error::StartupError;
use super::status::instance_id;
use crate::avro::{
    Decoder, Encoder, Registration, RegistryAuth, RegistryClient, RegistryConfig, RegistryError,
    Schemas, TopicNames,
};
use crate::config::{Config, RegistrySettings};
use crate::kafka::{
    ensure_topics, KafkaConfig, KafkaStateSource, ProducerPool, RestoreError, TopicPolicy,
    TransactionalSink,
};
use crate::membership::{self, SourceInfo};
use crate::metrics::Metrics;
use crate::streak::{ApiKey, StreakApi, StreakClient};

/// How start-up differs between commands, and what the command already built.
#[derive(Clone)]
pub(crate) struct StartOptions {
    pub mode: Mode,
    pub topic_policy: TopicPolicy,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// Health, guard releases and the organizations polled, shared with the HTTP
    /// side door when the command serves one.
    pub shared: Shared,
}

impl std::fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartOptions")
            .field("mode", &self.mode)
            .field("topic_policy", &self.topic_policy)
            .finish_non_exhaustive()
    }
}

/// Everything the pollers run on, built once: the Streak API of each key, where the
/// state comes from, where the polls commit, the codecs, the clock and the shared
/// health. Tests build it from in-memory twins.
pub(crate) struct Parts {
    pub metrics: Arc<Metrics>,
    pub shared: Shared,
    /// One per API key, in the configuration's order.
    pub apis: Vec<Arc<dyn StreakApi>>,
    pub state: Arc<dyn Restore>,
    pub sink: Arc<dyn TransactionalSink>,
    pub encoder: Encoder,
    pub decoder: Decoder,
    pub topics: TopicNames,
    /// The OCSF topic, when set: each event also as an OCSF record, same transaction.
    pub ocsf: Option<OcsfOutput>,
    pub settings: membership::Settings,
    /// The largest record the producer sends: larger members are left out of a poll.
    pub record_limit: RecordLimit,
    /// The inactivity guard's limits.
    pub inactivity: super::InactivityLimits,
    pub clock: Clock,
    pub mode: Mode,
    /// The continuous reconciliation, when configured (started: findings restored,
    /// directory read to its end).
    pub reconcile: Option<Arc<super::reconcile::Continuous>>,
    /// How many organizations' first listing is fetched while the state topic is
    /// restored (`max_concurrent_polls`: the first cycles that run at once).
    pub prefetch: usize,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("apis", &self.apis.len())
            .field("topics", &self.topics)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A started connector: the pollers and what they share.
#[derive(Debug)]
pub struct Started {
    /// One per organization, with its pool of keys.
    pub pollers: Vec<OrgPoller>,
    /// Every key, placed in its organization's pool ([`KeyRing`]).
    pub ring: Arc<KeyRing>,
    /// Keys Streak rejected before their organization was known.
    pub rejected: Vec<RejectedKey>,
    /// Keys whose organization could not be learned (Streak unreachable): the key
    /// rotation of `run` tries them again.
    pub pending: Vec<(String, String)>,
    pub context: Arc<PollContext>,
    pub decoder: Decoder,
}

/// The Schema Registry client of `settings` (no request is made).
pub(crate) fn registry_client(
    settings: &RegistrySettings,
) -> Result<RegistryClient, RegistryError> {
    // The configuration guarantees both or neither.
    let auth = match (&settings.username, &settings.password) {
        (Some(u), Some(p)) => Some(RegistryAuth::new(u.clone(), p.expose().to_string())),
        _ => None,
    };
    RegistryClient::new(RegistryConfig::new(settings.url.as_str()).with_auth(auth))
}

/// Schemas, encoder and decoder (registering the subjects when a registry is set).
pub(crate) async fn codecs(
    config: &Config,
    source: SourceInfo,
    metrics: &Arc<Metrics>,
) -> Result<(Encoder, Decoder), StartupError> {
    let schemas = Arc::new(Schemas::load().map_err(StartupError::Schemas)?);
    match &config.schema_registry {
        None => Ok((
            Encoder::single_object(schemas.clone(), source),
            Decoder::new(schemas),
        )),
        Some(r) => {
            let client = registry_client(r).map_err(StartupError::Registry)?;
            let encoder = Encoder::with_registry(
                schemas.clone(),
                source,
                &client,
                &topic_names(config),
                Registration::Register,
                metrics,
            )
            .await
            .map_err(StartupError::Registry)?;
            Ok((
                encoder,
                Decoder::with_registry(schemas, client, Arc::clone(metrics)),
            ))
        }
    }
}

fn topic_names(config: &Config) -> TopicNames {
    TopicNames {
        events: config.kafka.events_topic.clone(),
        state: config.kafka.state_topic.clone(),
    }
}

/// Builds the parts from the configuration: codecs, topics, the transactional
/// producer (`init_transactions`), the state reader and one Streak client per key.
pub(crate) async fn build(config: &Config, options: StartOptions) -> Result<Parts, StartupError> {
    let StartOptions {
        mode,
        topic_policy,
        clock,
        metrics,
        shared,
    } = options;
    let source = SourceInfo {
        connector: config.connector_name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        // The one /status shows, when the HTTP side door named the connector.
        instance: shared.status.instance().unwrap_or_else(instance_id),
    };
    let (encoder, decoder) = codecs(config, source, &metrics).await?;
    let dry_run = matches!(mode, Mode::DryRun(_));
    let policy = if dry_run {
        TopicPolicy::Trust
    } else {
        topic_policy
    };
    let kafka = KafkaConfig {
        topic_policy: policy,
        ..config.kafka.clone()
    };
    kafka.validate()?;
    ensure_topics(&kafka, &metrics).await?;
    let sink = async {
        let sink: Arc<dyn TransactionalSink> = if dry_run {
            Arc::new(NoSink)
        } else {
            let pool = ProducerPool::new(&kafka, metrics.clone())?;
            pool.init().await?;
            Arc::new(pool)
        };
        Ok::<_, StartupError>(sink)
    };
    let sink = sink.await?;
    // After init_transactions: a dead instance's open transaction no longer holds
    // the findings topic's stable end back.
    let reconcile = match &config.reconcile {
        Some(settings) => Some(Arc::new(
            super::reconcile::Continuous::start(&kafka, settings, metrics.clone()).await?,
        )),
        None => None,
    };
    let topics = topic_names(config);
    let state = Arc::new(StateReader::new(
        KafkaStateSource::new(kafka, metrics.clone()),
        decoder.clone(),
        topics.clone(),
        metrics.clone(),
    ));

    let client_config = config.streak.clone();
    let mut apis: Vec<Arc<dyn StreakApi>> = Vec::new();
    for key in &config.api_keys {
        let key = ApiKey::new(key.expose().to_string())?;
        apis.push(Arc::new(StreakClient::new(
            client_config.clone(),
            key,
            metrics.clone(),
        )?));
    }
    Ok(Parts {
        metrics,
        shared,
        apis,
        state,
        sink,
        encoder,
        decoder,
        topics,
        ocsf: OcsfOutput::new(config.kafka.ocsf_topic.as_deref(), config.ocsf_severity),
        settings: membership::Settings {
            inactive_after_ms: config.inactive_after.as_millis() as i64,
            min_departures: config.guard.min_departures,
            max_departure_fraction: config.guard.max_departure_fraction,
        },
        record_limit: RecordLimit::of(&config.kafka),
        inactivity: super::InactivityLimits {
            min_members: config.guard.min_inactive,
            max_fraction: config.guard.max_inactive_fraction,
        },
        clock,
        mode,
        reconcile,
        prefetch: config.max_concurrent_polls,
    })
}

/// Restores every organization's state, places every API key in its
/// organization's pool (`GET /users/me`) and builds one poller per organization,
/// ready for the scheduler.
pub(crate) async fn start(mut parts: Parts) -> Result<Started, StartupError> {
    let dry_run = matches!(parts.mode, Mode::DryRun(_));
    let ring = Arc::new(KeyRing::new(
        crate::keypool::PoolSettings::default(),
        parts.metrics.clone(),
        parts.clock.clone(),
    ));
    let keys = parts.apis.len();
    // The keys' `GET /users/me` and then the first organizations' listings
    // (Streak) while the state topic is read (Kafka): neither needs the other, and
    // a start waits for the longer only.
    let apis = std::mem::take(&mut parts.apis);
    let place_and_prefetch = async {
        let (rejected, pending) = admit(&ring, apis).await;
        let prefetches: HashMap<String, Prefetch> = (ring.orgs().into_iter())
            .take(parts.prefetch)
            .map(|keys| {
                let org = keys.org_key().to_owned();
                (org, Prefetch::spawn(keys, parts.clock.clone()))
            })
            .collect();
        (rejected, pending, prefetches)
    };
    let (restored, (rejected, pending, mut prefetches)) =
        tokio::join!(parts.state.restore(), place_and_prefetch);
    let restored = match restored {
        Ok(r) => r,
        // Nothing was ever committed: a dry run starts from nothing.
        Err(StartupError::Restore(RestoreError::MissingTopic(_))) if dry_run => HashMap::new(),
        Err(e) => return Err(e),
    };
    parts.shared.health.set_restored();

    let context = Arc::new(PollContext {
        metrics: parts.metrics,
        health: parts.shared.health,
        holds: parts.shared.holds,
        inactivity: parts.inactivity,
        commit_gate: tokio::sync::Semaphore::new(parts.sink.parallelism()),
        sink: parts.sink,
        encoder: parts.encoder,
        events_topic: parts.topics.events,
        state_topic: parts.topics.state,
        ocsf: parts.ocsf,
        settings: parts.settings,
        record_limit: parts.record_limit,
        chunk_members: super::DEFAULT_CHUNK_MEMBERS,
        clock: parts.clock,
        mode: parts.mode,
        restored: Mutex::new(restored),
        orgs: parts.shared.orgs,
        status: parts.shared.status,
        reconcile: parts.reconcile,
    });
    let pollers: Vec<OrgPoller> = ring
        .orgs()
        .into_iter()
        .map(|keys| {
            let prefetch = prefetches.remove(keys.org_key());
            let poller = OrgPoller::new(keys, context.clone());
            match prefetch {
                Some(prefetch) => poller.with_prefetch(prefetch),
                None => poller,
            }
        })
        .collect();
    // A key whose organization could not be learned (Streak unreachable) is tried
    // again by `run` every 30 s; until then it keeps `/readyz` at 503.
    for (fp, _) in &pending {
        (context.health).unplaced(&format!("key:{fp}"), "organization_unknown");
    }
    if pollers.is_empty() && pending.is_empty() {
        let reasons = rejected
            .iter()
            .map(ToString::to_string)
            .chain(pending.iter().map(|(fp, e)| format!("API key {fp}: {e}")))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(StartupError::NoUsableKey { keys, reasons });
    }
    Ok(Started {
        pollers,
        ring,
        rejected,
        pending,
        context,
        decoder: parts.decoder,
    })
}

/// Places every key in its organization's pool (`GET /users/me`): the keys
/// Streak refused, and those whose organization could not be learned.
async fn admit(
    ring: &KeyRing,
    apis: Vec<Arc<dyn StreakApi>>,
) -> (Vec<RejectedKey>, Vec<(String, String)>) {
    let (mut rejected, mut pending) = (Vec::new(), Vec::new());
    for api in apis {
        let fp = api.key_fingerprint().to_owned();
        match ring.admit(api).await {
            Admitted::Rejected(key) => rejected.push(key),
            Admitted::Pending { error } => pending.push((fp, error)),
            Admitted::NewOrganization(_) | Admitted::Joined { .. } | Admitted::AlreadyKnown => {}
        }
    }
    (rejected, pending)
}

/// The sink of a dry run: never called (the poller stops before committing).
#[derive(Debug)]
struct NoSink;

#[async_trait::async_trait]
impl TransactionalSink for NoSink {
    async fn commit_batch(
        &self,
        _records: Vec<crate::kafka::OutRecord>,
    ) -> Result<crate::kafka::CommitStats, crate::kafka::PublishError> {
        Err(crate::kafka::PublishError::NotInitialized)
    }
}
