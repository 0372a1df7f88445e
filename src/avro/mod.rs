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
//! bytes and back. Its only I/O is HTTP to the registry (start-up registration and
//! fetching unknown writer schemas by id) and [`write_schemas`].
//!
//! Both topics share one key schema (`MembershipKey`: `org_key`, nullable
//! `user_key`), so a member's key bytes are identical in both topics when their ids
//! agree. The key schema is frozen: another version would change the key bytes and
//! compaction of the state topic would keep the old records.

mod convert;
mod decoder;
mod encoder;
mod events;
mod fingerprint;
mod registry;
mod schemas;
mod wire;

pub use convert::{DecodedEvent, MembershipKey};
pub use decoder::{DecodeError, Decoder};
pub use encoder::{
    key_subject, value_subject, EncodeError, EncodedRecord, Encoder, Registration, SchemaIds,
    TopicNames,
};
pub use fingerprint::{parsing_canonical_form, rabin64, schema_fingerprint, CanonicalFormError};
pub use registry::{
    RegistryAuth, RegistryClient, RegistryConfig, RegistryError, USER_INFO_ENV, USER_INFO_FILE_ENV,
};
pub use schemas::{
    history_files, print_schemas, schema_files, write_schemas, HistoryFile, ParsedSchema,
    SchemaError, SchemaFile, SchemaRole, Schemas,
};
pub use wire::{WireFormat, CONFLUENT_MAGIC, SINGLE_OBJECT_MAGIC};
