//! Encoding of change events and state records into Kafka key and value bytes, in
//! the Confluent wire format (with a Schema Registry) or in Avro single-object
//! encoding (without). Schema ids are resolved once, at construction; encoding
//! itself does no I/O and writes the domain types straight into the buffer
//! (`direct_encode.rs`): one allocation per key and per value.

use std::sync::Arc;

use crate::membership::{ChangeEvent, SourceInfo, StateRecord};
use crate::metrics::Metrics;
use crate::telemetry::InternalEvent;

use super::direct_encode;
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

/// Encodes events and state records. Build one at start-up; cheap to clone.
#[derive(Debug, Clone)]
pub struct Encoder {
    format: WireFormat,
    headers: Arc<Headers>,
}

/// The framing headers of the four kinds of record, and the `source` record every
/// event carries, encoded once.
#[derive(Debug)]
struct Headers {
    events_key: Vec<u8>,
    events_value: Vec<u8>,
    state_key: Vec<u8>,
    state_value: Vec<u8>,
    source: Vec<u8>,
}

impl Encoder {
    /// Single-object encoding: no registry needed; any consumer holding
    /// `schemas/` can decode.
    pub fn single_object(schemas: Arc<Schemas>, source: SourceInfo) -> Encoder {
        debug_assert!(direct_encode::written_for(&schemas));
        let key = single_object_header(schemas.current(SchemaRole::Key).fingerprint);
        let event = single_object_header(schemas.current(SchemaRole::Event).fingerprint);
        let state = single_object_header(schemas.current(SchemaRole::State).fingerprint);
        Encoder {
            format: WireFormat::SingleObject,
            headers: Arc::new(Headers {
                events_key: key.clone(),
                events_value: event,
                state_key: key,
                state_value: state,
                source: direct_encode::source(&source),
            }),
        }
    }

    /// Confluent wire format with ids already known (tests, benchmarks, or a caller
    /// that resolved them itself): the ids of `schemas`' current versions.
    pub fn with_schema_ids(schemas: Arc<Schemas>, source: SourceInfo, ids: SchemaIds) -> Encoder {
        debug_assert!(direct_encode::written_for(&schemas));
        Encoder {
            format: WireFormat::Confluent,
            headers: Arc::new(Headers {
                events_key: confluent_header(ids.events_key),
                events_value: confluent_header(ids.events_value),
                state_key: confluent_header(ids.state_key),
                state_value: confluent_header(ids.state_value),
                source: direct_encode::source(&source),
            }),
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

    /// An upper bound of the key plus value bytes of any record this encoder
    /// writes for one member of organization `org_key` ([`Encoder::encode_event`]
    /// of any of its events, [`Encoder::encode_state`] of its state record), whose
    /// states before and after the poll each hold at most `member_text` bytes of
    /// strings, its key included. Cheap: the poll checks every record against the
    /// producer's limit with it before anything is sent, and encodes only the
    /// members it cannot clear that way.
    ///
    /// Derived from `direct_encode.rs`: a long takes at most 10 bytes, a union
    /// branch or a boolean 1, a string its bytes and a long. A `MemberState` is
    /// then at most its text and 110 bytes; an event (key and value) at most the
    /// organization key twice, the member's text five times (key twice, email,
    /// before, after), the `source` bytes and 350 bytes; a state record less.
    pub fn record_bound(&self, org_key: &str, member_text: usize) -> usize {
        let h = &*self.headers;
        let headers = (h.events_key.len() + h.events_value.len())
            .max(h.state_key.len() + h.state_value.len());
        headers + h.source.len() + 2 * org_key.len() + 5 * member_text + 350
    }

    /// Key (`MembershipKey` with the member) and value (`ChangeEvent`) of an event
    /// for the events topic.
    pub fn encode_event(&self, event: &ChangeEvent) -> Result<EncodedRecord, EncodeError> {
        let h = &*self.headers;
        let mut key = start(
            &h.events_key,
            event.org_key.len() + event.user_key.len() + 4,
        );
        direct_encode::key(&mut key, &event.org_key, Some(&event.user_key));
        let member = event.after.as_ref().or(event.before.as_ref());
        let hint = member.map_or(0, direct_encode::member_size_hint) * 2
            + event.org_key.len()
            + h.source.len()
            + 96;
        let mut value = start(&h.events_value, hint);
        direct_encode::event(&mut value, event, &h.source)?;
        Ok(EncodedRecord {
            key,
            value: Some(value),
        })
    }

    /// Key and value (`None` for a tombstone) of a record for the state topic. A
    /// checkpoint's key has `user_key` null.
    pub fn encode_state(&self, record: &StateRecord) -> Result<EncodedRecord, EncodeError> {
        let h = &*self.headers;
        match record {
            StateRecord::Member {
                org_key,
                user_key,
                state,
            } => {
                let mut key = start(&h.state_key, org_key.len() + user_key.len() + 4);
                direct_encode::key(&mut key, org_key, Some(user_key));
                let value = state.as_ref().map(|s| {
                    let mut value = start(&h.state_value, direct_encode::member_size_hint(s));
                    direct_encode::member_value(&mut value, s);
                    value
                });
                Ok(EncodedRecord { key, value })
            }
            StateRecord::Checkpoint(c) => {
                let mut key = start(&h.state_key, c.org_key.len() + 4);
                direct_encode::key(&mut key, &c.org_key, None);
                let mut value = start(&h.state_value, c.org_key.len() + 40);
                direct_encode::checkpoint_value(&mut value, c)?;
                Ok(EncodedRecord {
                    key,
                    value: Some(value),
                })
            }
        }
    }
}

/// A buffer holding `header`, with room for `body` more bytes.
fn start(header: &[u8], body: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + body);
    out.extend_from_slice(header);
    out
}
