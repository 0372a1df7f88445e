//! The configuration's tests: layering, defaults, rules, secrets, the example.

use std::path::Path;
use std::time::Duration;

use super::raw::parse_file_config;
use super::secrets::load_api_key_sources;
use super::typed::validate_base_url;
use super::*;

/// The file layer and the typed configuration, as `Config::load` runs them.
fn load_toml(text: &str, env: &Env) -> Result<Config, ConfigError> {
    let file = parse_file_config(Path::new("test.toml"), text)?;
    Config::from_layers(&SettingsArgs::default(), &file, env)
}

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn keys_env() -> Env {
    env(&[("STREAK_CONNECTOR_API_KEYS", "k1,k2")])
}

#[test]
fn defaults_apply() {
    let c = Config::from_layers(
        &SettingsArgs::default(),
        &FileConfig::default(),
        &keys_env(),
    )
    .expect("valid");
    assert_eq!(c.streak.base_url.as_str(), "https://api.streak.com/api/v1");
    assert_eq!(c.kafka.events_topic, "streak.membership.events");
    assert_eq!(c.kafka.state_topic, "streak.membership.state");
    assert_eq!(c.connector_name, "streak-connector");
    assert_eq!(c.poll_interval, Duration::from_secs(300));
    assert_eq!(c.inactive_after, Duration::from_secs(30 * 86_400));
    assert_eq!(c.metrics_listen.to_string(), "0.0.0.0:9464");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9465");
    assert_eq!(c.api_keys.len(), 2);
    assert_eq!(c.guard.min_departures, 10);
}

#[test]
fn flags_beat_file() {
    let file: FileConfig = toml::from_str(
        "events_topic = \"from-file\"\nstate_topic = \"state-file\"\npoll_interval = \"10m\"",
    )
    .expect("toml");
    let args = SettingsArgs {
        events_topic: Some("from-flag".into()),
        ..Default::default()
    };
    let c = Config::from_layers(&args, &file, &keys_env()).expect("valid");
    assert_eq!(c.kafka.events_topic, "from-flag");
    assert_eq!(c.kafka.state_topic, "state-file");
    assert_eq!(c.poll_interval, Duration::from_secs(600));
}

#[test]
fn unknown_file_keys_are_refused() {
    let err = toml::from_str::<FileConfig>("pol_interval = \"5m\"").expect_err("refused");
    assert!(err.to_string().contains("pol_interval"), "{err}");
}

#[test]
fn plain_http_only_to_loopback() {
    for ok in [
        "http://127.0.0.1:8080/api/v1",
        "http://localhost/api/v1",
        "http://[::1]:1/api/v1",
    ] {
        validate_base_url("s", ok).expect(ok);
    }
    let err =
        validate_base_url("streak_base_url", "http://api.streak.com/api/v1").expect_err("refused");
    assert!(err.to_string().contains("streak_base_url"), "{err}");
    assert!(err.to_string().contains("in clear"), "{err}");
}

#[test]
fn kafka_passthrough_from_file_and_env_redacted() {
    let file: FileConfig = toml::from_str(
        "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"linger.ms\" = 5",
    )
    .expect("toml");
    let mut e = keys_env();
    e.insert(
        "STREAK_CONNECTOR_KAFKA__SASL_PASSWORD".into(),
        "hunter2hunter2".into(),
    );
    e.insert(
        "STREAK_CONNECTOR_KAFKA__SASL_MECHANISM".into(),
        "SCRAM-SHA-512".into(),
    );
    let c = Config::from_layers(&SettingsArgs::default(), &file, &e).expect("valid");
    assert_eq!(c.kafka.properties["security.protocol"], "SASL_SSL");
    assert_eq!(c.kafka.properties["linger.ms"], "5");
    assert_eq!(c.kafka.properties["sasl.mechanism"], "SCRAM-SHA-512");
    assert_eq!(c.kafka.properties["sasl.password"], "hunter2hunter2");
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(!dbg.contains("k1"), "{dbg}");
}

