//! A response as the simulator decided it ([`Reply`], plus the [`Plan`] that delays
//! it), and the responses of status faults. Values only: the server turns them into
//! HTTP.

use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;

use super::faults::{self, FaultKind, RetryAfter};

/// What one request gets: a wait, then a reply.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) delay: Duration,
    pub(crate) reply: Reply,
}

/// A response to send.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) retry_after: Option<String>,
    pub(crate) www_authenticate: bool,
    pub(crate) body: Bytes,
    /// Send only this many bytes of `body`, having declared its whole length, then
    /// break the connection.
    pub(crate) abort_after: Option<usize>,
}

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=UTF-8";

impl Reply {
    pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type: JSON,
            retry_after: None,
            www_authenticate: false,
            body: body.into(),
            abort_after: None,
        }
    }

    pub(crate) fn error(status: StatusCode, message: &str) -> Reply {
        Reply::json(status, faults::error_body(message))
    }

    /// The answer to a path the API does not have.
    pub(crate) fn not_found() -> Reply {
        Reply::error(StatusCode::NOT_FOUND, "Not found")
    }

    pub(crate) fn unauthorized(message: &str) -> Reply {
        Reply {
            www_authenticate: true,
            ..Reply::error(StatusCode::UNAUTHORIZED, message)
        }
    }
}

/// The response of a status fault.
pub(crate) fn status_reply(kind: &FaultKind) -> Reply {
    match kind {
        FaultKind::HttpError {
            status,
            message,
            retry_after,
        } => Reply {
            retry_after: retry_after.map(|r| match r {
                RetryAfter::Seconds(s) => s.to_string(),
                RetryAfter::HttpDate(s) => {
                    httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(s))
                }
            }),
            www_authenticate: *status == StatusCode::UNAUTHORIZED,
            ..Reply::error(*status, message)
        },
        FaultKind::HtmlError { status } => Reply {
            content_type: HTML,
            ..Reply::json(*status, faults::html_page(*status))
        },
        // Only status kinds reach here.
        _ => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "simulator bug"),
    }
}
