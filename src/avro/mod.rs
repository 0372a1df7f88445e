//! Avro schemas (embedded from `schemas/`), encoding and the Schema Registry client.
//!
//! This module owns the bytes of every Kafka record the connector writes and reads:
//!
//! - [`schemas`](Schemas): the `.avsc` files of `schemas/`, embedded at build time
//!   and parsed once at start-up ([`Schemas::load`]), plus the released versions
//!   under `schemas/history/` (a test holds the current files BACKWARD compatible
//!   with them).
//! - [`Encoder`]: domain events and state records to key and value bytes, in the
//!   Confluent wire format when a Schema Registry is configured (subjects registered
//!   at start-up by TopicNameStrategy, ids cached), in Avro single-object encoding
//!   otherwise.
//! - [`Decoder`]: the reverse, for both framings, into domain types (state restore)
//!   or JSON (`tail`).
//! - [`RegistryClient`]: the few Confluent Schema Registry REST calls used.
//!
//! It must not talk to Kafka or decide what to write: it turns given records into
//! bytes and back. Its only I/O is HTTP to the registry (start-up registration,
//! fetching the state topic's writer schemas before the restore, and unknown writer
//! schemas by id) and [`write_schemas`].
//!
//! Inside, the files depend on each other in one direction only: `errors`,
//! `subjects`, `credentials`, `fingerprint` and `wire` at the bottom; `schemas`,
//! `registry`, `convert` and `writer_cache` above them; `encoder` and `decoder` on
//! top, with their internal events in `telemetry`.
//!
//! Both topics share one key schema (`MembershipKey`: `org_key`, nullable
//! `user_key`), so a member's key bytes are identical in both topics when their ids
//! agree. The key schema is frozen: another version would change the key bytes and
//! compaction of the state topic would keep the old records.

mod binary;
mod convert;
mod credentials;
mod decoded;
mod decoder;
mod direct_decode;
mod direct_encode;
mod encoder;
mod errors;
mod fingerprint;
mod json;
mod registry;
mod schemas;
mod subjects;
mod telemetry;
mod wire;
mod writer_cache;

pub use credentials::RegistryAuth;
pub use decoded::{DecodedEvent, MembershipKey};
pub use decoder::Decoder;
pub use encoder::{EncodedRecord, Encoder, SchemaIds};
pub use errors::{DecodeError, EncodeError, RegistryError};
pub use fingerprint::parsing_canonical_form;
pub use registry::{RegistryClient, RegistryConfig};
pub use schemas::{history_files, schema_files, SchemaRole, Schemas};
pub(crate) use schemas::{print_schemas, write_schemas, SchemaError};
pub use subjects::{key_subject, value_subject, Registration, TopicNames};
pub use wire::WireFormat;

#[cfg(test)]
mod codec_proptests;
#[cfg(test)]
mod prefetch_tests;
#[cfg(test)]
mod reference;
