//! One HTTP attempt's vocabulary: how an attempt ends, what a transient failure
//! becomes when retries run out, status classes, and capped body reads.
//!
//! No policy lives here (the client decides what to retry and when), and nothing
//! here sees the key.

use std::time::Duration;

use super::error::ApiError;
use super::wire::{ListingParser, ParsedListing, WireError, SNIPPET_WINDOW};

/// A successful (2xx) response, body read.
pub(super) struct Body {
    pub(super) status: u16,
    pub(super) content_type: Option<String>,
    /// The whole body; for a listing read as a stream, its first
    /// [`SNIPPET_WINDOW`] bytes only (for quoting in an error).
    pub(super) bytes: Vec<u8>,
    /// A listing read as a stream: what its parser made of it.
    pub(super) listing: Option<Result<ParsedListing, WireError>>,
}

/// How a successful answer's body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// Whole, into [`Body::bytes`].
    Bytes,
    /// As a stream into a [`ListingParser`], into [`Body::listing`]: memory of the
    /// members, not of the body.
    Listing,
}

/// How one attempt ended.
pub(super) enum Outcome {
    Done(Body),
    /// Not worth retrying within this call.
    Fail(ApiError),
    Retry(Transient),
}

/// Every `status_class` label value of `api_requests_total`: the HTTP classes of
/// [`status_class`] and the two ways an attempt ends without a status.
pub(crate) const STATUS_CLASSES: [&str; 6] = ["2xx", "3xx", "4xx", "5xx", "timeout", "transport"];

/// A failure worth retrying, and what it becomes if the retries run out.
pub(super) struct Transient {
    /// `api_retries_total` reason label ([`TransientKind::reason`]).
    pub(super) reason: &'static str,
    /// The server's `Retry-After`, uncapped.
    pub(super) retry_after: Option<Duration>,
    pub(super) kind: TransientKind,
}

pub(super) enum TransientKind {
    RateLimited,
    Server { status: u16, detail: Option<String> },
    Timeout,
    Transport { detail: String },
}

/// Every `reason` label value of `api_retries_total`, one per [`TransientKind`].
pub(crate) const RETRY_REASONS: [&str; 4] =
    ["rate_limited", "server_error", "timeout", "transport"];

impl TransientKind {
    /// The `api_retries_total` reason (also the `status_class` of an attempt that
    /// got no status).
    fn reason(&self) -> &'static str {
        match self {
            TransientKind::RateLimited => RETRY_REASONS[0],
            TransientKind::Server { .. } => RETRY_REASONS[1],
            TransientKind::Timeout => RETRY_REASONS[2],
            TransientKind::Transport { .. } => RETRY_REASONS[3],
        }
    }
}

impl Transient {
    pub(super) fn new(retry_after: Option<Duration>, kind: TransientKind) -> Transient {
        Transient {
            reason: kind.reason(),
            retry_after,
            kind,
        }
    }

    pub(super) fn into_error(self, endpoint: &'static str, attempts: u32) -> ApiError {
        match self.kind {
            TransientKind::RateLimited => ApiError::RateLimited {
                endpoint,
                attempts,
                retry_after: self.retry_after,
            },
            TransientKind::Server { status, detail } => ApiError::ServerError {
                endpoint,
                status,
                attempts,
                detail,
            },
            TransientKind::Timeout => ApiError::Timeout { endpoint, attempts },
            TransientKind::Transport { detail } => ApiError::Transport {
                endpoint,
                attempts,
                detail,
            },
        }
    }
}

pub(super) fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

pub(super) enum ReadError {
    TooLarge { content_length: Option<u64> },
    Failed(reqwest::Error),
}

/// Reads the body as a stream, refusing it as soon as it passes `limit` bytes (or
/// announces more up front): memory use never exceeds the limit plus one chunk.
pub(super) async fn read_capped(
    response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, ReadError> {
    // Trust an announced length for preallocation only up to 1 MiB.
    let initial = response
        .content_length()
        .unwrap_or(0)
        .min(limit)
        .min(1 << 20);
    let mut bytes = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
    each_chunk(response, limit, |chunk| {
        bytes.extend_from_slice(chunk);
        true
    })
    .await?;
    Ok(bytes)
}

/// Reads a listing as a stream, parsing each entry as it arrives, within the same
/// cap as [`read_capped`]. A body that is not a listing stops the reading at once.
/// Returns the body's first [`SNIPPET_WINDOW`] bytes and the parser's result.
pub(super) async fn read_listing(
    response: reqwest::Response,
    limit: u64,
) -> Result<(Vec<u8>, Result<ParsedListing, WireError>), ReadError> {
    // An announced length over the cap is refused before the first byte is read.
    let mut parser =
        ListingParser::with_announced_length(response.content_length().filter(|&n| n <= limit));
    let mut prefix = Vec::new();
    let mut failed = None;
    each_chunk(response, limit, |chunk| {
        let room = SNIPPET_WINDOW.saturating_sub(prefix.len());
        prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
        match parser.feed(chunk) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })
    .await?;
    let parsed = match failed {
        Some(e) => Err(e),
        None => parser.finish(),
    };
    Ok((prefix, parsed))
}

/// Hands each chunk of the body to `take` until it returns `false` or the body
/// ends; refuses the body as soon as it passes `limit` bytes (or announces more up
/// front).
async fn each_chunk(
    mut response: reqwest::Response,
    limit: u64,
    mut take: impl FnMut(&[u8]) -> bool,
) -> Result<(), ReadError> {
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge {
            content_length: announced,
        });
    }
    let mut total = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Failed)? {
        total += chunk.len() as u64;
        if total > limit {
            return Err(ReadError::TooLarge {
                content_length: announced,
            });
        }
        if !take(&chunk) {
            break;
        }
    }
    Ok(())
}

/// Reads at most `limit` bytes of an error body; a broken body yields what arrived.
pub(super) async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= limit {
            break;
        }
    }
    bytes
}
