//! The encoder, decoder and registry client against the real Confluent Schema
//! Registry (and the Apache Kafka broker it stores schemas in), started with
//! testcontainers. Behind the `docker-tests` feature; without a Docker engine the
//! test says why on stderr and passes.
//!
//! `cargo test --features docker-tests --test avro_docker -- --nocapture`

#![cfg(feature = "docker-tests")]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use streak_connector::avro::{
    value_subject, DecodeError, Decoder, Encoder, Registration, RegistryClient, RegistryConfig,
    RegistryError, SchemaRole, Schemas, TopicNames,
};
use streak_connector::membership::EventType;
use streak_connector::metrics::Metrics;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use testkit::avro::{event, schemas, source};

const KAFKA_IMAGE: (&str, &str) = ("apache/kafka", "3.9.0");
const REGISTRY_IMAGE: (&str, &str) = ("confluentinc/cp-schema-registry", "7.7.1");

/// `Ok` when a Docker engine answers `GET /_ping` at `DOCKER_HOST` (or the default
/// socket); `Err` says what was tried.
fn docker_engine_answers() -> Result<(), String> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let ping = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let timeout = Some(Duration::from_secs(2));
    let mut answer = String::new();
    if let Some(path) = host.strip_prefix("unix://") {
        let mut s =
            std::os::unix::net::UnixStream::connect(path).map_err(|e| format!("{host}: {e}"))?;
        s.set_read_timeout(timeout).map_err(|e| e.to_string())?;
        s.write_all(ping).map_err(|e| format!("{host}: {e}"))?;
        s.read_to_string(&mut answer)
            .map_err(|e| format!("{host}: {e}"))?;
    } else if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(addr)
            .map_err(|e| format!("{host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host}: no address"))?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| format!("{host}: {e}"))?;
        s.set_read_timeout(timeout).map_err(|e| e.to_string())?;
        s.write_all(ping).map_err(|e| format!("{host}: {e}"))?;
        s.read_to_string(&mut answer)
            .map_err(|e| format!("{host}: {e}"))?;
    } else {
        return Err(format!("unsupported DOCKER_HOST {host}"));
    }
    if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("{host} answered {:?}", answer.lines().next()))
    }
}

/// The running containers of one test (stopped when dropped) and the registry's URL.
struct Stack {
    /// Declared first, so dropped first (before the Kafka it stores schemas in).
    _registry: ContainerAsync<GenericImage>,
    _kafka: ContainerAsync<GenericImage>,
    url: String,
}

/// Kafka (KRaft, one node) and the Schema Registry storing its schemas in it, on a
/// network of their own named after `run`.
async fn start_stack(run: &str) -> Stack {
    let network = format!("streak-avro-{run}");
    let kafka_name = format!("kafka-{run}");
    let kafka = GenericImage::new(KAFKA_IMAGE.0, KAFKA_IMAGE.1)
        .with_wait_for(WaitFor::message_on_stdout("Kafka Server started"))
        .with_network(&network)
        .with_container_name(&kafka_name)
        .with_env_var("KAFKA_NODE_ID", "1")
        .with_env_var("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env_var("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env_var(
            "KAFKA_ADVERTISED_LISTENERS",
            format!("PLAINTEXT://{kafka_name}:9092"),
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
        .with_startup_timeout(Duration::from_secs(180))
        .start()
        .await
        .expect("start Kafka");
    let registry = GenericImage::new(REGISTRY_IMAGE.0, REGISTRY_IMAGE.1)
        .with_exposed_port(8081.tcp())
        .with_wait_for(WaitFor::message_on_either_std(
            "Server started, listening for requests",
        ))
        .with_network(&network)
        .with_env_var("SCHEMA_REGISTRY_HOST_NAME", "schema-registry")
        .with_env_var("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
        .with_env_var(
            "SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS",
            format!("PLAINTEXT://{kafka_name}:9092"),
        )
        .with_startup_timeout(Duration::from_secs(180))
        .start()
        .await
        .expect("start Schema Registry");
    let url = format!(
        "http://{}:{}",
        registry.get_host().await.expect("host"),
        registry.get_host_port_ipv4(8081).await.expect("port")
    );
    Stack {
        _registry: registry,
        _kafka: kafka,
        url,
    }
}

/// Registration is idempotent; look-up finds the same ids. The registering encoder.
async fn registration_is_idempotent(
    schemas: &Arc<Schemas>,
    client: &RegistryClient,
    topics: &TopicNames,
) -> Encoder {
    let encoder = Encoder::with_registry(
        Arc::clone(schemas),
        source(),
        client,
        topics,
        Registration::Register,
        &Metrics::new(),
    )
    .await
    .expect("register");
    let again = Encoder::with_registry(
        Arc::clone(schemas),
        source(),
        client,
        topics,
        Registration::LookupOnly,
        &Metrics::new(),
    )
    .await
    .expect("look up");
    let e = encoder
        .encode_event(&event(EventType::Joined))
        .expect("encode");
    assert_eq!(
        again
            .encode_event(&event(EventType::Joined))
            .expect("encode"),
        e
    );
    encoder
}

/// The registry's BACKWARD check refuses a new field without default: 409 naming
/// the subject.
async fn an_incompatible_schema_is_refused(
    schemas: &Schemas,
    client: &RegistryClient,
    topics: &TopicNames,
) {
    let mut incompatible: serde_json::Value =
        serde_json::from_str(schemas.current(SchemaRole::Event).text).expect("json");
    incompatible["fields"]
        .as_array_mut()
        .expect("fields")
        .push(serde_json::json!({"name": "tenant", "type": "string"}));
    let subject = value_subject(&topics.events);
    let err = client
        .register(&subject, &incompatible.to_string())
        .await
        .expect_err("incompatible");
    assert!(
        matches!(&err, RegistryError::Incompatible { subject: s, .. } if *s == subject),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_schema_registry_registers_rejects_and_serves_schemas() {
    if let Err(why) = docker_engine_answers() {
        eprintln!("SKIPPED real_schema_registry_registers_rejects_and_serves_schemas: no Docker engine answers ({why})");
        return;
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    let stack = start_stack(&run).await;
    let client = RegistryClient::new(RegistryConfig::new(&stack.url)).expect("client");
    let topics = TopicNames {
        events: format!("events-{run}"),
        state: format!("state-{run}"),
    };
    let schemas = schemas();
    let encoder = registration_is_idempotent(&schemas, &client, &topics).await;

    // Round trip through writer schemas fetched by id (the registry returns its
    // own normalized text of our schema).
    let decoder = Decoder::with_registry(
        Arc::clone(&schemas),
        client.clone(),
        Arc::new(Metrics::new()),
    );
    for t in EventType::ALL {
        let r = encoder.encode_event(&event(t)).expect("encode");
        let d = decoder
            .decode_event(&r.key, r.value.as_deref().expect("value"))
            .await
            .expect("decode");
        assert_eq!(d.event, event(t));
    }

    an_incompatible_schema_is_refused(&schemas, &client, &topics).await;

    // An id the registry never issued.
    let err = decoder
        .decode_key(&[0, 0x7f, 0xff, 0xff, 0xff, 0])
        .await
        .expect_err("unknown id");
    assert!(
        matches!(err, DecodeError::Registry(RegistryError::UnknownId { .. })),
        "{err}"
    );
}
