//! Two framings of one key (issue 11, point 5): a state topic written without a
//! Schema Registry, then with one, holds two live keys for each member and
//! checkpoint. Both decode (the registry knows the ids), so the start-up's restore
//! must refuse rather than pick one by the hash seed.

use std::sync::Arc;

use streak_connector::avro::{
    Decoder, Encoder, Registration, RegistryClient, RegistryConfig, TopicNames,
};
use streak_connector::connector::{Restore as _, StartupError, StateReader};
use streak_connector::kafka::{MemoryStore, OutRecord, TransactionalSink as _};
use streak_connector::membership::{Checkpoint, StateRecord};
use streak_connector::metrics::Metrics;
use testkit::avro::*;
use testkit::registry_mock::MockRegistry;

#[tokio::test]
async fn a_state_topic_written_with_and_without_a_registry_refuses_to_start() {
    let topics = TopicNames {
        events: "events".into(),
        state: "state".into(),
    };
    let mock = MockRegistry::start().await;
    let client = RegistryClient::new(RegistryConfig::new(&mock.url)).expect("client");
    let metrics = Arc::new(Metrics::new());
    let single = Encoder::single_object(schemas(), source());
    let confluent = Encoder::with_registry(
        schemas(),
        source(),
        &client,
        &topics,
        Registration::Register,
        &metrics,
    )
    .await
    .expect("registered");
    let checkpoint = |seq| {
        StateRecord::Checkpoint(Checkpoint {
            org_key: "org-1".into(),
            poll_seq: seq,
            last_poll_ms: 0,
            member_count: 0,
            incarnation: None,
        })
    };
    let store = MemoryStore::new("state", metrics.clone());
    let mut batch = Vec::new();
    for (encoder, seq) in [(&single, 9), (&confluent, 2)] {
        let e = encoder.encode_state(&checkpoint(seq)).expect("encodes");
        batch.push(OutRecord {
            topic: "state".into(),
            key: e.key,
            value: e.value,
        });
    }
    store.commit_batch(batch).await.expect("commits");

    let reader = StateReader::new(
        store,
        Decoder::with_registry(schemas(), client, metrics.clone()),
        topics,
        metrics,
    );
    match reader.restore().await {
        Err(StartupError::TwoFramings(e)) => {
            assert_eq!(e.subject, r#"the checkpoint of organization "org-1""#);
            assert!(
                e.first.starts_with("Confluent wire format (schema id "),
                "{e}"
            );
            assert!(e.second.starts_with("Avro single-object encoding"), "{e}");
            assert!(e.to_string().contains("Schema Registry"), "{e}");
        }
        other => panic!("expected TwoFramings, got {other:?}"),
    }
}
