//! Decoding of Kafka key and value bytes written in either framing back into domain
//! types (state restore, tests) or into JSON (`tail`).
//!
//! Writer schemas come from the embedded schemas by fingerprint (single-object) or
//! from the Schema Registry by id (Confluent, fetched once per id and cached; the
//! state topic's are fetched up front by [`Decoder::prefetch_writer_schemas`], so
//! that the restore decodes synchronously with [`Decoder::decode_state_cached`]).
//! Data written with an older released schema is resolved to the current one, so
//! the domain always sees current-shape values. The decoder never guesses: bytes it
//! cannot account for are a typed error.

use std::collections::BTreeSet;
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::Schema;

use crate::membership::{RestoredRecord, StateRecord};
use crate::metrics::Metrics;
use crate::telemetry::InternalEvent;

use super::convert;
use super::decoded::{state_record, DecodedEvent, MembershipKey};
use super::direct_decode;
use super::errors::DecodeError;
use super::json;
use super::registry::RegistryClient;
use super::schemas::{ParsedSchema, SchemaRole, Schemas};
use super::subjects::{key_subject, value_subject, TopicNames};
use super::telemetry::{WriterSchemaFetched, WriterSchemasPrefetched};
use super::wire::{parse_frame, Frame};
use super::writer_cache::{WriterCache, WriterSchema};

/// Decodes both framings. Cheap to clone; clones share the schema cache.
#[derive(Debug, Clone)]
pub struct Decoder {
    schemas: Arc<Schemas>,
    registry: Option<Registry>,
    writers: WriterCache,
}

/// The registry a decoder fetches Confluent writer schemas from, and the metrics
/// its telemetry goes to.
#[derive(Debug, Clone)]
struct Registry {
    client: RegistryClient,
    metrics: Arc<Metrics>,
}

/// The writer schema of one record: embedded (single-object) or fetched by id.
enum WriterRef<'s> {
    Embedded(&'s ParsedSchema),
    Fetched(Arc<WriterSchema>),
}

/// What decoding needs to know about a writer schema.
struct Writer<'a> {
    schema: &'a Schema,
    role: Option<SchemaRole>,
    name: &'a str,
    is_current: bool,
}

impl WriterRef<'_> {
    fn view(&self, schemas: &Schemas) -> Writer<'_> {
        match self {
            WriterRef::Embedded(p) => Writer {
                schema: &p.schema,
                role: Some(p.role),
                name: p.role.record_name(),
                is_current: p.fingerprint == schemas.current(p.role).fingerprint,
            },
            WriterRef::Fetched(w) => Writer {
                schema: &w.schema,
                role: w.role,
                name: &w.name,
                is_current: w.is_current,
            },
        }
    }
}

impl Decoder {
    /// A decoder for single-object data only; Confluent-framed records fail with
    /// [`DecodeError::RegistryRequired`].
    pub fn new(schemas: Arc<Schemas>) -> Decoder {
        Decoder {
            schemas,
            registry: None,
            writers: WriterCache::default(),
        }
    }

    /// A decoder for both framings, fetching Confluent writer schemas from
    /// `registry`; its telemetry goes to `metrics`.
    pub fn with_registry(
        schemas: Arc<Schemas>,
        registry: RegistryClient,
        metrics: Arc<Metrics>,
    ) -> Decoder {
        Decoder {
            registry: Some(Registry {
                client: registry,
                metrics,
            }),
            ..Decoder::new(schemas)
        }
    }

    /// Fetch and cache the writer schema of every registered version of the state
    /// topic's key and value subjects (`GET /subjects/{s}/versions`, then each
    /// version), so that [`Decoder::decode_state_cached`] decodes every record the
    /// connector wrote there without I/O. Returns the number of distinct schema ids
    /// of those versions; 0 without a registry. Call at start-up, before the restore.
    pub async fn prefetch_writer_schemas(&self, topics: &TopicNames) -> Result<usize, DecodeError> {
        let Some(registry) = &self.registry else {
            return Ok(0);
        };
        let subjects = [key_subject(&topics.state), value_subject(&topics.state)];
        let mut ids = BTreeSet::new();
        for subject in &subjects {
            for version in registry.client.subject_versions(subject).await? {
                let (id, text) = registry.client.subject_version(subject, version).await?;
                if ids.insert(id) && self.writers.get(id).is_none() {
                    let writer = WriterSchema::parse(id, &text, &self.schemas)?;
                    self.writers.insert(id, Arc::new(writer));
                }
            }
        }
        WriterSchemasPrefetched {
            subjects: &subjects,
            schemas: ids.len(),
        }
        .emit(&registry.metrics);
        Ok(ids.len())
    }

