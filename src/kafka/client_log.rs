//! librdkafka's own log lines (broker down, SASL and TLS failures) in the
//! connector's logs: a client context that hands each line to `tracing` with the
//! client's name, at a level that fits the connector.
//!
//! librdkafka retries connections itself, so its `ERR` lines are warnings here (the
//! connector's own errors say what failed); only its critical lines are errors, and
//! its informational lines are debug. Clients built without this context still
//! reach the logs through rust-rdkafka's `tracing` feature (target `librdkafka`),
//! without the name.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;

/// The context of the connector's Kafka clients: names the client in its lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientLog {
    /// `producer`, `restore`, `admin`, ...
    pub client: &'static str,
}

impl ClientLog {
    pub(crate) fn new(client: &'static str) -> Self {
        ClientLog { client }
    }
}

impl ClientContext for ClientLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        let client = self.client;
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(client, facility = fac, "librdkafka: {line}")
            }
            RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning => {
                tracing::warn!(client, facility = fac, "librdkafka: {line}")
            }
            RDKafkaLogLevel::Notice => {
                tracing::info!(client, facility = fac, "librdkafka: {line}")
            }
            RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
                tracing::debug!(client, facility = fac, "librdkafka: {line}")
            }
        }
    }
}

impl ConsumerContext for ClientLog {}

impl rdkafka::producer::ProducerContext for ClientLog {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::producer::{BaseProducer, Producer as _};
    use rdkafka::ClientConfig;

    use super::*;
    use crate::telemetry::captured::CapturedLog;

    /// Issue 13.7: a client pointed at a dead broker logs librdkafka's line,
    /// naming the client.
    #[test]
    fn a_dead_broker_is_logged_with_the_clients_name() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = dead.local_addr().expect("its address");
        drop(dead);
        let buf = CapturedLog::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let dispatch = tracing::Dispatch::new(subscriber);
        let text = tracing::dispatcher::with_default(&dispatch, || {
            let producer: BaseProducer<ClientLog> = ClientConfig::new()
                .set("bootstrap.servers", addr.to_string())
                .set("reconnect.backoff.ms", "50")
                .create_with_context(ClientLog::new("test-producer"))
                .expect("a producer");
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                producer.poll(Duration::from_millis(100));
                let text = buf.text();
                if text.contains("librdkafka") || std::time::Instant::now() > deadline {
                    let _ = producer.flush(Duration::from_millis(10));
                    return text;
                }
            }
        });
        let line = text
            .lines()
            .find(|l| l.contains("librdkafka"))
            .unwrap_or_else(|| panic!("no librdkafka line within 20 s:\n{text}"));
        assert!(line.contains("client=\"test-producer\""), "{line}");
        assert!(
            line.contains(&addr.port().to_string()),
            "names the broker: {line}"
        );
    }
}
