//! Credentials for the Schema Registry: `user:password` from the environment or a
//! file (a mounted secret), never from the command line or the URL. Owns reading and
//! holding them; `Debug` never shows the password.

use std::fmt;
use std::path::Path;

use super::registry::RegistryError;

/// Environment variable holding the registry credentials as `user:password` (the
/// format of Confluent's `basic.auth.user.info`).
pub const USER_INFO_ENV: &str = "STREAK_CONNECTOR_SCHEMA_REGISTRY_USER_INFO";
/// Environment variable naming a file that holds `user:password`.
pub const USER_INFO_FILE_ENV: &str = "STREAK_CONNECTOR_SCHEMA_REGISTRY_USER_INFO_FILE";
/// The settings from which the connector's configuration (`src/config.rs`) takes
/// the registry credentials, for error messages that tell the operator what to fix.
pub(crate) const CREDENTIAL_SETTINGS: &str = "STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME / \
     STREAK_CONNECTOR_SCHEMA_REGISTRY_PASSWORD (or [schema_registry] username / password_file)";

/// Basic auth credentials for the registry. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    username: String,
    password: String,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl RegistryAuth {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        RegistryAuth {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Parse `user:password` (the password may contain `:`). `origin` names where
    /// the text came from, for the error message (never the text itself).
    pub fn parse_user_info(text: &str, origin: &str) -> Result<Self, RegistryError> {
        let text = text.trim_end_matches(['\r', '\n']);
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(RegistryAuth::new(user, password)),
            _ => Err(RegistryError::BadCredentials {
                origin: origin.to_owned(),
            }),
        }
    }

    /// Read `user:password` from a file (a mounted secret).
    pub fn from_file(path: &Path) -> Result<Self, RegistryError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| RegistryError::CredentialsFile {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse_user_info(&text, &path.display().to_string())
    }

    /// Credentials from [`USER_INFO_ENV`], else from the file named by
    /// [`USER_INFO_FILE_ENV`], else none. `lookup` reads a variable (pass
    /// `|k| std::env::var(k).ok()`), so tests need not touch the process environment.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, RegistryError> {
        if let Some(text) = lookup(USER_INFO_ENV).filter(|t| !t.is_empty()) {
            return Self::parse_user_info(&text, USER_INFO_ENV).map(Some);
        }
        match lookup(USER_INFO_FILE_ENV).filter(|t| !t.is_empty()) {
            Some(path) => Self::from_file(Path::new(&path)).map(Some),
            None => Ok(None),
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// For the HTTP client only: never log or display it.
    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::registry::RegistryConfig;

    #[test]
    fn debug_redacts_the_password() {
        let auth = RegistryAuth::new("svc", "hunter2");
        let shown = format!(
            "{auth:?} {:?}",
            RegistryConfig::new("https://r").with_auth(Some(auth.clone()))
        );
        assert!(shown.contains("svc"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn parses_user_info_from_env_and_file() {
        assert_eq!(
            RegistryAuth::parse_user_info("u:p:w\n", "x").ok(),
            Some(RegistryAuth::new("u", "p:w"))
        );
        assert!(matches!(
            RegistryAuth::parse_user_info("nocolon", "the-origin"),
            Err(RegistryError::BadCredentials { origin }) if origin == "the-origin"
        ));
        let none = RegistryAuth::from_env(|_| None).expect("no env is fine");
        assert_eq!(none, None);
        let env = RegistryAuth::from_env(|k| (k == USER_INFO_ENV).then(|| "a:b".to_owned()));
        assert_eq!(env.ok().flatten(), Some(RegistryAuth::new("a", "b")));

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("user-info");
        std::fs::write(&path, "svc:s3cret\n").expect("write");
        let p = path.display().to_string();
        let from_file = RegistryAuth::from_env(|k| (k == USER_INFO_FILE_ENV).then(|| p.clone()));
        assert_eq!(
            from_file.ok().flatten(),
            Some(RegistryAuth::new("svc", "s3cret"))
        );
        let missing = dir.path().join("missing").display().to_string();
        let err = RegistryAuth::from_env(|k| (k == USER_INFO_FILE_ENV).then(|| missing.clone()))
            .expect_err("missing file");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
