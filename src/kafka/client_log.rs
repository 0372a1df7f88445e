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
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

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

    /// librdkafka's error events. A consumer's errors are also returned by its
    /// `poll`, where the caller decides what they mean, so they are warnings here
    /// at most. The end of a partition (`enable.partition.eof`, how the restore
    /// knows a partition is read) is no error at all: rust-rdkafka's default logged
    /// it at ERROR, one line per partition at every start.
    fn error(&self, error: KafkaError, reason: &str) {
        let client = self.client;
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::trace!(client, "librdkafka: {error}: {reason}");
            return;
        }
        tracing::warn!(client, "librdkafka: {error}: {reason}");
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

    /// A consumer reading a partition to its end (the restore's way, partition EOF
    /// events on) gets the EOF from `poll` and logs nothing of it above debug.
    #[test]
    fn the_end_of_a_partition_is_not_logged_as_an_error() {
        use rdkafka::consumer::{BaseConsumer, Consumer as _};
        use rdkafka::producer::BaseRecord;

        let mock = rdkafka::mocking::MockCluster::new(1).expect("a mock cluster");
        mock.create_topic("t", 1, 1).expect("a topic");
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", mock.bootstrap_servers())
            .create()
            .expect("a producer");
        producer
            .send(BaseRecord::to("t").key("k").payload("v").partition(0))
            .map_err(|(e, _)| e)
            .expect("sent");
        producer.flush(Duration::from_secs(10)).expect("delivered");

        let buf = CapturedLog::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        let dispatch = tracing::Dispatch::new(subscriber);
        let saw_eof = tracing::dispatcher::with_default(&dispatch, || {
            let consumer: BaseConsumer<ClientLog> = ClientConfig::new()
                .set("bootstrap.servers", mock.bootstrap_servers())
                .set("group.id", "eof-test")
                .set("enable.partition.eof", "true")
                .set("auto.offset.reset", "earliest")
                .create_with_context(ClientLog::new("restore"))
                .expect("a consumer");
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset("t", 0, rdkafka::Offset::Beginning)
                .expect("partition 0");
            consumer.assign(&tpl).expect("assigned");
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                if let Some(Err(KafkaError::PartitionEOF(0))) =
                    consumer.poll(Duration::from_millis(100))
                {
                    return true;
                }
            }
            false
        });
        assert!(saw_eof, "the consumer saw the end of partition 0");
        let text = buf.text();
        assert!(
            !text.contains("ERROR") && !text.contains("WARN"),
            "nothing above debug:\n{text}"
        );
    }
}
