//! Why the connector cannot start, and what to do about it. Shared by start-up and
//! the restore it runs.

use crate::avro::{DecodeError, RegistryError, SchemaError};
use crate::kafka::RestoreError;
use crate::recovery::{Classified, Recovery};

/// Why the connector cannot start. The message says what to fix; the source is
/// kept for `main`.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("embedded Avro schemas")]
    Schemas(#[source] SchemaError),
    #[error("schema registry")]
    Registry(#[source] RegistryError),
    #[error("cannot fetch the state topic's writer schemas")]
    WriterSchemas(#[source] DecodeError),
    #[error(transparent)]
    KafkaConfig(#[from] crate::kafka::ConfigError),
    #[error(transparent)]
    Topics(#[from] crate::kafka::TopicError),
    #[error(transparent)]
    Publisher(#[from] crate::kafka::PublishError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error(transparent)]
    TwoFramings(#[from] super::state_keys::TwoFramings),
    #[error("continuous reconciliation")]
    Reconcile(#[from] super::reconcile::ReconcileStartError),
    #[error("Streak client")]
    Client(#[from] crate::streak::ApiError),
    /// No API key could be placed in an organization's pool.
    #[error("none of the {keys} API key(s) can be used: {reasons}")]
    NoUsableKey { keys: usize, reasons: String },
}

impl Classified for StartupError {
    fn recovery(&self) -> Recovery {
        match self {
            StartupError::Topics(e) => e.recovery(),
            StartupError::Restore(e) => e.recovery(),
            StartupError::Reconcile(e) => e.recovery(),
            StartupError::Registry(e) if e.is_retriable() => Recovery::RetryNow,
            StartupError::WriterSchemas(e) if e.is_retriable() => Recovery::RetryNow,
            // Whatever a publisher or client error says of a cycle, at start-up
            // the process cannot go on without it.
            _ => Recovery::StopProcess,
        }
    }

    fn error_code(&self) -> &'static str {
        match self {
            StartupError::Schemas(_) => "schemas",
            StartupError::Registry(_) => "registry",
            StartupError::WriterSchemas(_) => "writer_schemas",
            StartupError::KafkaConfig(_) => "kafka_config",
            StartupError::Topics(e) => e.error_code(),
            StartupError::Publisher(e) => e.error_code(),
            StartupError::Restore(e) => e.error_code(),
            StartupError::TwoFramings(_) => "two_framings",
            StartupError::Reconcile(e) => e.error_code(),
            StartupError::Client(e) => e.error_code(),
            StartupError::NoUsableKey { .. } => "no_usable_key",
        }
    }
}
