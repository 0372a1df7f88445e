//! Encoding of change events and state records into Kafka key and value bytes, in
//! the Confluent wire format (with a Schema Registry) or in Avro single-object
//! encoding (without). Schema ids are resolved once, at construction; encoding
//! itself does no I/O.

use std::sync::{Arc, Mutex};

use apache_avro::headers::HeaderBuilder;
use apache_avro::types::Value;
use apache_avro::GenericSingleObjectWriter;

use crate::membership::{ChangeEvent, SourceInfo, StateRecord};
use crate::metrics::Metrics;
use crate::telemetry::InternalEvent;

use super::convert;
use super::errors::{EncodeError, RegistryError};
use super::registry::RegistryClient;
use super::schemas::{SchemaRole, Schemas};
use super::subjects::{key_subject, value_subject, Registration, TopicNames};
use super::telemetry::SchemaRegistered;
use super::wire::{confluent_header, single_object_header, WireFormat};

/// The registry ids of the four subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaIds {
    pub events_key: u32,
    pub events_value: u32,
    pub state_key: u32,
    pub state_value: u32,
}

/// A Kafka record's bytes. `value: None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// apache-avro's writer that keeps its schema resolved between calls (the
/// `to_avro_datum` path resolves the schema twice per record) insists on a header of
/// 10 to 20 bytes; it writes this placeholder, which `frame` swaps for the real one.
const PLACEHOLDER_LEN: usize = 10;

struct PlaceholderHeader;

impl HeaderBuilder for PlaceholderHeader {
    fn build_header(&self) -> Vec<u8> {
        vec![0; PLACEHOLDER_LEN]
    }
}

fn role_index(role: SchemaRole) -> usize {
    match role {
        SchemaRole::Key => 0,
        SchemaRole::Event => 1,
        SchemaRole::State => 2,
    }
}

/// One resolved writer per role, built on first use and shared by clones.
#[derive(Default)]
struct Writers([Mutex<Option<GenericSingleObjectWriter>>; 3]);

impl std::ops::Index<usize> for Writers {
    type Output = Mutex<Option<GenericSingleObjectWriter>>;
    fn index(&self, i: usize) -> &Self::Output {
        &self.0[i]
    }
}

impl std::fmt::Debug for Writers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writers")
    }
}

/// Encodes events and state records. Build one at start-up; cheap to clone.
#[derive(Debug, Clone)]
pub struct Encoder {
    schemas: Arc<Schemas>,
    source: SourceInfo,
    format: WireFormat,
    events_key_header: Vec<u8>,
    events_value_header: Vec<u8>,
    state_key_header: Vec<u8>,
    state_value_header: Vec<u8>,
    writers: Arc<Writers>,
}

impl Encoder {
    /// Single-object encoding: no registry needed; any consumer holding
    /// `schemas/` can decode.
    pub fn single_object(schemas: Arc<Schemas>, source: SourceInfo) -> Encoder {
        let key = single_object_header(schemas.current(SchemaRole::Key).fingerprint);
        let event = single_object_header(schemas.current(SchemaRole::Event).fingerprint);
        let state = single_object_header(schemas.current(SchemaRole::State).fingerprint);
        Encoder {
            schemas,
            source,
            format: WireFormat::SingleObject,
            events_key_header: key.clone(),
            events_value_header: event,
            state_key_header: key,
            state_value_header: state,
            writers: Arc::default(),
        }
    }

    /// Confluent wire format with ids already known (tests, benchmarks, or a caller
    /// that resolved them itself).
    pub fn with_schema_ids(schemas: Arc<Schemas>, source: SourceInfo, ids: SchemaIds) -> Encoder {
        Encoder {
            schemas,
            source,
            format: WireFormat::Confluent,
            events_key_header: confluent_header(ids.events_key),
            events_value_header: confluent_header(ids.events_value),
            state_key_header: confluent_header(ids.state_key),
            state_value_header: confluent_header(ids.state_value),
            writers: Arc::default(),
        }
    }

    /// Confluent wire format: register (or look up) the four subjects
    /// `<events>-key`, `<events>-value`, `<state>-key`, `<state>-value` and cache
    /// their ids. Call at start-up; an error is fatal there and names the subject.
    /// The telemetry of each resolution goes to `metrics`.
    pub async fn with_registry(
        schemas: Arc<Schemas>,
        source: SourceInfo,
        registry: &RegistryClient,
        topics: &TopicNames,
        registration: Registration,
        metrics: &Metrics,
    ) -> Result<Encoder, RegistryError> {
        let resolve = |subject: String, role: SchemaRole| {
            let text = schemas.current(role).text;
            async move {
                let id = match registration {
                    Registration::Register => registry.register(&subject, text).await?,
                    Registration::LookupOnly => registry.lookup(&subject, text).await?,
                };
                SchemaRegistered {
                    subject: &subject,
                    id,
                    registration,
                }
                .emit(metrics);
                Ok::<u32, RegistryError>(id)
            }
        };
        let ids = SchemaIds {
            events_key: resolve(key_subject(&topics.events), SchemaRole::Key).await?,
            events_value: resolve(value_subject(&topics.events), SchemaRole::Event).await?,
            state_key: resolve(key_subject(&topics.state), SchemaRole::Key).await?,
            state_value: resolve(value_subject(&topics.state), SchemaRole::State).await?,
        };
        Ok(Encoder::with_schema_ids(schemas, source, ids))
    }

    pub fn wire_format(&self) -> WireFormat {
        self.format
    }

    fn frame(&self, header: &[u8], role: SchemaRole, value: Value) -> Result<Vec<u8>, EncodeError> {
        let avro = |e| EncodeError::Avro {
            role,
            source: Box::new(e),
        };
        let slot = &self.writers[role_index(role)];
        // Uncontended in practice (one publisher); a poisoned lock only means a
        // panic elsewhere mid-encode, and the writer resets its buffer per call.
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(
                GenericSingleObjectWriter::new_with_capacity_and_header_builder(
                    &self.schemas.current(role).schema,
                    512,
                    PlaceholderHeader,
                )
                .map_err(avro)?,
            );
        }
        let mut out = Vec::with_capacity(512);
        if let Some(writer) = guard.as_mut() {
            writer.write_value_ref(&value, &mut out).map_err(avro)?;
        }
        drop(guard);
        // Replace the placeholder with the real header.
        out.splice(..PLACEHOLDER_LEN, header.iter().copied());
        Ok(out)
    }

    /// Key (`MembershipKey` with the member) and value (`ChangeEvent`) of an event
    /// for the events topic.
    pub fn encode_event(&self, event: &ChangeEvent) -> Result<EncodedRecord, EncodeError> {
        let key = convert::key_to_value(&event.org_key, Some(&event.user_key));
        let value = convert::event_to_value(event, &self.source)?;
        Ok(EncodedRecord {
            key: self.frame(&self.events_key_header, SchemaRole::Key, key)?,
            value: Some(self.frame(&self.events_value_header, SchemaRole::Event, value)?),
        })
    }

    /// Key and value (`None` for a tombstone) of a record for the state topic. A
    /// checkpoint's key has `user_key` null.
    pub fn encode_state(&self, record: &StateRecord) -> Result<EncodedRecord, EncodeError> {
        let (key, value) = convert::state_to_values(record)?;
        let key = self.frame(&self.state_key_header, SchemaRole::Key, key)?;
        let value = match value {
            Some(v) => Some(self.frame(&self.state_value_header, SchemaRole::State, v)?),
            None => None,
        };
        Ok(EncodedRecord { key, value })
    }
}
