//! The broker fixture every Kafka test uses (`mod support;`).
//!
//! [`Broker::start`] picks, in order:
//! 1. the real broker at `KAFKA_BOOTSTRAP_SERVERS` when the variable is set
//!    (`scripts/kafka.sh start` runs one from the official Apache Kafka jars;
//!    `scripts/test.sh` does it for the whole suite);
//! 2. with the `docker-tests` feature, a throwaway `apache/kafka` container
//!    (testcontainers), when a Docker engine answers;
//! 3. librdkafka's in-process mock cluster otherwise (zero set-up).
//!
//! The mock cluster accepts transactions but does not hide aborted records from
//! read-committed consumers, does not fence a zombie producer, and cannot create
//! topics with configs nor describe them. Tests of those behaviours call
//! [`Broker::skip_unless_real`] or [`real_broker_for`] (or, for the binary-level
//! tests that need only an address, [`real_bootstrap`]); all three go through
//! [`skip_without_real_broker`], which prints "skipped: needs a real broker", or
//! fails the test when `STREAK_E2E_REQUIRE_REAL_BROKER` is set (CI).
//!
//! Every test gets its own topics and transactional id ([`unique`]), so tests run in
//! parallel against one broker.

use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use streak_connector::kafka::{ensure_topics, KafkaConfig, TopicPolicy};

use crate::unique;

/// Set (to anything) in CI: a test that needs a real broker fails instead of
/// skipping when `KAFKA_BOOTSTRAP_SERVERS` is not set.
pub const REQUIRE_REAL_BROKER: &str = "STREAK_E2E_REQUIRE_REAL_BROKER";

/// The real broker's address from `KAFKA_BOOTSTRAP_SERVERS`, if set.
pub fn external_bootstrap() -> Option<String> {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Says why `test` is skipped (it needs a real broker and there is none); panics
/// instead when [`REQUIRE_REAL_BROKER`] is set.
pub fn skip_without_real_broker(test: &str) {
    assert!(
        std::env::var_os(REQUIRE_REAL_BROKER).is_none(),
        "{test}: {REQUIRE_REAL_BROKER} is set but KAFKA_BOOTSTRAP_SERVERS is not"
    );
    eprintln!(
        "{test}: skipped: needs a real broker (set KAFKA_BOOTSTRAP_SERVERS, e.g. `eval $(scripts/kafka.sh env)`, or run scripts/test.sh)"
    );
}

/// The real broker's address (`KAFKA_BOOTSTRAP_SERVERS`), or `None` after
/// [`skip_without_real_broker`].
pub fn real_bootstrap(test: &str) -> Option<String> {
    let found = external_bootstrap();
    if found.is_none() {
        skip_without_real_broker(test);
    }
    found
}

/// A real broker (external or Docker), or `None` after [`skip_without_real_broker`],
/// for a test of what the mock cluster does not do (read_committed hiding aborted
/// records, topic configs).
pub async fn real_broker_for(test: &str) -> Option<Broker> {
    let broker = Broker::start().await;
    if broker.skip_unless_real(test) {
        return None;
    }
    Some(broker)
}

/// Which kind of broker a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// An Apache Kafka broker at `KAFKA_BOOTSTRAP_SERVERS`.
    External,
    /// An `apache/kafka` container started for this test.
    Docker,
    /// librdkafka's in-process mock cluster.
    Mock,
}