    async fn fetch_writer(&self, id: u32) -> Result<Arc<WriterSchema>, DecodeError> {
        if let Some(w) = self.writers.get(id) {
            return Ok(w);
        }
        let registry = self
            .registry
            .as_ref()
            .ok_or(DecodeError::RegistryRequired { id })?;
        let text = registry.client.schema_by_id(id).await?;
        let writer = Arc::new(WriterSchema::parse(id, &text, &self.schemas)?);
        WriterSchemaFetched { id }.emit(&registry.metrics);
        self.writers.insert(id, Arc::clone(&writer));
        Ok(writer)
    }

    /// The writer schema of `frame`, fetching a Confluent id not cached yet.
    async fn writer(&self, frame: &Frame<'_>) -> Result<WriterRef<'_>, DecodeError> {
        match *frame {
            Frame::Confluent { id, .. } => self.fetch_writer(id).await.map(WriterRef::Fetched),
            Frame::SingleObject { .. } => self.writer_cached(frame),
        }
    }

    /// The writer schema of `frame` without I/O: embedded, or a cached id.
    fn writer_cached(&self, frame: &Frame<'_>) -> Result<WriterRef<'_>, DecodeError> {
        match *frame {
            Frame::SingleObject { fingerprint, .. } => self
                .schemas
                .by_fingerprint(fingerprint)
                .map(WriterRef::Embedded)
                .ok_or(DecodeError::UnknownFingerprint { fingerprint }),
            Frame::Confluent { id, .. } => match (&self.registry, self.writers.get(id)) {
                (_, Some(w)) => Ok(WriterRef::Fetched(w)),
                (None, None) => Err(DecodeError::RegistryRequired { id }),
                (Some(_), None) => Err(DecodeError::NotCached { id }),
            },
        }
    }

    /// The body of `frame`, written with `writer`, as a `role` record: straight
    /// from the bytes (`direct`) when the writer schema is the current one, else
    /// resolved to the current schema by apache-avro and converted (`convert`).
    fn decode_with<T>(
        &self,
        frame: &Frame<'_>,
        writer: &WriterRef<'_>,
        role: SchemaRole,
        direct: fn(&[u8]) -> Result<T, DecodeError>,
        convert: fn(Value) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let w = writer.view(&self.schemas);
        if w.role != Some(role) {
            return Err(DecodeError::WrongSchema {
                expected: role.record_name(),
                found: w.name.to_owned(),
            });
        }
        if w.is_current {
            return direct(frame.body());
        }
        let value = read_datum(w.schema, frame.body(), role)?
            .resolve(&self.schemas.current(role).schema)
            .map_err(|e| DecodeError::Unresolvable {
                role,
                source: Box::new(e),
            })?;
        convert(value)
    }

    /// A key, without I/O.
    fn key_cached(&self, bytes: &[u8]) -> Result<MembershipKey, DecodeError> {
        let frame = parse_frame(bytes)?;
        let writer = self.writer_cached(&frame)?;
        let (direct, convert) = (direct_decode::key, convert::key_from_value);
        self.decode_with(&frame, &writer, SchemaRole::Key, direct, convert)
    }

    /// A key of either topic.
    pub async fn decode_key(&self, key: &[u8]) -> Result<MembershipKey, DecodeError> {
        let frame = parse_frame(key)?;
        let writer = self.writer(&frame).await?;
        let (direct, convert) = (direct_decode::key, convert::key_from_value);
        self.decode_with(&frame, &writer, SchemaRole::Key, direct, convert)
    }

    /// The value of an events-topic record.
    pub async fn decode_event_value(&self, value: &[u8]) -> Result<DecodedEvent, DecodeError> {
        let frame = parse_frame(value)?;
        let writer = self.writer(&frame).await?;
        let (direct, convert) = (direct_decode::event, convert::event_from_value);
        self.decode_with(&frame, &writer, SchemaRole::Event, direct, convert)
    }

    /// An events-topic record, checking that its key names the event's member.
    /// Fetches a writer schema not cached yet.
    pub async fn decode_event(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<DecodedEvent, DecodeError> {
        self.writer(&parse_frame(key)?).await?;
        self.writer(&parse_frame(value)?).await?;
        self.decode_event_cached(key, value)
    }

    /// [`Decoder::decode_event`] from the writer schemas at hand (the embedded ones
    /// and the registry's cached ones), without I/O. A key written with the current
    /// key schema is compared with the event straight from its bytes, nothing
    /// allocated; any other goes through the key's general decode.
    pub fn decode_event_cached(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<DecodedEvent, DecodeError> {
        let key_frame = parse_frame(key)?;
        let borrowed = self
            .is_current(&key_frame, SchemaRole::Key)
            .then(|| direct_decode::key_names(key_frame.body()))
            .flatten();
        let owned;
        let (org_key, user_key) = match borrowed {
            Some(names) => names,
            None => {
                owned = self.key_cached(key)?;
                (owned.org_key.as_str(), owned.user_key.as_deref())
            }
        };
        let frame = parse_frame(value)?;
        let writer = self.writer_cached(&frame)?;
        let (direct, convert) = (direct_decode::event, convert::event_from_value);
        let decoded = self.decode_with(&frame, &writer, SchemaRole::Event, direct, convert)?;
        let e = &decoded.event;
        if org_key != e.org_key || user_key != Some(e.user_key.as_str()) {
            return Err(DecodeError::KeyMismatch {
                reason: format!(
                    "key ({}, {}) but event ({}, {})",
                    org_key,
                    user_key.unwrap_or("null"),
                    e.org_key,
                    e.user_key
                ),
            });
        }
        Ok(decoded)
    }

    /// A state-topic record; `value: None` is a tombstone. Fetches a writer schema
    /// not cached yet.
    pub async fn decode_state(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<StateRecord, DecodeError> {
        let key = self.decode_key(key).await?;
        let parts = match value {
            Some(bytes) => {
                let frame = parse_frame(bytes)?;
                let writer = self.writer(&frame).await?;
                let (direct, convert) =
                    (direct_decode::state_value, convert::state_parts_from_value);
                Some(self.decode_with(&frame, &writer, SchemaRole::State, direct, convert)?)
            }
            None => None,
        };
        state_record(key, parts)
    }

    /// A state-topic record without I/O (the restore's hot path): single-object
    /// records, and Confluent records whose writer schema is cached (see
    /// [`Decoder::prefetch_writer_schemas`]). Any other id fails with
    /// [`DecodeError::NotCached`] naming it.
    pub fn decode_state_cached(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<StateRecord, DecodeError> {
        let key = self.key_cached(key)?;
        let parts = match value {
            Some(bytes) => {
                let frame = parse_frame(bytes)?;
                let writer = self.writer_cached(&frame)?;
                let (direct, convert) =
                    (direct_decode::state_value, convert::state_parts_from_value);
                Some(self.decode_with(&frame, &writer, SchemaRole::State, direct, convert)?)
            }
            None => None,
        };
        state_record(key, parts)
    }

    /// [`Decoder::decode_state_cached`] into the restore's packed form. A member
    /// record whose key and value were written with the current schemas is read
    /// straight from its bytes into a packed member, its strings borrowed, never
    /// owned. Anything else (a checkpoint, an older writer schema, a record that
    /// does not decode) takes the general path, so it decodes, or fails, exactly
    /// as there.
    pub(crate) fn decode_state_restored(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<RestoredRecord, DecodeError> {
        if let Some(member) = value.and_then(|v| self.packed_member(key, v)) {
            return Ok(member);
        }
        self.decode_state_cached(key, value)
            .map(RestoredRecord::from)
    }

    fn packed_member(&self, key: &[u8], value: &[u8]) -> Option<RestoredRecord> {
        let key = parse_frame(key).ok()?;
        let value = parse_frame(value).ok()?;
        if !self.is_current(&key, SchemaRole::Key) || !self.is_current(&value, SchemaRole::State) {
            return None;
        }
        direct_decode::packed_member(key.body(), value.body())
    }

    /// Whether `frame` was written with the current schema of `role`, without I/O.
    fn is_current(&self, frame: &Frame<'_>, role: SchemaRole) -> bool {
        self.writer_cached(frame).is_ok_and(|w| {
            let w = w.view(&self.schemas);
            w.role == Some(role) && w.is_current
        })
    }

    /// Any record in either framing as JSON, exactly as its writer schema has it
    /// (no resolution): for `tail`. Unions are unwrapped, enums and UUIDs are
    /// strings, timestamps are epoch milliseconds.
    pub async fn decode_json(&self, bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
        let frame = parse_frame(bytes)?;
        let writer = self.writer(&frame).await?;
        let w = writer.view(&self.schemas);
        // Unknown record names decode too; the role only labels errors.
        let role = w.role.unwrap_or(SchemaRole::Event);
        let value = read_datum(w.schema, frame.body(), role)?;
        Ok(json::value_to_json(value))
    }
}

fn read_datum(schema: &Schema, body: &[u8], role: SchemaRole) -> Result<Value, DecodeError> {
    let mut reader = body;
    let value = apache_avro::from_avro_datum(schema, &mut reader, None).map_err(|e| {
        DecodeError::Malformed {
            role,
            reason: e.to_string(),
        }
    })?;
    if !reader.is_empty() {
        return Err(DecodeError::TrailingBytes {
            count: reader.len(),
        });
    }
    // apache-avro 0.21 decodes a string cut short by the end of the input as null
    // instead of failing; validation against the writer schema catches that.
    if !value.validate(schema) {
        return Err(DecodeError::Malformed {
            role,
            reason: "the datum ends early or does not match its writer schema".to_owned(),
        });
    }
    Ok(value)
}
