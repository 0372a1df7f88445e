//! The continuous reconciliation's settings, typed (issue 17, `docs/audit.md`):
//! `--directory-topic` and `--findings-topic`, both or neither, and the file's
//! `[reconcile]` table.

use std::time::Duration;

use super::error::{invalid, ConfigError};
use super::raw::FileConfig;
use super::SettingsArgs;
use crate::audit::{DirectoryOptions, EmailNormalisation, ReconcileOptions};
use crate::connector::reconcile::ReconcileSettings;
use crate::kafka::KafkaConfig;

/// How long start-up waits for the directory topic's end by default.
pub(super) const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

/// The reconciliation settings, `None` when neither topic is set.
pub(super) fn reconcile(
    args: &SettingsArgs,
    file: &FileConfig,
    kafka: &KafkaConfig,
) -> Result<Option<ReconcileSettings>, ConfigError> {
    let directory = args
        .directory_topic
        .clone()
        .or(file.directory_topic.clone());
    let findings = args.findings_topic.clone().or(file.findings_topic.clone());
    let (directory_topic, findings_topic) = match (directory, findings) {
        (None, None) => return Ok(None),
        (Some(d), Some(f)) => (d.trim().to_owned(), f.trim().to_owned()),
        (Some(_), None) => {
            return Err(invalid(
                "directory_topic (--directory-topic)",
                "needs findings_topic (--findings-topic): where the findings go",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "findings_topic (--findings-topic)",
                "needs directory_topic (--directory-topic): what to reconcile with",
            ))
        }
    };
    for (setting, topic) in [
        ("directory_topic (--directory-topic)", &directory_topic),
        ("findings_topic (--findings-topic)", &findings_topic),
    ] {
        if topic.is_empty() {
            return Err(invalid(setting, "must not be empty"));
        }
        if [&kafka.events_topic, &kafka.state_topic].contains(&topic) {
            return Err(invalid(
                setting,
                format!("{topic:?} is already the events or state topic"),
            ));
        }
    }
    if directory_topic == findings_topic {
        return Err(invalid(
            "findings_topic (--findings-topic)",
            "must differ from the directory topic",
        ));
    }
    let r = &file.reconcile;
    let field = |name: &str, value: &Option<String>, default: &str| match value {
        Some(v) if v.trim().is_empty() => Err(invalid(name, "must not be empty")),
        Some(v) => Ok(v.trim().to_owned()),
        None => Ok(default.to_owned()),
    };
    let catch_up_timeout = r.catch_up_timeout.unwrap_or(CATCH_UP_TIMEOUT);
    if catch_up_timeout.is_zero() {
        return Err(invalid("reconcile.catch_up_timeout", "must be positive"));
    }
    Ok(Some(ReconcileSettings {
        directory_topic,
        findings_topic,
        directory: DirectoryOptions {
            email_column: field("reconcile.email_field", &r.email_field, "email")?,
            status_column: field("reconcile.status_field", &r.status_field, "status")?,
            normalisation: EmailNormalisation {
                strip_plus_tag: r.strip_plus_tags.unwrap_or(false),
            },
            ..DirectoryOptions::default()
        },
        options: ReconcileOptions {
            directory_only: r.directory_only.unwrap_or(false),
        },
        catch_up_timeout,
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::raw::parse_file_config;
    use crate::config::{Config, Env, SettingsArgs};

    fn load(text: &str, args: &SettingsArgs) -> Result<Config, String> {
        let file = parse_file_config(Path::new("t.toml"), text).map_err(|e| e.to_string())?;
        let env: Env = [("STREAK_CONNECTOR_API_KEYS".to_string(), "k".to_string())].into();
        Config::from_layers(args, &file, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn off_unless_both_topics_are_set() {
        assert!(load("", &SettingsArgs::default())
            .expect("valid")
            .reconcile
            .is_none());
        let only = SettingsArgs {
            directory_topic: Some("dir".into()),
            ..SettingsArgs::default()
        };
        let err = load("", &only).expect_err("refused");
        assert!(err.contains("--findings-topic"), "{err}");
        let err = load("findings_topic = \"f\"", &SettingsArgs::default()).expect_err("refused");
        assert!(err.contains("--directory-topic"), "{err}");
    }

    #[test]
    fn the_file_table_and_the_flags_combine() {
        let args = SettingsArgs {
            findings_topic: Some("flag-findings".into()),
            ..SettingsArgs::default()
        };
        let text = "directory_topic = \"idp.users\"\nfindings_topic = \"file-findings\"\n\
                    [reconcile]\ndirectory_only = true\nstrip_plus_tags = true\n\
                    email_field = \"mail\"\nstatus_field = \"state\"\ncatch_up_timeout = \"30s\"\n";
        let r = load(text, &args).expect("valid").reconcile.expect("on");
        assert_eq!(r.directory_topic, "idp.users");
        assert_eq!(r.findings_topic, "flag-findings");
        assert!(r.options.directory_only);
        assert!(r.directory.normalisation.strip_plus_tag);
        assert_eq!(
            (
                r.directory.email_column.as_str(),
                r.directory.status_column.as_str()
            ),
            ("mail", "state")
        );
        assert_eq!(r.catch_up_timeout, std::time::Duration::from_secs(30));
        assert!(!r.directory.lenient);
    }

    #[test]
    fn topics_must_be_distinct() {
        for text in [
            "directory_topic = \"a\"\nfindings_topic = \"a\"",
            "directory_topic = \"streak.membership.state\"\nfindings_topic = \"f\"",
            "directory_topic = \"d\"\nfindings_topic = \"streak.membership.events\"",
            "directory_topic = \"d\"\nfindings_topic = \" \"",
            "directory_topic = \"d\"\nfindings_topic = \"f\"\n[reconcile]\nemail_field = \"\"",
        ] {
            assert!(load(text, &SettingsArgs::default()).is_err(), "{text}");
        }
        let unknown = load(
            "directory_topic = \"d\"\nfindings_topic = \"f\"\n[reconcile]\nlenient = true",
            &SettingsArgs::default(),
        );
        assert!(unknown.is_err(), "unknown keys are refused");
    }
}
