//! Configuration checked at start-up.

use std::sync::Arc;

use streak_connector::metrics::Metrics;
use streak_connector::recovery::Classified as _;
use streak_connector::streak::{ApiError, ApiKey, ClientConfig, StreakClient};

use testkit::streak_server::random_key;

#[test]
fn plain_http_to_a_remote_host_is_refused_at_start_up() {
    let err = ClientConfig::with_base_url("http://api.streak.com/api/v1").unwrap_err();
    assert!(matches!(
        err,
        ApiError::Config {
            setting: "base_url",
            ..
        }
    ));
    let config = ClientConfig {
        base_url: "http://api.streak.com/api/v1".parse().unwrap(),
        ..ClientConfig::default()
    };
    let err = StreakClient::new(
        config,
        ApiKey::new(random_key()).unwrap(),
        Arc::new(Metrics::new()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`base_url`"), "{err}");
    assert_eq!(err.error_code(), "config");
}
