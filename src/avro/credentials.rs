//! Credentials for the Schema Registry, as the connector's configuration
//! (`src/config.rs`) read them: from the environment or a file (a mounted secret),
//! never from the command line or the URL. Owns holding them; `Debug` never shows
//! the password.

use std::fmt;

/// The settings from which the connector's configuration takes the registry
/// credentials, for error messages that tell the operator what to fix.
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

    pub(crate) fn username(&self) -> &str {
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

    #[test]
    fn debug_redacts_the_password() {
        let shown = format!("{:?}", RegistryAuth::new("svc", "hunter2"));
        assert!(shown.contains("svc"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