/// A broker for one test.
pub struct Broker {
    bootstrap: String,
    kind: BrokerKind,
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
    #[cfg(feature = "docker-tests")]
    _container: Option<testcontainers::ContainerAsync<testcontainers::GenericImage>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("bootstrap", &self.bootstrap)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Broker {
    /// The broker for this test (see the module docs for the order).
    pub async fn start() -> Broker {
        if let Some(bootstrap) = external_bootstrap() {
            return Broker {
                bootstrap,
                kind: BrokerKind::External,
                mock: None,
                #[cfg(feature = "docker-tests")]
                _container: None,
            };
        }
        #[cfg(feature = "docker-tests")]
        if let Some(b) = Self::docker().await {
            return b;
        }
        Self::mock()
    }

    /// librdkafka's in-process mock cluster, one broker.
    pub fn mock() -> Broker {
        Self::mock_of(1)
    }

    /// librdkafka's in-process mock cluster of `brokers` brokers (ids 1 to
    /// `brokers`).
    pub fn mock_of(brokers: i32) -> Broker {
        let mock = MockCluster::new(brokers).expect("the mock cluster starts");
        Broker {
            bootstrap: mock.bootstrap_servers(),
            kind: BrokerKind::Mock,
            mock: Some(mock),
            #[cfg(feature = "docker-tests")]
            _container: None,
        }
    }

    /// An `apache/kafka` container; `None` (with a note) when no Docker engine answers.
    #[cfg(feature = "docker-tests")]
    pub async fn docker() -> Option<Broker> {
        use testcontainers::core::{IntoContainerPort, WaitFor};
        use testcontainers::runners::AsyncRunner;
        use testcontainers::{GenericImage, ImageExt};

        // The broker advertises the host port, so it must be known before start.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let request = GenericImage::new("apache/kafka", "4.1.1")
            .with_wait_for(WaitFor::message_on_stdout("Kafka Server started"))
            .with_mapped_port(port, 9092.tcp())
            .with_env_var("KAFKA_NODE_ID", "1")
            .with_env_var("KAFKA_PROCESS_ROLES", "broker,controller")
            .with_env_var("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
            .with_env_var(
                "KAFKA_ADVERTISED_LISTENERS",
                format!("PLAINTEXT://127.0.0.1:{port}"),
            )
            .with_env_var("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            .with_env_var(
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            )
            .with_env_var("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
            .with_env_var("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env_var(
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
                "1",
            )
            .with_env_var("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", "1")
            .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            .with_env_var("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false");
        match request.start().await {
            Ok(container) => Some(Broker {
                bootstrap: format!("127.0.0.1:{port}"),
                kind: BrokerKind::Docker,
                mock: None,
                _container: Some(container),
            }),
            Err(e) => {
                eprintln!("docker-tests: no Docker engine answered ({e}); using the mock cluster");
                None
            }
        }
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    /// A real Apache Kafka broker (external or Docker), not the mock cluster.
    pub fn is_real(&self) -> bool {
        self.kind != BrokerKind::Mock
    }

    /// The mock cluster's handle, to inject errors (`None` on a real broker).
    pub fn mock_cluster(&self) -> Option<&MockCluster<'static, DefaultProducerContext>> {
        self.mock.as_ref()
    }

    /// `true` (after [`skip_without_real_broker`]) when `test` needs a real broker and
    /// this is the mock.
    pub fn skip_unless_real(&self, test: &str) -> bool {
        if self.is_real() {
            return false;
        }
        skip_without_real_broker(test);
        true
    }

    /// Settings with fresh topics and a fresh transactional id, short timeouts.
    /// On the mock, the topic policy is `Trust` (it cannot create or describe).
    pub fn config(&self, name: &str) -> KafkaConfig {
        let mut c = KafkaConfig::new(self.bootstrap.clone(), unique(&format!("txn-{name}")));
        c.events_topic = unique(&format!("events-{name}"));
        c.state_topic = unique(&format!("state-{name}"));
        c.partitions = 3;
        c.replication_factor = 1;
        c.transaction_timeout = Duration::from_secs(10);
        c.request_timeout = Duration::from_secs(15);
        c.topic_policy = if self.is_real() {
            TopicPolicy::CreateAndVerify
        } else {
            TopicPolicy::Trust
        };
        c
    }

    /// Make `config`'s topics exist: the connector's own set-up on a real broker,
    /// the mock cluster's API on the mock.
    pub async fn prepare_topics(&self, config: &KafkaConfig) {
        match &self.mock {
            Some(mock) => {
                for t in [&config.events_topic, &config.state_topic] {
                    mock.create_topic(t, config.partitions, 1)
                        .expect("the mock cluster creates the topic");
                }
            }
            None => {
                ensure_topics(config, &streak_connector::metrics::Metrics::new())
                    .await
                    .expect("topics set up");
            }
        }
    }

    /// Create a topic with `configs` (real broker) or without (mock: it ignores configs).
    pub async fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        use rdkafka::client::DefaultClientContext;
        use rdkafka::ClientConfig;
        if let Some(mock) = &self.mock {
            mock.create_topic(name, partitions, 1)
                .expect("the mock cluster creates the topic");
            return;
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("admin client");
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let results = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .expect("create_topics answers");
        for r in results {
            r.expect("topic created");
        }
    }
}

/// Waits until every partition of `topic` shows read-committed readers all it holds:
/// its last stable offset has reached its high watermark. A commit returns once the
/// transaction coordinator has it; the markers reach each partition a moment later,
/// and a read-committed reader in between sees the partitions already marked and not
/// the others (Kafka's protocol, not a fault). Tests that read right after a commit,
/// with no other transaction open on the topic, call this first. Panics after 30 s.
pub async fn settle(bootstrap: &str, topic: &str) {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || settle_blocking(&bootstrap, &topic))
        .await
        .expect("the settle task joins");
}

fn settle_blocking(bootstrap: &str, topic: &str) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client = |isolation: &str| -> BaseConsumer {
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", unique("settle"))
            .set("isolation.level", isolation)
            .set("allow.auto.create.topics", "false")
            .create()
            .expect("a consumer")
    };
    let (committed, uncommitted) = (client("read_committed"), client("read_uncommitted"));
    let timeout = Duration::from_secs(10);
    let md = committed
        .fetch_metadata(Some(topic), timeout)
        .expect("the topic's metadata");
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    drop(md);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for p in partitions {
        loop {
            let (_, lso) = committed
                .fetch_watermarks(topic, p, timeout)
                .expect("the last stable offset");
            let (_, hw) = uncommitted
                .fetch_watermarks(topic, p, timeout)
                .expect("the high watermark");
            if lso >= hw {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{topic} partition {p}: last stable offset {lso} still below the high watermark {hw} after 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
