//! The restore as the start-up sees it: one call that yields every organization's
//! committed state.
//!
//! [`StateReader`] joins the three pieces: the writer schemas are fetched up front
//! (so the decode inside the restore is synchronous and does no I/O), any
//! [`StateSource`] reads the live records (the Kafka state topic, or its in-memory
//! twin [`crate::kafka::MemoryStore`]), and [`membership::fold_state`] folds them into
//! each organization's [`OrgState`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::startup::StartupError;
use super::telemetry::OrganizationsRestored;
use crate::avro::{Decoder, TopicNames};
use crate::kafka::StateSource;
use crate::membership::{self, OrgState};
use crate::metrics::Metrics;
use crate::telemetry::InternalEvent as _;

/// Where the start-up gets the committed state of every organization.
#[async_trait]
pub trait Restore: Send + Sync {
    /// Reads every committed state record and folds them, by organization key.
    async fn restore(&self) -> Result<HashMap<String, OrgState>, StartupError>;
}

/// A [`Restore`] over any [`StateSource`], decoding with the connector's decoder.
#[derive(Debug)]
pub struct StateReader<S> {
    source: S,
    decoder: Decoder,
    topics: TopicNames,
    metrics: Arc<Metrics>,
}

impl<S: StateSource> StateReader<S> {
    pub fn new(source: S, decoder: Decoder, topics: TopicNames, metrics: Arc<Metrics>) -> Self {
        StateReader {
            source,
            decoder,
            topics,
            metrics,
        }
    }
}

#[async_trait]
impl<S: StateSource> Restore for StateReader<S> {
    async fn restore(&self) -> Result<HashMap<String, OrgState>, StartupError> {
        let started = Instant::now();
        let schemas = self
            .decoder
            .prefetch_writer_schemas(&self.topics)
            .await
            .map_err(StartupError::WriterSchemas)?;
        let decoder = self.decoder.clone();
        let restored = self
            .source
            .restore(move |key: &[u8], value: Option<&[u8]>| {
                decoder.decode_state_cached(key, value)
            })
            .await?;
        let records = restored.stats.records;
        let orgs = membership::fold_state(restored.entries.into_values());
        OrganizationsRestored {
            records,
            writer_schemas: schemas,
            organizations: orgs.len(),
            members: orgs.values().map(OrgState::len).sum(),
            duration: started.elapsed(),
        }
        .emit(&self.metrics);
        Ok(orgs)
    }
}