#[test]
fn reserved_kafka_property_refused() {
    let mut e = keys_env();
    e.insert(
        "STREAK_CONNECTOR_KAFKA__TRANSACTIONAL_ID".into(),
        "x".into(),
    );
    let err = Config::from_layers(&SettingsArgs::default(), &FileConfig::default(), &e)
        .expect_err("refused");
    assert!(err.to_string().contains("transactional.id"), "{err}");
}

#[test]
fn registry_credentials_come_in_pairs() {
    let mut e = keys_env();
    e.insert(
        "STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME".into(),
        "svc".into(),
    );
    let args = SettingsArgs {
        schema_registry_url: Some("http://127.0.0.1:8081".into()),
        ..Default::default()
    };
    let err = Config::from_layers(&args, &FileConfig::default(), &e).expect_err("half");
    assert!(err.to_string().contains("PASSWORD"), "{err}");
}

#[test]
fn no_keys_is_an_error_saying_where_keys_come_from() {
    let err = Config::from_layers(
        &SettingsArgs::default(),
        &FileConfig::default(),
        &Env::new(),
    )
    .expect_err("no keys");
    assert!(err.to_string().contains("STREAK_CONNECTOR_API_KEYS"));
}

#[test]
fn keys_from_file_and_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("org-a"), "keyA\n").expect("write");
    std::fs::write(dir.path().join("org-b"), "# comment\nkeyB\n\n").expect("write");
    std::fs::create_dir(dir.path().join("..2026_11_29")).expect("mkdir");
    let (keys, _) =
        load_api_key_sources(Some(&dir.path().to_path_buf()), &Env::new()).expect("keys");
    let keys: Vec<&str> = keys.iter().map(Secret::expose).collect();
    assert_eq!(keys, ["keyA", "keyB"]);
    let single = dir.path().join("org-a");
    let (keys, _) = load_api_key_sources(Some(&single), &keys_env()).expect("keys");
    assert_eq!(keys.len(), 3);
}

#[test]
fn invalid_values_name_the_setting() {
    let cases = [
        ("metrics_listen = \"nope\"", "metrics_listen"),
        ("admin_listen = \"nope\"", "admin_listen"),
        ("poll_interval = \"0s\"", "poll_interval"),
        ("inactive_after = \"a while\"", "inactive_after"),
        ("events_topic = \"bad topic\"", "events_topic"),
        (
            "[guard]\nmax_departure_fraction = 2.0",
            "guard.max_departure_fraction",
        ),
        (
            "[streak]\nrate_limit_per_second = 50",
            "streak.rate_limit_per_second",
        ),
        ("connector_name = \"a b\"", "connector_name"),
        ("schema_registry_url = \"ftp://x\"", "schema_registry_url"),
    ];
    for (text, setting) in cases {
        // Durations are typed when parsed: a bad one is refused by the file layer,
        // the rest by the typed configuration; either way the error names it.
        let err = load_toml(text, &keys_env()).expect_err(text);
        assert!(err.to_string().contains(setting), "{text}: {err}");
    }
}

/// The documented example must stay valid.
#[test]
fn example_config_parses_and_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.toml");
    let mut file = read_file_config(&path).expect("example parses");
    // The example names a key directory that does not exist here.
    file.api_key_file = None;
    let env: Env = [("STREAK_CONNECTOR_API_KEYS".to_string(), "k".to_string())]
        .into_iter()
        .collect();
    let c = Config::from_layers(&SettingsArgs::default(), &file, &env).expect("valid");
    assert_eq!(c.kafka.properties["linger.ms"], "20");
}

#[test]
fn topic_counts_default_to_the_brokers_and_are_settable() {
    let c = load_toml("", &keys_env()).expect("valid");
    assert_eq!((c.kafka.partitions, c.kafka.replication_factor), (-1, -1));
    let c = load_toml(
        "[kafka]\npartitions = 12\nreplication_factor = 3",
        &keys_env(),
    )
    .expect("valid");
    assert_eq!((c.kafka.partitions, c.kafka.replication_factor), (12, 3));
    let file = parse_file_config(
        Path::new("t.toml"),
        "[kafka]\npartitions = 12\nreplication_factor = 3",
    )
    .expect("toml");
    let args = SettingsArgs {
        kafka_partitions: Some(-1),
        kafka_replication_factor: Some(1),
        ..Default::default()
    };
    let c = Config::from_layers(&args, &file, &keys_env()).expect("valid");
    assert_eq!((c.kafka.partitions, c.kafka.replication_factor), (-1, 1));
    for (text, setting) in [
        ("[kafka]\npartitions = 0", "kafka.partitions"),
        ("[kafka]\npartitions = -2", "kafka.partitions"),
        (
            "[kafka]\nreplication_factor = 0",
            "kafka.replication_factor",
        ),
    ] {
        let err = load_toml(text, &keys_env()).expect_err(text);
        assert!(err.to_string().contains(setting), "{text}: {err}");
    }
}

