//! The kit of streak-connector's integration tests and benchmarks: one place for
//! every helper more than one test uses. It asserts no product behaviour; the tests
//! do.
//!
//! - [`broker`]: the Kafka broker of a test (a real one at `KAFKA_BOOTSTRAP_SERVERS`,
//!   a Docker container, or librdkafka's mock cluster) and the one rule for a test
//!   that needs a real broker ([`broker::skip_without_real_broker`]).
//! - [`topic`]: reading a topic read-committed to its end, decoding events and state.
//! - [`process`]: running the built binary with a clean environment.
//! - [`e2e`]: one end-to-end test's world ([`e2e::Setup`]) and scenario/JSON helpers.
//! - [`metrics`]: scraping `/metrics`.
//! - [`ocsf`]: the OCSF topic against the events topic, and the OCSF validator.
//! - [`eos`]: the exactly-once harness (walk, oracle, watcher, proof).
//! - [`avro`], [`registry_mock`]: Avro fixtures and a Schema Registry double.
//! - [`streak_server`]: a scripted HTTP server standing in for Streak.
//!
//! The tests are four binaries, one directory each under `tests/` (`inproc`, `kafka`,
//! `e2e`, `outage`), plus the deploy-asset checks (`tests/deploy_assets.rs`).

pub mod avro;
pub mod broker;
pub mod e2e;
pub mod eos;
pub mod metrics;
pub mod ocsf;
pub mod process;
pub mod registry_mock;
pub mod streak_server;
pub mod topic;

use std::path::PathBuf;

/// A name nobody else uses: `<prefix>-<random>`, so tests run in parallel against one
/// broker.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The `streak-connector` binary cargo built for the integration tests.
///
/// Cargo sets `CARGO_BIN_EXE_streak-connector` when it runs an integration test of
/// the package (and builds the binary first); a kit crate cannot read it with `env!`
/// at compile time, so it reads it at run time, and falls back to the binary next to
/// the test executable's `deps/` directory (`target/<profile>/streak-connector`).
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_BIN_EXE_streak-connector") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("streak-connector{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the streak-connector binary is not at {} (run the tests with cargo test)",
        bin.display()
    );
    bin
}
