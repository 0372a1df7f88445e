//! Log set-up: `tracing` with text (default) or JSON lines on stderr, filtered by
//! `RUST_LOG` (default `info`). Metrics live in [`crate::metrics`].
//!
//! Must not log secrets: nothing here formats configuration. Text logs escape the
//! control characters of every value ([`super::text_fields`]): a newline in an
//! organization key, an email or a name cannot forge a log line.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use super::text_fields::EscapedFields;
use crate::config::LogFormat;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        LogFormat::Text => text_builder(std::io::stderr)
            .with_env_filter(filter)
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}

/// The text subscriber's builder, writing to `writer`.
fn text_builder<W>(
    writer: W,
) -> tracing_subscriber::fmt::SubscriberBuilder<
    EscapedFields,
    tracing_subscriber::fmt::format::Format,
    tracing_subscriber::filter::LevelFilter,
    W,
>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_target(false)
        .fmt_fields(EscapedFields)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::telemetry::captured::CapturedLog;

    /// Issue 13.8: a value from the API with a newline stays on its line, in a
    /// `%` field, a `?` field, a string field, a span field and the message.
    #[test]
    fn text_logs_escape_newlines_of_api_values() {
        let buf = CapturedLog::default();
        let writer = buf.clone();
        let subscriber = text_builder(move || writer.clone())
            .with_ansi(false)
            .finish();
        let forged = "org-a\n2026-01-01T00:00:00Z  INFO forged: all clear\r";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("poll", org = %forged);
            let _g = span.enter();
            tracing::warn!(
                org = %forged,
                email = ?forged,
                name = forged,
                "member {forged} left"
            );
        });
        let text = buf.text();
        assert_eq!(text.lines().count(), 1, "one event, one line:\n{text}");
        assert!(!text.contains('\r'), "{text:?}");
        assert!(
            text.contains("org-a\\n2026"),
            "escaped, still readable: {text}"
        );
        assert!(text.contains("member org-a\\n"), "message escaped: {text}");
    }
}
