//! End-to-end tests of the BUILT `streak-connector` binary, driven as an operator
//! would (flags, environment, a config file) against the in-process Streak simulator
//! and Kafka: the pipeline (`once`, `run`, dry runs), the departure guard, the
//! operator surface (`check`, metrics, health), key pools and rotation, the Schema
//! Registry path, and the exactly-once proof under SIGKILL and fencing.
//!
//! `cargo test --test e2e` needs nothing installed (librdkafka's mock cluster; the
//! tests that need a real broker say "skipped"); scripts/test.sh runs it again
//! against a real broker, with `STREAK_E2E_REQUIRE_REAL_BROKER=1` so nothing skips.
//! The helpers are in the `testkit` crate (`testkit::e2e`, `testkit::eos`).

mod audit;
mod exactly_once;
mod fencing;
mod guard;
mod keys;
mod ocsf;
mod ops;
mod oversized;
mod pipeline;
mod readiness;
mod registry;
mod scrape;
mod secrets;
mod shutdown;
mod status;
mod stock;
