//! The writer schemas of Confluent-framed records, by registry id: parsed once,
//! classified once (which of our records it defines, and whether it is the current
//! schema of that record), and shared by every clone of the decoder.
//!
//! The cache is filled by the decoder (an async fetch of one id, or all versions of
//! the state topic's subjects up front) and read synchronously. No I/O here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use apache_avro::Schema;

use super::errors::DecodeError;
use super::fingerprint::schema_fingerprint;
use super::schemas::{SchemaRole, Schemas};

/// Writer schemas fetched by id are few (one per subject version); this bounds the
/// cache against a topic full of foreign ids.
const MAX_CACHED_IDS: usize = 1024;

/// A writer schema and what it is.
#[derive(Debug)]
pub(crate) struct WriterSchema {
    pub(crate) schema: Schema,
    /// The role whose record it defines, if any of ours.
    pub(crate) role: Option<SchemaRole>,
    /// Its record's full name (for messages).
    pub(crate) name: String,
    /// Same canonical form as the current schema of its role: no resolution needed.
    pub(crate) is_current: bool,
}

impl WriterSchema {
    /// Parse and classify the schema text the registry holds under `id`.
    pub(crate) fn parse(id: u32, text: &str, schemas: &Schemas) -> Result<Self, DecodeError> {
        let schema = Schema::parse_str(text).map_err(|e| DecodeError::WriterSchema {
            id,
            reason: e.to_string(),
        })?;
        let name = match &schema {
            Schema::Record(r) => r.name.fullname(None),
            other => format!(
                "a {:?} schema",
                apache_avro::schema::SchemaKind::from(other)
            ),
        };
        let role = SchemaRole::ALL
            .into_iter()
            .find(|r| r.record_name() == name);
        let is_current = match (role, schema_fingerprint(text)) {
            (Some(role), Ok(fp)) => fp == schemas.current(role).fingerprint,
            _ => false,
        };
        Ok(WriterSchema {
            schema,
            role,
            name,
            is_current,
        })
    }
}

/// Writer schemas by registry id. Cheap to clone; clones share the map.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriterCache {
    by_id: Arc<RwLock<HashMap<u32, Arc<WriterSchema>>>>,
}

impl WriterCache {
    pub(crate) fn get(&self, id: u32) -> Option<Arc<WriterSchema>> {
        // A poisoned lock only means another thread panicked mid-insert; the map
        // itself is still consistent.
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        map.get(&id).map(Arc::clone)
    }

    /// Keep `writer` under `id` unless the cache is full (the writer is still
    /// usable by the caller then, only not remembered).
    pub(crate) fn insert(&self, id: u32, writer: Arc<WriterSchema>) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        if map.len() < MAX_CACHED_IDS || map.contains_key(&id) {
            map.insert(id, writer);
        }
    }
}