/// `STREAK_CONNECTOR_KAFKA_PARTITIONS` (a setting, read by clap) is no passthrough
/// property; `STREAK_CONNECTOR_KAFKA__PARTITIONS` would be one.
#[test]
fn settings_variables_are_not_passed_through() {
    let mut e = keys_env();
    for (k, v) in [
        ("STREAK_CONNECTOR_KAFKA_PARTITIONS", "3"),
        ("STREAK_CONNECTOR_KAFKA_REPLICATION_FACTOR", "1"),
        ("STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
        ("STREAK_CONNECTOR_KAFKA__LINGER_MS", "7"),
    ] {
        e.insert(k.into(), v.into());
    }
    let props = passthrough(&FileConfig::default(), &e).expect("valid");
    assert_eq!(
        props.into_iter().collect::<Vec<_>>(),
        [("linger.ms".to_string(), "7".to_string())]
    );
    let mut e = keys_env();
    e.insert("STREAK_CONNECTOR_KAFKA__PARTITIONS".into(), "3".into());
    let props = passthrough(&FileConfig::default(), &e).expect("valid");
    assert_eq!(props.get("partitions").map(String::as_str), Some("3"));
}

#[test]
fn one_rule_per_setting_from_the_modules() {
    let cases = [
        // The Kafka layer's bound on the transaction timeout (15 min).
        (
            "[kafka]\ntransaction_timeout = \"16m\"",
            "kafka.transaction_timeout",
        ),
        (
            "[kafka]\ntransaction_timeout = \"10ms\"",
            "kafka.transaction_timeout",
        ),
        // The Kafka layer's reserved properties, all of them.
        (
            "[kafka.properties]\n\"enable.idempotence\" = false",
            "kafka.properties.enable.idempotence",
        ),
        (
            "[kafka.properties]\n\"allow.auto.create.topics\" = true",
            "kafka.properties.allow.auto.create.topics",
        ),
        ("state_topic = \"streak.membership.events\"", "state_topic"),
        ("kafka_bootstrap_servers = \" \"", "kafka_bootstrap_servers"),
        // The Streak client's rules.
        ("[streak]\nmax_body_bytes = 10", "streak.max_body_bytes"),
        (
            "[streak]\nrate_limit_per_second = 0",
            "streak.rate_limit_per_second",
        ),
        (
            "[streak]\nretry_max_attempts = 0",
            "streak.retry_max_attempts",
        ),
        (
            "[streak]\nretry_base = \"2m\"\nretry_cap = \"1m\"",
            "streak.retry_base",
        ),
        ("[streak]\nretry_base = \"0s\"", "streak.retry_base"),
        (
            "[streak]\nrequest_timeout = \"soon\"",
            "streak.request_timeout",
        ),
    ];
    for (text, setting) in cases {
        let err = load_toml(text, &keys_env()).expect_err(text);
        assert!(err.to_string().contains(setting), "{text}: {err}");
    }
}

#[test]
fn durations_are_typed_when_parsed() {
    let file = parse_file_config(
        Path::new("t.toml"),
        "poll_interval = \"1h 30m\"\n[streak]\nretry_deadline = \"90s\"\n[kafka]\ntransaction_timeout = \"2m\"",
    )
    .expect("toml");
    assert_eq!(file.poll_interval, Some(Duration::from_secs(5400)));
    assert_eq!(file.streak.retry_deadline, Some(Duration::from_secs(90)));
    assert_eq!(
        file.kafka.transaction_timeout,
        Some(Duration::from_secs(120))
    );
    let err = parse_file_config(Path::new("t.toml"), "inactive_after = \"a while\"")
        .expect_err("refused");
    let shown = err.to_string();
    assert!(shown.contains("line 1 (inactive_after)"), "{shown}");
    assert!(shown.contains("a while"), "{shown}");
}

/// A file error names the line and the key, never the line's text: a passthrough
/// property may hold a password.
#[test]
fn file_errors_do_not_quote_the_file() {
    let text = "[kafka.properties]\n\"sasl.password\" = hunter2hunter2\n";
    let err = parse_file_config(Path::new("t.toml"), text).expect_err("refused");
    let shown = err.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("line 2"), "{shown}");
}

