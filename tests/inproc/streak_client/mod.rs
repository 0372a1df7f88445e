//! The Streak client against a scripted HTTP server on 127.0.0.1:0.
//!
//! Every error status and fault has a test asserting the typed outcome, how many
//! requests the server saw (the retry count) and which counters moved. Timing runs
//! under `tokio::time::pause()`: backoff, `Retry-After`, timeouts and the rate limit
//! are checked in virtual time, with no real waiting.

use std::sync::Arc;

use streak_connector::metrics::Metrics;
use streak_connector::streak::{ApiKey, ClientConfig, StreakClient};

use testkit::streak_server::{random_key, Server};

// ---------------------------------------------------------------------------------
// The client side.

struct Harness {
    client: StreakClient,
    metrics: Arc<Metrics>,
    key: String,
}

fn client_for(server: &Server, tweak: impl FnOnce(&mut ClientConfig)) -> Harness {
    let key = random_key();
    let mut config = ClientConfig::with_base_url(&server.base_url).unwrap();
    tweak(&mut config);
    let metrics = Arc::new(Metrics::new());
    let client =
        StreakClient::new(config, ApiKey::new(key.clone()).unwrap(), metrics.clone()).unwrap();
    Harness {
        client,
        metrics,
        key,
    }
}

impl Harness {
    fn requests(&self, ep: &str, class: &str) -> u64 {
        self.metrics
            .api_requests_total
            .with_label_values(&[ep, class])
            .get()
    }
    fn retries(&self, ep: &str, reason: &str) -> u64 {
        self.metrics
            .api_retries_total
            .with_label_values(&[ep, reason])
            .get()
    }
    fn errors(&self, ep: &str, code: &str) -> u64 {
        self.metrics
            .api_errors_total
            .with_label_values(&[ep, code])
            .get()
    }
    fn key_rejected(&self) -> i64 {
        self.metrics
            .api_key_rejected
            .with_label_values(&[self.client.key_fingerprint()])
            .get()
    }
    fn drift(&self, field: &str) -> u64 {
        self.metrics
            .api_drift_total
            .with_label_values(&[field])
            .get()
    }
    fn latency_samples(&self, ep: &str) -> u64 {
        self.metrics
            .api_request_duration_seconds
            .with_label_values(&[ep])
            .get_sample_count()
    }
}

const ME: &str = r#"{"key":"user-1","email":"owner@acme.io","orgKey":"org-1","extra":{"a":1}}"#;

mod bodies;
mod config;
mod listings;
mod requests;
mod retries;
mod statuses;
