//! Decoding of Kafka key and value bytes written in either framing back into domain
//! types (state restore, tests) or into JSON (`tail`).
//!
//! Writer schemas come from the embedded schemas by fingerprint (single-object) or
//! from the Schema Registry by id (Confluent, fetched once per id and cached). Data
//! written with an older released schema is resolved to the current one, so the
//! domain always sees current-shape values. The decoder never guesses: bytes it
//! cannot account for are a typed error.

use std::collections::HashMap;
use std::future::Future as _;
use std::sync::{Arc, Mutex};

use apache_avro::types::Value;
use apache_avro::Schema;

use crate::membership::StateRecord;

use super::convert::{self, DecodedEvent, MembershipKey};
use super::encoder::{key_subject, value_subject, TopicNames};
use super::events::WriterSchemaFetched;
use super::fingerprint::schema_fingerprint;
use super::json;
use super::registry::{RegistryClient, RegistryError};
use super::schemas::{SchemaRole, Schemas};
use super::wire::{parse_frame, Frame};

/// Writer schemas fetched by id are few (one per subject version); this bounds the
/// cache against a topic full of foreign ids.
const MAX_CACHED_IDS: usize = 1024;

/// Why bytes could not be decoded. Only registry errors can be retried; every other
/// variant means these bytes will never decode with this build: skip the record or
/// stop, as the caller's contract says.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty record: no Avro framing")]
    Empty,
    #[error("record of {len} bytes is shorter than its framing header")]
    Truncated { len: usize },
    /// Neither framing: not written by streak-connector.
    #[error("unknown framing: first byte 0x{first_byte:02x} is neither 0x00 (Confluent) nor 0xC3 0x01 (single-object)")]
    UnknownFraming { first_byte: u8 },
    /// Single-object data written with a schema this build does not hold: a newer
    /// connector wrote it. Upgrade the reader.
    #[error("single-object record written with unknown schema fingerprint {fingerprint:016x}: written by a newer version? upgrade the reader")]
    UnknownFingerprint { fingerprint: u64 },
    /// Confluent framing but no registry configured.
    #[error("record is in Confluent wire format (schema id {id}) but no Schema Registry URL is configured")]
    RegistryRequired { id: u32 },
    /// Fetching the writer schema failed; see the inner error (retriable or not).
    #[error("cannot fetch the writer schema: {0}")]
    Registry(#[from] RegistryError),
    /// The registry's schema for an id does not parse.
    #[error("writer schema {id} from the registry is not a usable Avro schema: {reason}")]
    WriterSchema { id: u32, reason: String },
    /// The bytes hold another kind of record (e.g. a value where a key was expected).
    #[error("expected a {expected} record, found one written with {found}")]
    WrongSchema {
        expected: &'static str,
        found: String,
    },
    /// The body does not decode with its writer schema: corrupt or truncated bytes.
    #[error("malformed {role:?} record: {reason}")]
    Malformed { role: SchemaRole, reason: String },
    #[error("{count} unexpected bytes after the Avro datum")]
    TrailingBytes { count: usize },
    /// The writer schema cannot be read with the current schema (not BACKWARD
    /// compatible).
    #[error("writer schema of a {role:?} record cannot be read with the current schema: {source}")]
    Unresolvable {
        role: SchemaRole,
        #[source]
        source: Box<apache_avro::Error>,
    },
    /// An event type this build does not know (a newer writer, read as UNKNOWN).
    #[error("unknown event type {symbol}: written by a newer version? upgrade the reader")]
    UnknownEventType { symbol: String },
    /// A value the schema allows but the domain does not (a negative counter).
    #[error("invalid value for {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The key and the value disagree.
    #[error("key and value disagree: {reason}")]
    KeyMismatch { reason: String },
    /// A synchronous decode met a schema id whose writer schema was not fetched
    /// up front ([`Decoder::prefetch_writer_schemas`]).
    #[error("writer schema {id} is not registered under the state topic's subjects (not fetched at start-up); was the record written by another producer?")]
    NotCached { id: u32 },
}

impl DecodeError {
    /// Whether decoding the same bytes later may succeed (registry trouble only).
    pub fn is_retriable(&self) -> bool {
        matches!(self, DecodeError::Registry(e) if e.is_retriable())
    }
}

