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

/// API keys from `STREAK_CONNECTOR_API_KEYS` and/or the key file or directory
/// (blank lines and `#` comments skipped, duplicates dropped), and how many of the
/// keys (the first ones) come from `STREAK_CONNECTOR_API_KEYS`: those are fixed for the life of the process, the
/// key file's are re-read by `run`. The file is read by the key file's one parser,
/// [`crate::keypool::read_key_path`].
pub(crate) fn load_api_key_sources(
    file: Option<&PathBuf>,
    env: &Env,
) -> Result<(Vec<Secret>, usize), ConfigError> {
    let mut keys: Vec<String> = Vec::new();
    if let Some(list) = env.get("STREAK_CONNECTOR_API_KEYS") {
        keys.extend(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from),
        );
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    for (i, k) in keys.iter().enumerate() {
        if let Err(e) = crate::streak::ApiKey::new(k.clone()) {
            return Err(invalid(
                "STREAK_CONNECTOR_API_KEYS",
                format!("key #{}: {e}", i + 1),
            ));
        }
    }
    let from_env = keys.len();
    if let Some(path) = file {
        for key in crate::keypool::read_key_path(path).map_err(key_file_error)? {
            if seen.insert(key.expose().to_owned()) {
                keys.push(key.expose().to_owned());
            }
        }
    }
    if keys.is_empty() {
        return Err(ConfigError::NoApiKeys);
    }
    Ok((keys.into_iter().map(Secret::new).collect(), from_env))
}

fn key_file_error(e: crate::keypool::KeyFileError) -> ConfigError {
    match e {
        crate::keypool::KeyFileError::Io { what, path, source } => {
            ConfigError::Io { what, path, source }
        }
        other => invalid("--api-key-file", other.to_string()),
    }
}
