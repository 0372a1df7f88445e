//! Start-up: everything that must work before the first poll, in order, failing
//! here rather than at 3 a.m.
//!
//! 1. Parse the embedded schemas; register them when a Schema Registry is set.
//! 2. Create or check the topics (the state topic must be compacted).
//! 3. `init_transactions`: fences a zombie with the same transactional id and
//!    aborts its open transaction (skipped by `--dry-run`, which must not fence the
//!    live instance).
//! 4. Read the state topic from beginning to end, read committed, and rebuild every
//!    organization's state.
//! 5. Build one Streak client and one poller per API key.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::FutureExt as _;

use super::events::StateRestored;
use super::poller::{Clock, Mode, OrgPoller, PollContext};
use crate::avro::{
    Decoder, Encoder, Registration, RegistryAuth, RegistryClient, RegistryConfig, Schemas,
    TopicNames,
};
use crate::config::{Config, RegistrySettings};
use crate::kafka::{
    ensure_topics, KafkaConfig, KafkaStateSource, RestoreError, StateSource, TopicPolicy,
    TransactionalPublisher, TransactionalSink,
};
use crate::membership::{self, Checkpoint, OrgState, SourceInfo, StateRecord};
use crate::metrics::Metrics;
use crate::server::{Health, Releases};
use crate::streak::{ApiKey, StreakApi, StreakClient};

/// Why the connector cannot start. Every variant is fatal; the message says what to
/// fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("embedded Avro schemas: {0}")]
    Schemas(String),
    #[error("schema registry: {0}")]
    Registry(String),
    #[error(transparent)]
    KafkaConfig(#[from] crate::kafka::ConfigError),
    #[error(transparent)]
    Topics(#[from] crate::kafka::TopicError),
    #[error(transparent)]
    Publisher(#[from] crate::kafka::PublishError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("state topic: {0}")]
    State(String),
    #[error("Streak client: {0}")]
    Client(#[from] crate::streak::ApiError),
}

/// How start-up differs between commands.
#[derive(Clone)]
pub struct StartOptions {
    pub mode: Mode,
    pub topic_policy: TopicPolicy,
    pub clock: Clock,
}

impl std::fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartOptions")
            .field("mode", &self.mode)
            .field("topic_policy", &self.topic_policy)
            .finish_non_exhaustive()
    }
}

/// A started connector: the pollers and what they share.
#[derive(Debug)]
pub struct Started {
    pub pollers: Vec<OrgPoller>,
    pub context: Arc<PollContext>,
    pub decoder: Decoder,
}

/// This process's identity in events' `source.instance`: the host (or pod) name and
/// a random start nonce, so two runs of one host are told apart.
pub fn instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    let nonce: u32 = rand::random();
    format!("{host}-{nonce:08x}")
}

/// The Schema Registry client of `settings` (no request is made); the error is the
/// message of [`StartupError::Registry`].
pub fn registry_client(settings: &RegistrySettings) -> Result<RegistryClient, String> {
    // The configuration guarantees both or neither.
    let auth = match (&settings.username, &settings.password) {
        (Some(u), Some(p)) => Some(RegistryAuth::new(u.clone(), p.expose().to_string())),
        _ => None,
    };
    RegistryClient::new(RegistryConfig::new(settings.url.as_str()).with_auth(auth))
        .map_err(|e| e.to_string())
}

/// Schemas, encoder and decoder (registering the subjects when a registry is set).
pub async fn codecs(
    config: &Config,
    source: SourceInfo,
) -> Result<(Encoder, Decoder), StartupError> {
    let schemas = Arc::new(Schemas::load().map_err(|e| StartupError::Schemas(e.to_string()))?);
    match &config.schema_registry {
        None => Ok((
            Encoder::single_object(schemas.clone(), source),
            Decoder::new(schemas),
        )),
        Some(r) => {
            let client = registry_client(r).map_err(StartupError::Registry)?;
            let topics = TopicNames {
                events: config.kafka.events_topic.clone(),
                state: config.kafka.state_topic.clone(),
            };
            let encoder = Encoder::with_registry(
                schemas.clone(),
                source,
                &client,
                &topics,
                Registration::Register,
            )
            .await
            .map_err(|e| StartupError::Registry(e.to_string()))?;
            let decoder = Decoder::with_registry(schemas, client);
            // Warm the decoder with the state schemas just registered: the restore
            // decodes synchronously and would otherwise read the topic again for
            // each writer schema it had not cached yet.
            let probe = encoder
                .encode_state(&StateRecord::Checkpoint(Checkpoint {
                    org_key: "start-up-probe".into(),
                    poll_seq: 0,
                    last_poll_ms: 0,
                    member_count: 0,
                }))
                .map_err(|e| StartupError::Schemas(e.to_string()))?;
            decoder
                .decode_state(&probe.key, probe.value.as_deref())
                .await
                .map_err(|e| StartupError::Registry(e.to_string()))?;
            Ok((encoder, decoder))
        }
    }
}

