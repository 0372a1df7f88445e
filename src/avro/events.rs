//! Internal events of the Avro stage: one struct per occurrence, whose `emit` logs
//! it. Registry calls happen at start-up (and in `tail`), where a failure is fatal
//! and returned as an error, so there is no counter to move: a process that exits
//! is never scraped.

use tracing::{debug, info};

use super::encoder::Registration;

/// A subject's schema id was resolved at start-up.
#[derive(Debug)]
pub(crate) struct SchemaRegistered<'a> {
    pub(crate) subject: &'a str,
    pub(crate) id: u32,
    pub(crate) registration: Registration,
}

impl SchemaRegistered<'_> {
    pub(crate) fn emit(self) {
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

impl WriterSchemaFetched {
    pub(crate) fn emit(self) {
        debug!(schema_id = self.id, "Writer schema fetched");
    }
}
