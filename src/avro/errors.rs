//! The errors of the Avro stage: talking to the Schema Registry, decoding given
//! bytes and encoding given records. Each says how to recover
//! ([`Classified`]), decided here where the error is made.

use crate::recovery::{Classified, Recovery};

use super::credentials::CREDENTIAL_SETTINGS;
use super::schemas::SchemaRole;

/// What went wrong talking to the registry; each variant says how to recover.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Stop: fix the configured URL.
    #[error("invalid Schema Registry URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Retry later: the registry did not answer (connection refused, DNS, TLS,
    /// timeout). At start-up this is fatal.
    #[error("Schema Registry at {url} is unreachable ({operation}): {source}")]
    Unavailable {
        operation: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// Stop: the registry refused the credentials (401) or the permission (403).
    #[error("Schema Registry refused {operation} with {status}: check the credentials in {CREDENTIAL_SETTINGS} and their permissions ({message})")]
    Unauthorized {
        operation: &'static str,
        status: u16,
        message: String,
    },
    /// Stop: the schema breaks the subject's compatibility rule (409). Either the
    /// schema change is not compatible, or the subject holds unrelated schemas.
    #[error("Schema Registry rejected the schema for subject {subject:?} as incompatible with its registered versions (409): {message}")]
    Incompatible { subject: String, message: String },
    /// Stop: the registry could not parse the schema (422).
    #[error(
        "Schema Registry rejected the schema for subject {subject:?} as invalid (422): {message}"
    )]
    InvalidSchema { subject: String, message: String },
    /// Stop: look-up mode found no such schema under the subject (404); register
    /// the schemas (`streak-connector schemas --dir`) or allow registration.
    #[error("subject {subject:?} has no version equal to this schema in the Schema Registry (404): {message}")]
    NotRegistered { subject: String, message: String },
    /// Skip the record or stop: no schema has this id (404), the record was not
    /// written against this registry.
    #[error("Schema Registry has no schema with id {id} (404): {message}")]
    UnknownId { id: u32, message: String },
    /// Retry later: the registry failed (5xx).
    #[error("Schema Registry failed on {operation} with {status}: {message}")]
    Server {
        operation: &'static str,
        status: u16,
        message: String,
    },
    /// Stop: an answer this client does not understand (wrong URL, proxy page,
    /// not an Avro schema).
    #[error("unexpected Schema Registry answer to {operation} (status {status}): {message}")]
    Unexpected {
        operation: &'static str,
        status: u16,
        message: String,
    },
}

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
    /// A synchronous decode ([`Decoder::decode_state_cached`]) met a Confluent
    /// schema id that was not fetched beforehand: not a registered version of the
    /// state topic's subjects when [`Decoder::prefetch_writer_schemas`] ran.
    ///
    /// [`Decoder::decode_state_cached`]: super::Decoder::decode_state_cached
    /// [`Decoder::prefetch_writer_schemas`]: super::Decoder::prefetch_writer_schemas
    #[error("writer schema id {id} is not cached: it was not a registered version of the state topic's subjects when their writer schemas were fetched (written against another registry or subject?)")]
    NotCached { id: u32 },
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
}

impl DecodeError {
    /// Whether decoding the same bytes later may succeed (registry trouble only).
    pub fn is_retriable(&self) -> bool {
        self.recovery() == Recovery::RetryNow
    }
}

/// Why a record could not be encoded: a defect, not a condition of the outside
/// world. Abort the transaction and stop.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A counter does not fit an Avro long.
    #[error("{field} = {value} does not fit an Avro long")]
    OutOfRange { field: &'static str, value: u64 },
}

impl RegistryError {
    /// Whether trying again later may succeed.
    pub fn is_retriable(&self) -> bool {
        self.recovery() == Recovery::RetryNow
    }
}

impl Classified for RegistryError {
    /// The registry is called at start-up (and by `tail`): only its own trouble
    /// (no answer, a 5xx) may pass; everything else needs an operator.
    fn recovery(&self) -> Recovery {
        match self {
            RegistryError::Unavailable { .. } | RegistryError::Server { .. } => Recovery::RetryNow,
            _ => Recovery::StopProcess,
        }
    }

    fn error_code(&self) -> &'static str {
        match self {
            RegistryError::InvalidUrl { .. } => "invalid_url",
            RegistryError::Unavailable { .. } => "unavailable",
            RegistryError::Unauthorized { .. } => "unauthorized",
            RegistryError::Incompatible { .. } => "incompatible",
            RegistryError::InvalidSchema { .. } => "invalid_schema",
            RegistryError::NotRegistered { .. } => "not_registered",
            RegistryError::UnknownId { .. } => "unknown_id",
            RegistryError::Server { .. } => "server_error",
            RegistryError::Unexpected { .. } => "unexpected",
        }
    }
}

impl Classified for DecodeError {
    /// Registry trouble is the registry's; bytes that do not decode will never
    /// decode with this build, so the caller (the restore) stops.
    fn recovery(&self) -> Recovery {
        match self {
            DecodeError::Registry(e) => e.recovery(),
            _ => Recovery::StopProcess,
        }
    }

    fn error_code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::UnknownFraming { .. } => "unknown_framing",
            DecodeError::UnknownFingerprint { .. } => "unknown_fingerprint",
            DecodeError::RegistryRequired { .. } => "registry_required",
            DecodeError::NotCached { .. } => "not_cached",
            DecodeError::Registry(e) => e.error_code(),
            DecodeError::WriterSchema { .. } => "writer_schema",
            DecodeError::WrongSchema { .. } => "wrong_schema",
            DecodeError::Malformed { .. } => "malformed",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
            DecodeError::Unresolvable { .. } => "unresolvable",
            DecodeError::UnknownEventType { .. } => "unknown_event_type",
            DecodeError::Invalid { .. } => "invalid",
            DecodeError::KeyMismatch { .. } => "key_mismatch",
        }
    }
}

impl Classified for EncodeError {
    /// A defect of this build: abort the transaction and stop.
    fn recovery(&self) -> Recovery {
        Recovery::StopProcess
    }

    fn error_code(&self) -> &'static str {
        match self {
            EncodeError::OutOfRange { .. } => "out_of_range",
        }
    }
}