/// Decodes state records inside the restore (synchronously: it runs on the
/// restore's threads). Single-object records and registry ids already cached
/// decode at once; an id not cached yet fails with [`NeedsSchema`], and
/// [`restore_state`] fetches it and reads the topic again.
#[derive(Debug, thiserror::Error)]
#[error("the writer schema of this record is not cached yet")]
struct NeedsSchema {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
enum StateDecodeError {
    #[error(transparent)]
    Decode(#[from] crate::avro::DecodeError),
    #[error(transparent)]
    NeedsSchema(#[from] NeedsSchema),
}

/// Reads the whole state topic and rebuilds each organization's state.
pub async fn restore_state(
    kafka: &KafkaConfig,
    decoder: &Decoder,
    metrics: &Arc<Metrics>,
) -> Result<HashMap<String, OrgState>, StartupError> {
    let source = KafkaStateSource::new(kafka.clone(), metrics.clone());
    let started = Instant::now();
    // Each round fetches at most one writer schema that was not cached; schemas
    // evolve rarely, so a handful of rounds is plenty.
    for _round in 0..32 {
        let d = decoder.clone();
        let decode =
            move |key: &[u8], value: Option<&[u8]>| -> Result<StateRecord, StateDecodeError> {
                match d.decode_state(key, value).now_or_never() {
                    Some(r) => Ok(r?),
                    None => Err(NeedsSchema {
                        key: key.to_vec(),
                        value: value.map(<[u8]>::to_vec),
                    }
                    .into()),
                }
            };
        match source.restore(decode).await {
            Ok(restored) => {
                let mut orgs: HashMap<String, OrgState> = HashMap::new();
                for (_, record) in restored.entries {
                    match record {
                        StateRecord::Member {
                            org_key,
                            state: Some(state),
                            ..
                        } => {
                            orgs.entry(org_key.clone())
                                .or_insert_with(|| OrgState::new(org_key))
                                .insert(state);
                        }
                        StateRecord::Member { state: None, .. } => {}
                        StateRecord::Checkpoint(c) => {
                            let org_key = c.org_key.clone();
                            orgs.entry(org_key.clone())
                                .or_insert_with(|| OrgState::new(org_key))
                                .set_checkpoint(c);
                        }
                    }
                }
                StateRestored {
                    records: restored.stats.records,
                    organizations: orgs.len(),
                    members: orgs.values().map(OrgState::len).sum(),
                    duration: started.elapsed(),
                }
                .emit(metrics);
                return Ok(orgs);
            }
            Err(e) => {
                let needs_schema = match &e {
                    RestoreError::Undecodable { source, .. } => {
                        match source.downcast_ref::<StateDecodeError>() {
                            Some(StateDecodeError::NeedsSchema(n)) => Some(n),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let Some(n) = needs_schema else {
                    return Err(e.into());
                };
                // Fetch (and cache) the writer schemas of that record, then read again.
                decoder
                    .decode_state(&n.key, n.value.as_deref())
                    .await
                    .map_err(|e| StartupError::State(e.to_string()))?;
            }
        }
    }
    Err(StartupError::State(
        "too many distinct writer schemas in the state topic".into(),
    ))
}

/// Runs start-up and returns the pollers, ready for the scheduler.
pub async fn start(
    config: &Config,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    releases: Arc<Releases>,
    orgs: Arc<Mutex<Vec<String>>>,
    options: StartOptions,
) -> Result<Started, StartupError> {
    let source = SourceInfo {
        connector: config.connector_name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        instance: instance_id(),
    };
    let (encoder, decoder) = codecs(config, source).await?;
    let dry_run = matches!(options.mode, Mode::DryRun(_));
    let policy = if dry_run {
        TopicPolicy::Trust
    } else {
        options.topic_policy
    };
    let kafka = KafkaConfig {
        topic_policy: policy,
        ..config.kafka.clone()
    };
    kafka.validate()?;
    ensure_topics(&kafka).await?;

    let sink: Arc<dyn TransactionalSink> = if dry_run {
        Arc::new(NoSink)
    } else {
        let publisher = TransactionalPublisher::new(&kafka, metrics.clone())?;
        publisher.init().await?;
        tracing::info!(
            transactional_id = publisher.transactional_id(),
            "Transactions initialised"
        );
        Arc::new(publisher)
    };

    let restored = match restore_state(&kafka, &decoder, &metrics).await {
        Ok(r) => r,
        // Nothing was ever committed: a dry run starts from nothing.
        Err(StartupError::Restore(RestoreError::MissingTopic(_))) if dry_run => HashMap::new(),
        Err(e) => return Err(e),
    };
    health.set_restored();

    let context = Arc::new(PollContext {
        metrics: metrics.clone(),
        health,
        releases,
        sink,
        encoder,
        events_topic: config.kafka.events_topic.clone(),
        state_topic: config.kafka.state_topic.clone(),
        settings: membership::Settings {
            inactive_after_ms: config.inactive_after.as_millis() as i64,
            min_departures: config.guard.min_departures,
            max_departure_fraction: config.guard.max_departure_fraction,
        },
        clock: options.clock,
        mode: options.mode,
        restored: Mutex::new(restored),
        claimed: Mutex::new(HashSet::new()),
        orgs,
    });

    let client_config = config.streak.clone();
    let mut pollers = Vec::new();
    for key in &config.api_keys {
        let key = ApiKey::new(key.expose().to_string())?;
        let client = StreakClient::new(client_config.clone(), key, metrics.clone())?;
        let api: Arc<dyn StreakApi> = Arc::new(client);
        pollers.push(OrgPoller::new(api, context.clone()));
    }
    Ok(Started {
        pollers,
        context,
        decoder,
    })
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
