//! The client's one error type: what went wrong with a Streak API call and what the
//! operator or the caller does about it.
//!
//! Every message says how to recover. Text quoted from the server is scrubbed of the
//! API key and truncated before it gets here; this module never sees the key.

use std::time::Duration;

use crate::recovery::{Classified, Recovery};

/// A Streak API call that failed for good (after the client's own retries, where it
/// retries).
///
/// Recovery ([`Classified::recovery`]), decided here:
/// - transient (429, 5xx, timeouts, transport, a body that is not the expected
///   JSON): [`Recovery::RetryNow`]; the client has retried within the call, and the
///   next poll may succeed unaided.
/// - everything else ([`ApiError::is_key_rejected`]: 401, 403, 410, and the
///   configuration or contract problems): [`Recovery::StopOrganization`]; an
///   operator must act (new key, new connector version, the setting named in the
///   message); polling again changes nothing until then.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "Streak rejected the API key (401 Unauthorized on {endpoint}{}): the key was revoked \
         or its owner left the organization (the personal key trap). Create a new key as a \
         current member of the organization and update the connector's key secret",
        quote(detail)
    )]
    Unauthorized {
        endpoint: &'static str,
        detail: Option<String>,
    },

    #[error(
        "Streak refused the API key access (403 Forbidden on {endpoint}{}): the key's owner \
         lost access to the organization. Use a key of a current member with access and \
         update the connector's key secret",
        quote(detail)
    )]
    Forbidden {
        endpoint: &'static str,
        detail: Option<String>,
    },

    #[error(
        "Streak retired this API version (410 Gone on {endpoint}{}): upgrade the connector \
         or point `base_url` at the current API version",
        quote(detail)
    )]
    Gone {
        endpoint: &'static str,
        detail: Option<String>,
    },

    #[error(
        "Streak has no such resource (404 Not Found on {endpoint}{}): the organization key is \
         wrong, or this API key belongs to another organization (one key sees one \
         organization). Check the configured organization against `GET /users/me`",
        quote(detail)
    )]
    NotFound {
        endpoint: &'static str,
        detail: Option<String>,
    },

    #[error(
        "Streak refused the request as malformed (400 Bad Request on {endpoint}{}): check \
         `base_url` and the organization key; if they are right, the API changed and the \
         connector needs an update",
        quote(detail)
    )]
    BadRequest {
        endpoint: &'static str,
        detail: Option<String>,
    },

    #[error(
        "Streak answered {endpoint} with unexpected status {status}{}: not retried; check \
         `base_url`, and report it if it persists",
        quote(detail)
    )]
    UnexpectedStatus {
        endpoint: &'static str,
        status: u16,
        detail: Option<String>,
    },

    #[error(
        "Streak redirected {endpoint} ({status}) to {}: redirects are not followed, so the key \
         is never sent elsewhere. Set `base_url` to the new address if it is Streak's",
        location.as_deref().unwrap_or("an unnamed location")
    )]
    Redirect {
        endpoint: &'static str,
        status: u16,
        location: Option<String>,
    },

    #[error(
        "Streak rate-limited {endpoint} (429) on all {attempts} attempts{}: the next poll \
         retries; if it persists, lower `rate_limit_per_sec` or poll less often",
        retry_after.map(|d| format!(", last Retry-After {}s", d.as_secs())).unwrap_or_default()
    )]
    RateLimited {
        endpoint: &'static str,
        attempts: u32,
        retry_after: Option<Duration>,
    },

    #[error(
        "Streak failed {endpoint} with {status} on {attempts} attempts{}: a Streak-side \
         outage; the next poll retries",
        quote(detail)
    )]
    ServerError {
        endpoint: &'static str,
        status: u16,
        attempts: u32,
        detail: Option<String>,
    },

    #[error(
        "Streak did not answer {endpoint} in time on {attempts} attempts: the next poll \
         retries; if it persists, check the network path or raise `request_timeout`"
    )]
    Timeout {
        endpoint: &'static str,
        attempts: u32,
    },

    #[error(
        "could not reach Streak for {endpoint} after {attempts} attempts ({detail}): the next \
         poll retries; check DNS, proxy and firewall settings and `base_url`"
    )]
    Transport {
        endpoint: &'static str,
        attempts: u32,
        detail: String,
    },

    #[error(
        "Streak answered {endpoint} with {status} but not the expected JSON ({reason}; \
         content type {}; body starts {snippet:?}): a proxy or an API change; the next poll \
         retries, report it if it persists",
        content_type.as_deref().unwrap_or("none")
    )]
    InvalidResponse {
        endpoint: &'static str,
        status: u16,
        content_type: Option<String>,
        /// Why the body was refused (which shape was expected).
        reason: String,
        /// The first 200 characters of the body, scrubbed of the key.
        snippet: String,
    },

    #[error(
        "Streak's answer to {endpoint} is larger than `max_body_bytes` ({limit} bytes{}): \
         reading stopped; raise `max_body_bytes` if the organization really is this large",
        content_length.map(|n| format!(", announced {n}")).unwrap_or_default()
    )]
    BodyTooLarge {
        endpoint: &'static str,
        limit: u64,
        content_length: Option<u64>,
    },

    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        setting: &'static str,
        reason: String,
    },
}