/// A writer schema and what it is.
#[derive(Debug)]
struct WriterSchema {
    schema: Schema,
    /// The role whose record it defines, if any of ours.
    role: Option<SchemaRole>,
    /// Its record's full name (for messages).
    name: String,
    /// Same canonical form as the current schema of its role: no resolution needed.
    is_current: bool,
}

fn role_of(schema: &Schema) -> (Option<SchemaRole>, String) {
    let name = match schema {
        Schema::Record(r) => r.name.fullname(None),
        other => format!(
            "a {:?} schema",
            apache_avro::schema::SchemaKind::from(other)
        ),
    };
    let role = SchemaRole::ALL
        .into_iter()
        .find(|r| r.record_name() == name);
    (role, name)
}

/// Decodes both framings. Cheap to clone; clones share the schema cache.
#[derive(Debug, Clone)]
pub struct Decoder {
    schemas: Arc<Schemas>,
    registry: Option<RegistryClient>,
    by_id: Arc<Mutex<HashMap<u32, Arc<WriterSchema>>>>,
}

enum Writer<'s> {
    Embedded(&'s super::schemas::ParsedSchema),
    Fetched(Arc<WriterSchema>),
}

impl Decoder {
    /// A decoder for single-object data only; Confluent-framed records fail with
    /// [`DecodeError::RegistryRequired`].
    pub fn new(schemas: Arc<Schemas>) -> Decoder {
        Decoder {
            schemas,
            registry: None,
            by_id: Arc::default(),
        }
    }

    /// A decoder for both framings, fetching Confluent writer schemas from `registry`.
    pub fn with_registry(schemas: Arc<Schemas>, registry: RegistryClient) -> Decoder {
        Decoder {
            registry: Some(registry),
            ..Decoder::new(schemas)
        }
    }

