//! The SIEM settings in the configuration's one place: the OCSF topic (flag, file,
//! empty means off, its rules reported under its name) and `[ocsf.severity]`.

use std::path::Path;

use super::raw::parse_file_config;
use super::*;
use crate::siem::{Severities, Severity};

fn keys_env() -> Env {
    [("STREAK_CONNECTOR_API_KEYS".to_string(), "k1".to_string())].into()
}

fn load(args: &SettingsArgs, toml: &str) -> Result<Config, ConfigError> {
    let file = parse_file_config(Path::new("test.toml"), toml)?;
    Config::from_layers(args, &file, &keys_env())
}

#[test]
fn the_ocsf_topic_is_off_by_default_and_set_by_file_or_flag() {
    let c = load(&SettingsArgs::default(), "").expect("valid");
    assert_eq!(c.kafka.ocsf_topic, None);
    assert_eq!(c.ocsf_severity, Severities::default());

    let c = load(&SettingsArgs::default(), "ocsf_topic = \"from-file\"").expect("valid");
    assert_eq!(c.kafka.ocsf_topic.as_deref(), Some("from-file"));
    let flag = SettingsArgs {
        ocsf_topic: Some("from-flag".into()),
        ..Default::default()
    };
    let c = load(&flag, "ocsf_topic = \"from-file\"").expect("valid");
    assert_eq!(c.kafka.ocsf_topic.as_deref(), Some("from-flag"));
    // An empty value (STREAK_CONNECTOR_OCSF_TOPIC="") turns it off.
    let empty = SettingsArgs {
        ocsf_topic: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(load(&empty, "").expect("valid").kafka.ocsf_topic, None);
}

#[test]
fn a_reused_or_invalid_ocsf_topic_is_refused_under_its_name() {
    for toml in [
        "ocsf_topic = \"streak.membership.events\"",
        "ocsf_topic = \"streak.membership.state\"",
        "ocsf_topic = \"not a topic\"",
    ] {
        let err = load(&SettingsArgs::default(), toml)
            .expect_err(toml)
            .to_string();
        assert!(err.contains("ocsf_topic (--ocsf-topic)"), "{toml}: {err}");
    }
}

#[test]
fn severities_come_from_the_ocsf_severity_table() {
    let c = load(
        &SettingsArgs::default(),
        "[ocsf.severity]\nadmin_granted = \"high\"\nreactivated = \"4\"\n",
    )
    .expect("valid");
    assert_eq!(c.ocsf_severity.admin_granted, Severity::High);
    assert_eq!(c.ocsf_severity.reactivated, Severity::High);
    assert_eq!(c.ocsf_severity.joined, Severities::default().joined);

    for bad in [
        "[ocsf.severity]\nadmin_grant = \"high\"\n",
        "[ocsf.severity]\nadmin_granted = \"urgent\"\n",
        "[ocsf]\ntopic = \"x\"\n",
    ] {
        let err = load(&SettingsArgs::default(), bad)
            .expect_err(bad)
            .to_string();
        assert!(err.contains("line "), "{bad}: {err}");
    }
}