fn quote(detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!(", Streak said {d:?}"),
        None => String::new(),
    }
}

impl ApiError {
    /// True for 401, 403 and 410: the key is revoked, its owner left the organization,
    /// or the API moved. An operator alert, not a retry loop.
    pub fn is_key_rejected(&self) -> bool {
        matches!(
            self,
            ApiError::Unauthorized { .. } | ApiError::Forbidden { .. } | ApiError::Gone { .. }
        )
    }

    /// Every error code, for the zero series of `api_errors_total`.
    pub const CODES: [&'static str; 14] = [
        "unauthorized",
        "forbidden",
        "gone",
        "not_found",
        "bad_request",
        "unexpected_status",
        "redirect",
        "rate_limited",
        "server_error",
        "timeout",
        "transport",
        "invalid_response",
        "body_too_large",
        "config",
    ];

    /// A fixed label for metrics (`api_errors_total{error_code}`): never raw text.
    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::Gone { .. } => "gone",
            ApiError::NotFound { .. } => "not_found",
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::UnexpectedStatus { .. } => "unexpected_status",
            ApiError::Redirect { .. } => "redirect",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::ServerError { .. } => "server_error",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Transport { .. } => "transport",
            ApiError::InvalidResponse { .. } => "invalid_response",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::Config { .. } => "config",
        }
    }

    fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited { .. }
                | ApiError::ServerError { .. }
                | ApiError::Timeout { .. }
                | ApiError::Transport { .. }
                | ApiError::InvalidResponse { .. }
        )
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::Gone { .. } => Some(410),
            ApiError::NotFound { .. } => Some(404),
            ApiError::BadRequest { .. } => Some(400),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::UnexpectedStatus { status, .. }
            | ApiError::Redirect { status, .. }
            | ApiError::ServerError { status, .. }
            | ApiError::InvalidResponse { status, .. } => Some(*status),
            ApiError::Timeout { .. }
            | ApiError::Transport { .. }
            | ApiError::BodyTooLarge { .. }
            | ApiError::Config { .. } => None,
        }
    }
}

impl Classified for ApiError {
    fn recovery(&self) -> Recovery {
        if self.is_transient() {
            Recovery::RetryNow
        } else {
            Recovery::StopOrganization
        }
    }

    fn error_code(&self) -> &'static str {
        self.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_is_consistent() {
        let e = |status| ApiError::ServerError {
            endpoint: "users_me",
            status,
            attempts: 6,
            detail: None,
        };
        assert_eq!(e(503).recovery(), Recovery::RetryNow);
        assert!(!e(503).is_key_rejected());
        let unauthorized = ApiError::Unauthorized {
            endpoint: "users_me",
            detail: Some("invalid key".into()),
        };
        assert!(unauthorized.is_key_rejected());
        assert_eq!(unauthorized.recovery(), Recovery::StopOrganization);
        assert_eq!(unauthorized.error_code(), "unauthorized");

        assert_eq!(unauthorized.status(), Some(401));
        let msg = unauthorized.to_string();
        assert!(msg.contains("personal key trap"), "{msg}");
        assert!(msg.contains("\"invalid key\""), "{msg}");
    }

    #[test]
    fn codes_list_every_variant_once() {
        let ep = "users_me";
        let all = [
            ApiError::Unauthorized {
                endpoint: ep,
                detail: None,
            },
            ApiError::Forbidden {
                endpoint: ep,
                detail: None,
            },
            ApiError::Gone {
                endpoint: ep,
                detail: None,
            },
            ApiError::NotFound {
                endpoint: ep,
                detail: None,
            },
            ApiError::BadRequest {
                endpoint: ep,
                detail: None,
            },
            ApiError::UnexpectedStatus {
                endpoint: ep,
                status: 418,
                detail: None,
            },
            ApiError::Redirect {
                endpoint: ep,
                status: 301,
                location: None,
            },
            ApiError::RateLimited {
                endpoint: ep,
                attempts: 1,
                retry_after: None,
            },
            ApiError::ServerError {
                endpoint: ep,
                status: 503,
                attempts: 1,
                detail: None,
            },
            ApiError::Timeout {
                endpoint: ep,
                attempts: 1,
            },
            ApiError::Transport {
                endpoint: ep,
                attempts: 1,
                detail: String::new(),
            },
            ApiError::InvalidResponse {
                endpoint: ep,
                status: 200,
                content_type: None,
                reason: String::new(),
                snippet: String::new(),
            },
            ApiError::BodyTooLarge {
                endpoint: ep,
                limit: 1,
                content_length: None,
            },
            ApiError::Config {
                setting: "base_url",
                reason: String::new(),
            },
        ];
        let codes: Vec<&str> = all.iter().map(Classified::error_code).collect();
        assert_eq!(codes, ApiError::CODES);
    }
}
