//! The Kafka side in process: the transactional publisher, the state store and the
//! topic set-up, against a real broker at `KAFKA_BOOTSTRAP_SERVERS` or librdkafka's
//! mock cluster (`testkit::broker`); tests of what only a real broker does say
//! "skipped" on the mock. With the `docker-tests` feature, also the Schema Registry
//! and Kafka containers (`avro_docker`).
//!
//! `cargo test --test kafka`; scripts/test.sh runs it again against a real broker.

mod avro_docker;
mod chunked;
mod own_reader;
mod pool;
mod publisher;
mod restore_rules;
mod state_store;
mod topics;