#[test]
fn no_config_error_prints_a_secret() {
    // The refused base URL carries the API key as its user name.
    let args = SettingsArgs {
        streak_base_url: Some("https://KEYKEYKEY:@api.streak.com/api/v1".into()),
        ..Default::default()
    };
    let err = Config::from_layers(&args, &FileConfig::default(), &keys_env()).expect_err("refused");
    let shown = err.to_string();
    assert!(!shown.contains("KEYKEYKEY"), "{shown}");
    assert!(shown.contains("streak_base_url"), "{shown}");
    assert!(shown.contains("credentials"), "{shown}");
    // An unparseable registry URL with a password.
    let args = SettingsArgs {
        schema_registry_url: Some("http://svc:hunter2hunter2@[registry:8081".into()),
        ..Default::default()
    };
    let err = Config::from_layers(&args, &FileConfig::default(), &keys_env()).expect_err("refused");
    let shown = err.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("schema_registry_url"), "{shown}");
    // A registry URL that parses: the configuration's Debug hides its password.
    let args = SettingsArgs {
        schema_registry_url: Some("http://svc:hunter2hunter2@registry:8081".into()),
        ..Default::default()
    };
    let c = Config::from_layers(&args, &FileConfig::default(), &keys_env()).expect("valid");
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("registry:8081"), "{shown}");
}

#[test]
fn defaults_are_the_modules_own() {
    let c = load_toml("", &keys_env()).expect("valid");
    assert_eq!(c.streak, crate::streak::ClientConfig::default());
    let k = crate::kafka::KafkaConfig::new(
        defaults::KAFKA_BOOTSTRAP_SERVERS,
        "streak-connector.membership",
    );
    assert_eq!(c.kafka, k);
    // One transactional producer per organization polled at once.
    assert_eq!(c.kafka.producers, c.max_concurrent_polls);
    let m = crate::membership::Settings::default();
    assert_eq!(c.inactive_after.as_millis() as i64, m.inactive_after_ms);
    assert_eq!(c.guard.min_departures, m.min_departures);
    assert_eq!(c.guard.max_departure_fraction, m.max_departure_fraction);
    assert_eq!(
        c.kafka.topic_policy,
        crate::kafka::TopicPolicy::CreateAndVerify
    );
}

#[test]
fn skipped_state_records_from_the_file_or_the_flag() {
    use crate::kafka::RecordAt;
    let at = |partition, offset| RecordAt { partition, offset };
    let file = "[kafka]\nskip_state_records = [\"3@1200\", \"0@7\"]";
    let c = load_toml(file, &keys_env()).expect("valid");
    let skipped: Vec<_> = c.kafka.skip_state_records.iter().copied().collect();
    assert_eq!(skipped, [at(0, 7), at(3, 1200)]);
    // The flag replaces the file's list.
    let args = SettingsArgs {
        skip_state_records: vec!["1@2".into()],
        ..Default::default()
    };
    let parsed = parse_file_config(Path::new("t.toml"), file).expect("toml");
    let c = Config::from_layers(&args, &parsed, &keys_env()).expect("valid");
    assert_eq!(c.kafka.skip_state_records.len(), 1);
    assert!(c.kafka.skip_state_records.contains(&at(1, 2)));
    let err = load_toml("[kafka]\nskip_state_records = [\"3:1200\"]", &keys_env())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("kafka.skip_state_records (--skip-state-record)"),
        "{err}"
    );
    assert!(err.contains("<partition>@<offset>"), "{err}");
}
