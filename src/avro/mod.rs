//! Avro schemas (embedded from `schemas/`), encoding and the Schema Registry client.
