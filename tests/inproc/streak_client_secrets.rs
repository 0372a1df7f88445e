//! The API key appears nowhere: not in logs (all of them, at TRACE, including the
//! HTTP stack's), not in error `Display`/`Debug`, not in `Debug` of the client, key
//! or config, not in metrics, even when the server echoes the key back in bodies
//! and headers.
//!
//! One test alone in its binary: it installs a global tracing subscriber.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use streak_connector::metrics::Metrics;
use streak_connector::recovery::Classified as _;
use streak_connector::streak::{ApiError, ApiKey, ClientConfig, StreakClient};

use testkit::streak_server::{json, random_key, with_header, Reply, Server};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn the_key_never_appears_in_logs_errors_or_metrics() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    // The only test of this binary, so a global subscriber sees every thread and no
    // other test can race it for tracing's per-callsite interest cache.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let key = random_key();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let echo = format!("your key {key} / Authorization: Basic {basic}");
    let server = Server::start(vec![
        // 401 quoting the key in the error body.
        json(401, &format!(r#"{{"error":"invalid key {key}"}}"#)),
        // 500 echoing key and credential, in the body and in headers.
        with_header(
            with_header(json(500, &echo), "retry-after", "1"),
            "x-echo",
            &key,
        ),
        // An "invalid response" whose content type and body carry the key.
        Reply::Plain {
            status: 200,
            headers: vec![("content-type", format!("text/html; key={key}"))],
            body: format!("<html>{echo}</html>").into_bytes(),
        },
        // A redirect whose location carries the key.
        with_header(
            json(302, ""),
            "location",
            &format!("https://evil.example/?k={key}"),
        ),
        // Drift with the key as a value.
        json(
            200,
            &format!(r#"[{{"key":"u1","email":{{"k":"{key}"}}}},{{"x":"{key}"}}]"#),
        ),
    ])
    .await;
    let metrics = Arc::new(Metrics::new());
    let mut config = ClientConfig::with_base_url(&server.base_url).unwrap();
    config.retry.max_attempts = 2;
    let api_key = ApiKey::new(key.clone()).unwrap();
    let client = StreakClient::new(config.clone(), api_key.clone(), metrics.clone()).unwrap();

    let mut texts = vec![
        format!("{api_key} {api_key:?} {client:?} {config:?}"),
        format!("{:?}", ApiKey::new(format!("{key} ")).unwrap_err()),
    ];
    let errors = [
        client.me().await.unwrap_err(),               // 401
        client.org_users("org-1").await.unwrap_err(), // 500 then the invalid 200
        client.me().await.unwrap_err(),               // 302
    ];
    client.org_users("org-1").await.unwrap(); // drift and an invalid entry
    assert_eq!(
        errors.iter().map(ApiError::error_code).collect::<Vec<_>>(),
        ["unauthorized", "invalid_response", "redirect"]
    );
    for e in &errors {
        texts.push(format!("{e} | {e:?} | {e:#?}"));
    }
    texts.push(metrics.encode_text());
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture works: the failures were logged, naming the key by fingerprint.
    assert!(logs.contains("Streak API key rejected"), "{logs}");
    assert!(logs.contains("Retrying Streak API request"), "{logs}");
    assert!(logs.contains(api_key.fingerprint()), "{logs}");
    assert!(texts[2].contains("[REDACTED]"), "{}", texts[2]);
    texts.push(logs);

    for text in &texts {
        assert!(!text.contains(&key), "key leaked in: {text}");
        assert!(!text.contains(&basic), "credential leaked in: {text}");
        // Nor a long piece of it (a snippet cut through the key).
        assert!(!text.contains(&key[..16]), "key prefix leaked in: {text}");
    }
}
