//! A small Confluent Schema Registry client: the few REST calls the connector uses
//! (register a schema under a subject, look one up, fetch a schema by id, list a
//! subject's versions and fetch one, list the subjects), Basic auth, timeouts,
//! capped bodies and errors that say what to do.
//!
//! It owns HTTP to the registry and nothing else: no caching (the encoder and the
//! decoder cache what they need), no retries (registration happens at start-up,
//! where an error is fatal and clear; the caller decides).

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::credentials::{RegistryAuth, CREDENTIAL_SETTINGS};
use super::errors::RegistryError;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const ACCEPT: &str = "application/vnd.schemaregistry.v1+json, application/json";
/// Registry answers are small JSON documents; a larger body is a misconfigured URL.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How to reach the registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Base URL, e.g. `http://schema-registry:8081` (a path prefix is kept).
    pub url: String,
    pub auth: Option<RegistryAuth>,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl RegistryConfig {
    /// A configuration with default timeouts (10 s per request, 5 s to connect)
    /// and no credentials.
    pub fn new(url: impl Into<String>) -> Self {
        RegistryConfig {
            url: url.into(),
            auth: None,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub fn with_auth(mut self, auth: Option<RegistryAuth>) -> Self {
        self.auth = auth;
        self
    }
}

/// A Confluent Schema Registry client. Cheap to clone (shares its connection pool).
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: Url,
    auth: Option<RegistryAuth>,
}

#[derive(Deserialize)]
struct IdAnswer {
    id: i64,
}

#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct VersionAnswer {
    id: i64,
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    error_code: Option<i64>,
    message: Option<String>,
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The URL for messages, without any credentials it may carry.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                // Only fails for cannot-be-a-base URLs, which carry no credentials.
                let _ = u.set_username("redacted");
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        Err(_) if url.contains('@') => "<unparseable URL, redacted>".to_owned(),
        Err(_) => url.to_owned(),
    }
}

