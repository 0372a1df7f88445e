//! Redaction: the one helper that removes credentials from URLs and from the values
//! of secret-bearing librdkafka properties before anything prints them (errors, logs,
//! `Debug`).
//!
//! It owns only the rules of what counts as a secret; it must not log or read
//! anything.

/// What a redacted credential or secret is shown as.
pub(crate) const REDACTED: &str = "<redacted>";

/// `text` with the user information of its authority (`user:password@`) replaced,
/// whether or not the URL parses: `https://KEY:@host/x` becomes
/// `https://<redacted>@host/x`. Text without `scheme://` is returned as is.
pub(crate) fn redact_url(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &text[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    match authority.rfind('@') {
        Some(at) => format!(
            "{}{REDACTED}{}",
            &text[..authority_start],
            &text[authority_start + at..]
        ),
        None => text.to_string(),
    }
}

/// Whether a librdkafka property holds a secret (passwords, keys, tokens, JAAS and
/// OAuth configurations).
pub(crate) fn is_secret_property(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "key.pem",
        "token",
        "sasl.jaas",
        "oauthbearer.config",
        "private",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// The value of property `name` as it may be shown: [`REDACTED`] for a secret
/// property.
pub(crate) fn property_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_property(name) {
        REDACTED
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        let cases = [
            (
                "https://KEY:@api.streak.com/api/v1",
                "https://<redacted>@api.streak.com/api/v1",
            ),
            (
                "http://svc:hunter2@registry:8081",
                "http://<redacted>@registry:8081",
            ),
            ("https://u:p@ss@host/a@b", "https://<redacted>@host/a@b"),
            // Not parseable as a URL: still redacted.
            ("https://KEY:@[bad/x", "https://<redacted>@[bad/x"),
            (
                "https://api.streak.com/api/v1",
                "https://api.streak.com/api/v1",
            ),
            ("http://host/path?q=a@b", "http://host/path?q=a@b"),
            ("not a url", "not a url"),
        ];
        for (input, shown) in cases {
            assert_eq!(redact_url(input), shown, "{input}");
        }
    }

    #[test]
    fn secret_properties_are_recognised() {
        for secret in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret_property(secret), "{secret}");
            assert_eq!(property_value(secret, "hunter2"), REDACTED);
        }
        for plain in ["sasl.username", "security.protocol", "linger.ms"] {
            assert!(!is_secret_property(plain), "{plain}");
            assert_eq!(property_value(plain, "x"), "x");
        }
    }
}