    async fn writer_by_id(&self, id: u32) -> Result<Arc<WriterSchema>, DecodeError> {
        if let Some(w) = self.cache().get(&id) {
            return Ok(Arc::clone(w));
        }
        let registry = self
            .registry
            .as_ref()
            .ok_or(DecodeError::RegistryRequired { id })?;
        let text = registry.schema_by_id(id).await?;
        let schema = Schema::parse_str(&text).map_err(|e| DecodeError::WriterSchema {
            id,
            reason: e.to_string(),
        })?;
        let (role, name) = role_of(&schema);
        let is_current = match (role, schema_fingerprint(&text)) {
            (Some(role), Ok(fp)) => fp == self.schemas.current(role).fingerprint,
            _ => false,
        };
        let writer = Arc::new(WriterSchema {
            schema,
            role,
            name,
            is_current,
        });
        WriterSchemaFetched { id }.emit();
        let mut cache = self.cache();
        if cache.len() < MAX_CACHED_IDS {
            cache.insert(id, Arc::clone(&writer));
        }
        Ok(writer)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<WriterSchema>>> {
        // A poisoned cache only means another thread panicked mid-insert; the map
        // itself is still consistent.
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn writer<'a>(&'a self, frame: &Frame<'_>) -> Result<Writer<'a>, DecodeError> {
        match *frame {
            Frame::SingleObject { fingerprint, .. } => self
                .schemas
                .by_fingerprint(fingerprint)
                .map(Writer::Embedded)
                .ok_or(DecodeError::UnknownFingerprint { fingerprint }),
            Frame::Confluent { id, .. } => self.writer_by_id(id).await.map(Writer::Fetched),
        }
    }

    /// Decode `bytes` expected to hold a `role` record, resolved to the current
    /// schema of that role.
    async fn decode_as(&self, bytes: &[u8], role: SchemaRole) -> Result<Value, DecodeError> {
        let frame = parse_frame(bytes)?;
        let writer = self.writer(&frame).await?;
        let (schema, writer_role, name, is_current) = match &writer {
            Writer::Embedded(p) => (
                &p.schema,
                Some(p.role),
                p.role.record_name().to_owned(),
                p.fingerprint == self.schemas.current(p.role).fingerprint,
            ),
            Writer::Fetched(w) => (&w.schema, w.role, w.name.clone(), w.is_current),
        };
        if writer_role != Some(role) {
            return Err(DecodeError::WrongSchema {
                expected: role.record_name(),
                found: name,
            });
        }
        let value = read_datum(schema, body(&frame), role)?;
        if is_current {
            return Ok(value);
        }
        value
            .resolve(&self.schemas.current(role).schema)
            .map_err(|e| DecodeError::Unresolvable {
                role,
                source: Box::new(e),
            })
    }

    /// A key of either topic.
    pub async fn decode_key(&self, key: &[u8]) -> Result<MembershipKey, DecodeError> {
        convert::key_from_value(self.decode_as(key, SchemaRole::Key).await?)
    }

    /// The value of an events-topic record.
    pub async fn decode_event_value(&self, value: &[u8]) -> Result<DecodedEvent, DecodeError> {
        convert::event_from_value(self.decode_as(value, SchemaRole::Event).await?)
    }

    /// An events-topic record, checking that its key names the event's member.
    pub async fn decode_event(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<DecodedEvent, DecodeError> {
        let k = self.decode_key(key).await?;
        let decoded = self.decode_event_value(value).await?;
        let e = &decoded.event;
        if k.org_key != e.org_key || k.user_key.as_deref() != Some(e.user_key.as_str()) {
            return Err(DecodeError::KeyMismatch {
                reason: format!(
                    "key ({}, {}) but event ({}, {})",
                    k.org_key,
                    k.user_key.as_deref().unwrap_or("null"),
                    e.org_key,
                    e.user_key
                ),
            });
        }
        Ok(decoded)
    }

    /// A state-topic record; `value: None` is a tombstone.
    pub async fn decode_state(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<StateRecord, DecodeError> {
        let k = self.decode_key(key).await?;
        let v = match value {
            Some(bytes) => Some(self.decode_as(bytes, SchemaRole::State).await?),
            None => None,
        };
        convert::state_from_values(k, v)
    }

    /// Fetches and caches the writer schemas of the state topic's key and value
    /// subjects, so that [`Decoder::decode_state_cached`] decodes without I/O. A
    /// no-op without a registry. Returns how many schemas were fetched.
    pub async fn prefetch_writer_schemas(&self, topics: &TopicNames) -> Result<usize, DecodeError> {
        let Some(registry) = &self.registry else {
            return Ok(0);
        };
        let mut fetched = 0;
        for (subject, role) in [
            (key_subject(&topics.state), SchemaRole::Key),
            (value_subject(&topics.state), SchemaRole::State),
        ] {
            let id = registry
                .lookup(&subject, self.schemas.current(role).text)
                .await?;
            self.writer_by_id(id).await?;
            fetched += 1;
        }
        Ok(fetched)
    }

    /// [`Decoder::decode_state`] without I/O: a Confluent schema id that is not
    /// cached fails with [`DecodeError::NotCached`].
    pub fn decode_state_cached(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<StateRecord, DecodeError> {
        for bytes in std::iter::once(key).chain(value) {
            if let Frame::Confluent { id, .. } = parse_frame(bytes)? {
                if !self.cache().contains_key(&id) {
                    return Err(DecodeError::NotCached { id });
                }
            }
        }
        // Every writer schema is cached, so nothing below waits.
        let mut decoding = std::pin::pin!(self.decode_state(key, value));
        let waker = std::task::Waker::noop();
        match decoding
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => Err(DecodeError::NotCached { id: 0 }),
        }
    }

    /// Any record in either framing as JSON, exactly as its writer schema has it
    /// (no resolution): for `tail`. Unions are unwrapped, enums and UUIDs are
    /// strings, timestamps are epoch milliseconds.
    pub async fn decode_json(&self, bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
        let frame = parse_frame(bytes)?;
        let writer = self.writer(&frame).await?;
        let (schema, role) = match &writer {
            Writer::Embedded(p) => (&p.schema, p.role),
            // Unknown record names decode too; the role only labels errors.
            Writer::Fetched(w) => (&w.schema, w.role.unwrap_or(SchemaRole::Event)),
        };
        let value = read_datum(schema, body(&frame), role)?;
        Ok(json::value_to_json(value))
    }
}

fn body<'a>(frame: &Frame<'a>) -> &'a [u8] {
    match *frame {
        Frame::Confluent { body, .. } | Frame::SingleObject { body, .. } => body,
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
