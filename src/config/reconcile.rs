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
