//! The Streak API key: a secret that only this module and the request builder see.
//!
//! Owns validation of the key's shape, its fingerprint (the only name by which logs,
//! metrics and errors may refer to it) and the scrubbing of any text the server sends
//! back before that text is quoted anywhere. It must never hand out the key except to
//! the HTTP request builder, and its `Debug`/`Display` never print it.

use std::fmt;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Longest key accepted. Streak keys are a few dozen characters; the bound also keeps
/// the scrubbing of echoed error bodies provably complete (see [`ApiKey::scrub`]).
const MAX_KEY_LEN: usize = 512;

/// What replaces the key (or its Basic credential) in any quoted server text.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// A Streak personal API key.
///
/// Printing it (`{}` or `{:?}`) shows only its fingerprint. The key itself is used
/// for the `Authorization` header and nowhere else.
#[derive(Clone)]
pub struct ApiKey {
    secret: String,
    fingerprint: String,
    /// Forms of the key a server could echo back: the key, the Basic credential
    /// `base64(key + ":")`, and its percent-encoded form when that differs.
    needles: Vec<String>,
}

impl ApiKey {
    /// Accepts a key as read from the environment or a secret file.
    ///
    /// Refuses an empty key, and any character that is not visible ASCII (spaces,
    /// newlines, control characters: a secret file's trailing newline must be trimmed
    /// by the caller) or is `:` (it would split the Basic credential). The error
    /// never contains the key.
    pub fn new(secret: String) -> Result<ApiKey, ApiError> {
        let invalid = |reason: &str| ApiError::Config {
            setting: "api_key",
            reason: reason.to_string(),
        };
        if secret.is_empty() {
            return Err(invalid("the API key is empty"));
        }
        if secret.len() > MAX_KEY_LEN {
            return Err(invalid(&format!(
                "the API key is longer than {MAX_KEY_LEN} bytes: not a Streak key"
            )));
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "the API key contains whitespace or a control character \
                 (a trailing newline from a secret file?): trim it",
            ));
        }
        if !secret.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                "the API key contains non-ASCII characters: not a Streak key",
            ));
        }
        if secret.contains(':') {
            return Err(invalid(
                "the API key contains ':', which HTTP Basic auth cannot carry in a username",
            ));
        }
        let digest = Sha256::digest(secret.as_bytes());
        let fingerprint = hex::encode(&digest[..4]);
        let mut needles = vec![
            secret.clone(),
            base64::engine::general_purpose::STANDARD.encode(format!("{secret}:")),
        ];
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        if encoded != secret {
            needles.push(encoded);
        }
        Ok(ApiKey {
            secret,
            fingerprint,
            needles,
        })
    }

    /// The first 8 hex digits of the key's SHA-256: safe to log and to use as a
    /// metric label, enough to tell an operator which key is meant.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The key itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.secret
    }

    /// Replaces every occurrence of the key (plain, as a Basic credential, or
    /// percent-encoded) in `text` with `[REDACTED]`.
    ///
    /// Callers scrub a window of the server's text before they cut a short snippet
    /// out of it. With keys capped at 512 bytes, a key cut in half by the window's
    /// end cannot land in a 200-character snippet of a 64 KiB window: the replacements
    /// before it would have to shrink 63 KiB to under 200 characters.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        out
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[API key {}]", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_first_8_hex_digits_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea ...
        let key = ApiKey::new("abc".to_string()).unwrap();
        assert_eq!(key.fingerprint(), "ba7816bf");
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = ApiKey::new("s3cr3t-key-value".to_string()).unwrap();
        let shown = format!("{key} {key:?} {key:#?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains(key.fingerprint()));
    }

    #[test]
    fn rejects_malformed_keys_without_quoting_them() {
        for bad in [
            "",
            " ",
            "abc\n",
            "ab c",
            "a\tb",
            "a\u{7}b",
            "ké",
            "user:pass",
        ] {
            let err = ApiKey::new(bad.to_string()).unwrap_err();
            assert!(matches!(
                err,
                ApiError::Config {
                    setting: "api_key",
                    ..
                }
            ));
            if !bad.trim().is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
        assert!(ApiKey::new("x".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(ApiKey::new("x".repeat(MAX_KEY_LEN)).is_ok());
    }

    #[test]
    fn scrub_removes_plain_basic_and_percent_encoded_forms() {
        let key = ApiKey::new("k+y/42".to_string()).unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode("k+y/42:");
        let text = format!("bad key k+y/42, header Basic {basic}, query k%2By%2F42");
        let out = key.scrub(&text);
        assert!(!out.contains("k+y/42"), "{out}");
        assert!(!out.contains(&basic), "{out}");
        assert!(!out.contains("k%2By%2F42"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 3);
    }
}
