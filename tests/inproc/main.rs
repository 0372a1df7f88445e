//! In-process tests: the Avro codec and schemas, the Streak client against scripted
//! servers, the simulator, and the connector's poll cycle against in-memory twins.
//! Nothing outside the test process (`cargo test --test inproc`).
//!
//! One binary for all of them (one link of the library instead of one per file); the
//! shared helpers are in the `testkit` crate.

mod avro_compat;
mod avro_golden;
mod avro_registry;
mod avro_roundtrip;
mod connector_cycle;
mod simulator;
mod simulator_client;
mod simulator_faults;
mod state_framings;
mod streak_client;
mod streak_client_proptest;
mod streak_client_secrets;
