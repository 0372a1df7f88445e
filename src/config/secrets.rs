//! Secrets: the Streak API keys, the Schema Registry password and the admin token,
//! read from the environment or from files, held as [`Secret`] (whose `Debug` is
//! redacted). Nothing here logs or formats a secret.

use std::path::{Path, PathBuf};

use super::error::{invalid, ConfigError};
use super::Env;

/// A secret string: API keys, passwords. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The bearer token of the admin endpoints, from `STREAK_CONNECTOR_ADMIN_TOKEN`
/// (blank means none: the endpoints are off).
pub(super) fn admin_token(env: &Env) -> Result<Option<Secret>, ConfigError> {
    let token = env
        .get("STREAK_CONNECTOR_ADMIN_TOKEN")
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim()));
    if let Some(t) = &token {
        if t.expose().len() < 16 {
            return Err(invalid(
                "STREAK_CONNECTOR_ADMIN_TOKEN",
                "must be at least 16 characters",
            ));
        }
    }
    Ok(token)
}

pub(super) fn read_secret_file(what: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| ConfigError::Io {
            what,
            path: path.to_path_buf(),
            source,
        })
}

/// API keys from `STREAK_CONNECTOR_API_KEYS` and/or the key file or directory.
/// Blank lines and `#` comments are skipped; duplicates are dropped.
pub fn load_api_keys(file: Option<&PathBuf>, env: &Env) -> Result<Vec<Secret>, ConfigError> {
    let mut keys: Vec<String> = Vec::new();
    if let Some(list) = env.get("STREAK_CONNECTOR_API_KEYS") {
        keys.extend(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from),
        );
    }
    if let Some(path) = file {
        let meta = std::fs::metadata(path).map_err(|source| ConfigError::Io {
            what: "API key file",
            path: path.clone(),
            source,
        })?;
        let mut files = Vec::new();
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| ConfigError::Io {
                what: "API key directory",
                path: path.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                // Kubernetes mounts secrets through `..data` symlinks and hidden
                // timestamped folders: only the visible entries are keys.
                if name.starts_with('.') {
                    continue;
                }
                if std::fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false) {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.clone());
        }
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| ConfigError::Io {
                what: "API key file",
                path: f.clone(),
                source,
            })?;
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    for (i, k) in keys.iter().enumerate() {
        if k.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(
                "API keys",
                format!("key #{} contains whitespace or control characters", i + 1),
            ));
        }
    }
    if keys.is_empty() {
        return Err(ConfigError::NoApiKeys);
    }
    Ok(keys.into_iter().map(Secret::new).collect())
}
