//! The restore as the start-up sees it: one call that yields every organization's
//! committed state.
//!
//! [`StateReader`] joins the three pieces: the writer schemas are fetched up front
//! (so the decode inside the restore is synchronous and does no I/O), any
//! [`StateSource`] reads the live records (the Kafka state topic, or its in-memory
//! twin [`crate::kafka::MemoryStore`]), and [`membership::fold_state`] folds them (packed as decoded) into
//! each organization's [`OrgState`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::startup_error::StartupError;
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
                decoder.decode_state_restored(key, value)
            })
            .await?;
        let records = restored.stats.records;
        super::state_keys::one_key_per_subject(&restored.entries)?;
        let sizes = membership::member_counts(restored.entries.iter().map(|(_, r)| r));
        let orgs = membership::fold_restored(restored.entries.into_iter().map(|(_, r)| r), &sizes);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::{Encoder, Schemas};
    use crate::kafka::{MemoryStore, OutRecord, TransactionalSink as _};
    use crate::membership::{Checkpoint, Member, MemberState, SourceInfo, StateRecord};

    fn member(org: &str, user: &str) -> StateRecord {
        StateRecord::Member {
            org_key: org.into(),
            user_key: user.into(),
            state: Some(MemberState {
                member: Member {
                    key: user.into(),
                    ..Member::default()
                },
                inactive: false,
                first_seen_ms: 1,
                last_changed_ms: 2,
            }),
        }
    }

    #[tokio::test]
    async fn the_twin_restores_each_organization_with_its_checkpoint() {
        let metrics = Arc::new(Metrics::new());
        let schemas = Arc::new(Schemas::load().expect("schemas"));
        let source = SourceInfo {
            connector: "t".into(),
            version: "0".into(),
            instance: "i".into(),
        };
        let encoder = Encoder::single_object(schemas.clone(), source);
        let store = MemoryStore::new("state", metrics.clone());
        let records = [
            member("a", "u1"),
            member("a", "u2"),
            member("b", "u3"),
            StateRecord::Checkpoint(Checkpoint {
                org_key: "a".into(),
                poll_seq: 4,
                last_poll_ms: 0,
                member_count: 2,
                incarnation: None,
            }),
        ];
        let batch = records
            .iter()
            .map(|r| {
                let e = encoder.encode_state(r).expect("encodes");
                OutRecord {
                    topic: "state".into(),
                    key: e.key,
                    value: e.value,
                }
            })
            .collect();
        store.commit_batch(batch).await.expect("commits");
        let topics = TopicNames {
            events: "events".into(),
            state: "state".into(),
        };
        let reader = StateReader::new(store, Decoder::new(schemas), topics, metrics);
        let orgs = reader.restore().await.expect("restores");
        assert_eq!(orgs.len(), 2);
        assert_eq!(orgs["a"].len(), 2);
        assert_eq!(orgs["a"].checkpoint().map(|c| c.poll_seq), Some(4));
        assert_eq!(orgs["b"].len(), 1);
        assert!(orgs["b"].checkpoint().is_none());
    }
}
