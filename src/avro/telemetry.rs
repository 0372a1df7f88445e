//! Telemetry of the Avro stage (not the product's change events): one internal
//! event per occurrence, whose [`InternalEvent::emit`] logs it. Registry calls
//! happen at start-up (and in `tail`), where a failure is fatal and returned as an
//! error, so these events move no counter: a process that exits is never scraped.

use tracing::{debug, info};

use crate::metrics::Metrics;
use crate::telemetry::InternalEvent;

use super::subjects::Registration;

/// A subject's schema id was resolved at start-up.
#[derive(Debug)]
pub(crate) struct SchemaRegistered<'a> {
    pub(crate) subject: &'a str,
    pub(crate) id: u32,
    pub(crate) registration: Registration,
}

impl InternalEvent for SchemaRegistered<'_> {
    fn emit(self, _metrics: &Metrics) {
        let how = match self.registration {
            Registration::Register => "register",
            Registration::LookupOnly => "lookup",
        };
        info!(
            subject = self.subject,
            schema_id = self.id,
            how,
            "Schema resolved"
        );
    }
}

/// A writer schema was fetched from the registry by id (first sight of the id).
#[derive(Debug)]
pub(crate) struct WriterSchemaFetched {
    pub(crate) id: u32,
}

impl InternalEvent for WriterSchemaFetched {
    fn emit(self, _metrics: &Metrics) {
        debug!(schema_id = self.id, "Writer schema fetched");
    }
}

/// The writer schemas of every registered version of some subjects were fetched
/// up front (before the restore), so that the restore decodes without I/O.
#[derive(Debug)]
pub(crate) struct WriterSchemasPrefetched<'a> {
    pub(crate) subjects: &'a [String],
    /// Distinct schema ids now cached.
    pub(crate) schemas: usize,
}

impl InternalEvent for WriterSchemasPrefetched<'_> {
    fn emit(self, _metrics: &Metrics) {
        info!(
            subjects = ?self.subjects,
            schemas = self.schemas,
            "Writer schemas fetched"
        );
    }
}