impl RegistryClient {
    /// Check the URL and build the HTTP client. Refuses credentials in the URL
    /// (they would sit in argv and logs) and Basic auth over plain `http://` to
    /// anything but a loopback address (it would send the password in clear).
    pub fn new(config: RegistryConfig) -> Result<Self, RegistryError> {
        let shown = redacted(&config.url);
        let invalid = |reason: &str| RegistryError::InvalidUrl {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(&config.url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(invalid("no host"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(&format!(
                "credentials in the URL are refused; set {CREDENTIAL_SETTINGS}"
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("a query or fragment is not allowed"));
        }
        if config.auth.is_some() && base.scheme() == "http" && !is_loopback(&base) {
            return Err(invalid(
                "Basic auth over plain http would send the password in clear; use https",
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("streak-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(&format!("cannot build the HTTP client: {e}")))?;
        Ok(RegistryClient {
            http,
            base,
            auth: config.auth,
        })
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // `new` refused cannot-be-a-base URLs, so this branch always runs.
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Register `schema` under `subject` (`POST /subjects/{subject}/versions`), or
    /// get the id it already has there. Returns the schema id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = self.endpoint(&["subjects", subject, "versions"]);
        let body = serde_json::json!({ "schema": schema });
        let (status, bytes) = self
            .send("register", self.http.post(url).json(&body))
            .await?;
        if status.is_success() {
            return parse_id("register", status.as_u16(), &bytes);
        }
        Err(self.classify("register", status.as_u16(), &bytes, Some(subject), None))
    }

    /// Look up the id of `schema` under `subject` without registering it
    /// (`POST /subjects/{subject}`), for registries where the connector may not
    /// register.
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = self.endpoint(&["subjects", subject]);
        let body = serde_json::json!({ "schema": schema });
        let (status, bytes) = self.send("lookup", self.http.post(url).json(&body)).await?;
        if status.is_success() {
            return parse_id("lookup", status.as_u16(), &bytes);
        }
        Err(self.classify("lookup", status.as_u16(), &bytes, Some(subject), None))
    }

    /// The schema text registered with `id` (`GET /schemas/ids/{id}`).
    pub async fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        let url = self.endpoint(&["schemas", "ids", &id.to_string()]);
        let (status, bytes) = self.send("schema_by_id", self.http.get(url)).await?;
        if !status.is_success() {
            return Err(self.classify("schema_by_id", status.as_u16(), &bytes, None, Some(id)));
        }
        let answer: SchemaAnswer = parse_answer("schema_by_id", status.as_u16(), &bytes)?;
        avro_only("schema_by_id", status.as_u16(), id, answer.schema_type)?;
        Ok(answer.schema)
    }

    /// The versions registered under `subject` (`GET /subjects/{subject}/versions`),
    /// ascending; none when the subject does not exist (yet).
    pub(crate) async fn subject_versions(&self, subject: &str) -> Result<Vec<u32>, RegistryError> {
        let url = self.endpoint(&["subjects", subject, "versions"]);
        let (status, bytes) = self.send("subject_versions", self.http.get(url)).await?;
        if status.as_u16() == 404 {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            let e = self.classify(
                "subject_versions",
                status.as_u16(),
                &bytes,
                Some(subject),
                None,
            );
            return Err(e);
        }
        parse_answer("subject_versions", status.as_u16(), &bytes)
    }

    /// The schema id and text of one version of `subject`
    /// (`GET /subjects/{subject}/versions/{version}`).
    pub(crate) async fn subject_version(
        &self,
        subject: &str,
        version: u32,
    ) -> Result<(u32, String), RegistryError> {
        const OPERATION: &str = "subject_version";
        let url = self.endpoint(&["subjects", subject, "versions", &version.to_string()]);
        let (status, bytes) = self.send(OPERATION, self.http.get(url)).await?;
        let code = status.as_u16();
        if !status.is_success() {
            return Err(self.classify(OPERATION, code, &bytes, Some(subject), None));
        }
        let answer: VersionAnswer = parse_answer(OPERATION, code, &bytes)?;
        let id = u32::try_from(answer.id).map_err(|_| RegistryError::Unexpected {
            operation: OPERATION,
            status: code,
            message: format!("schema id {} out of range", answer.id),
        })?;
        avro_only(OPERATION, code, id, answer.schema_type)?;
        Ok((id, answer.schema))
    }

    /// The registered subjects (`GET /subjects`): what `check` asks to prove the
    /// registry answers and the credentials work.
    pub async fn subjects(&self) -> Result<Vec<String>, RegistryError> {
        let url = self.endpoint(&["subjects"]);
        let (status, bytes) = self.send("subjects", self.http.get(url)).await?;
        if !status.is_success() {
            return Err(self.classify("subjects", status.as_u16(), &bytes, None, None));
        }
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Unexpected {
            operation: "subjects",
            status: status.as_u16(),
            message: format!("not a list of subjects: {e}"),
        })
    }

    async fn send(
        &self,
        operation: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), RegistryError> {
        let mut request = request
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE);
        if let Some(auth) = &self.auth {
            request = request.basic_auth(auth.username(), Some(auth.password()));
        }
        let unavailable = |source: reqwest::Error| RegistryError::Unavailable {
            operation,
            url: self.base.to_string(),
            source,
        };
        let mut response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(RegistryError::Unexpected {
                    operation,
                    status: status.as_u16(),
                    message: format!("answer larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    fn classify(
        &self,
        operation: &'static str,
        status: u16,
        body: &[u8],
        subject: Option<&str>,
        id: Option<u32>,
    ) -> RegistryError {
        let answer: ErrorAnswer = serde_json::from_slice(body).unwrap_or_default();
        let message = match (answer.error_code, answer.message) {
            (Some(code), Some(m)) => format!("{m} (error code {code})"),
            (None, Some(m)) => m,
            (Some(code), None) => format!("error code {code}"),
            (None, None) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        };
        let subject = subject.unwrap_or_default().to_owned();
        match status {
            401 | 403 => RegistryError::Unauthorized {
                operation,
                status,
                message,
            },
            409 => RegistryError::Incompatible { subject, message },
            422 => RegistryError::InvalidSchema { subject, message },
            404 => match id {
                Some(id) => RegistryError::UnknownId { id, message },
                None => RegistryError::NotRegistered { subject, message },
            },
            500..=599 => RegistryError::Server {
                operation,
                status,
                message,
            },
            _ => RegistryError::Unexpected {
                operation,
                status,
                message,
            },
        }
    }
}

fn parse_answer<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(body).map_err(|e| RegistryError::Unexpected {
        operation,
        status,
        message: format!("answer not understood: {e}"),
    })
}

/// Refuse a schema that is not Avro (the registry also holds JSON Schema and
/// Protobuf); Confluent omits `schemaType` for Avro.
fn avro_only(
    operation: &'static str,
    status: u16,
    id: u32,
    schema_type: Option<String>,
) -> Result<(), RegistryError> {
    match schema_type.as_deref() {
        None | Some("AVRO") => Ok(()),
        Some(other) => Err(RegistryError::Unexpected {
            operation,
            status,
            message: format!("schema {id} is of type {other}, not AVRO"),
        }),
    }
}

fn parse_id(operation: &'static str, status: u16, body: &[u8]) -> Result<u32, RegistryError> {
    let answer: IdAnswer = serde_json::from_slice(body).map_err(|e| RegistryError::Unexpected {
        operation,
        status,
        message: format!("no schema id in the answer: {e}"),
    })?;
    u32::try_from(answer.id).map_err(|_| RegistryError::Unexpected {
        operation,
        status,
        message: format!("schema id {} out of range", answer.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_config_redacts_the_password() {
        let config =
            RegistryConfig::new("https://r").with_auth(Some(RegistryAuth::new("svc", "hunter2")));
        let shown = format!("{config:?}");
        assert!(shown.contains("svc"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn refuses_unsafe_or_malformed_urls() {
        let auth = Some(RegistryAuth::new("u", "p"));
        for (url, auth, needle) in [
            ("not a url", None, "invalid"),
            ("ftp://r:8081", None, "scheme"),
            ("http://u:p@r:8081", None, "credentials in the URL"),
            ("http://registry:8081", auth.clone(), "clear"),
            ("http://r:8081/?x=1", None, "query"),
        ] {
            let err = RegistryClient::new(RegistryConfig::new(url).with_auth(auth)).expect_err(url);
            assert!(err.to_string().contains(needle), "{url}: {err}");
            assert!(!err.to_string().contains(":p@"), "{err}");
            assert!(!err.is_retriable());
        }
        for ok in [
            "http://127.0.0.1:8081",
            "http://localhost:8081",
            "https://r/prefix/",
        ] {
            RegistryClient::new(RegistryConfig::new(ok).with_auth(auth.clone())).expect(ok);
        }
    }

    #[test]
    fn endpoints_keep_a_path_prefix_and_escape_subjects() {
        let c = RegistryClient::new(RegistryConfig::new("https://r/prefix/")).expect("client");
        assert_eq!(
            c.endpoint(&["subjects", "a/b-value", "versions"]).as_str(),
            "https://r/prefix/subjects/a%2Fb-value/versions"
        );
        let c = RegistryClient::new(RegistryConfig::new("https://r")).expect("client");
        assert_eq!(
            c.endpoint(&["schemas", "ids", "7"]).as_str(),
            "https://r/schemas/ids/7"
        );
    }
}
