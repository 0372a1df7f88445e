//! End to end through the built binary with a Schema Registry: the Confluent wire
//! format (magic byte 0, 4-byte big-endian schema id, Avro binary) on both topics,
//! subjects by TopicNameStrategy, Basic auth, `tail` decoding through the registry,
//! the state restored from Confluent-framed records, and the start-up failures (an
//! incompatible subject, an unreachable registry).
//!
//! The registry is the local double of the Avro tests (`testkit::registry_mock`),
//! on 127.0.0.1:0, requiring Basic auth.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use streak_connector::avro::{
    DecodedEvent, Decoder, RegistryAuth, RegistryClient, RegistryConfig, Schemas,
};
use streak_connector::membership::{Checkpoint, StateRecord};
use streak_connector::metrics::Metrics;
use streak_connector::simulator::{Change, RunningSimulator};
use testkit::broker::Broker;
use testkit::e2e::broker_for;
use testkit::e2e::{
    api_key, event_lines, fingerprint, is_failure, is_success, joiner, json_lines, line_with,
    org_toml, start_simulator, Setup,
};
use testkit::process::Finished;
use testkit::registry_mock::MockRegistry;
use testkit::topic::{read_topic, summary, Raw};

/// Bound of a `once` (a debug build on a busy machine).
const ONCE_TIMEOUT: Duration = Duration::from_secs(120);
const USER: &str = "e2e-registry-user";
const PASSWORD: &str = "e2e-registry-p4ss:word";

/// A registry double that requires [`USER`]/[`PASSWORD`].
async fn registry() -> MockRegistry {
    let r = MockRegistry::start().await;
    r.with(|s| s.user_info = Some(format!("{USER}:{PASSWORD}")));
    r
}

/// The test's commands talk to `registry` with the right credentials.
fn use_registry(setup: &mut Setup, registry: &MockRegistry) {
    setup.env.extend([
        (
            "STREAK_CONNECTOR_SCHEMA_REGISTRY_URL".to_owned(),
            registry.url.clone(),
        ),
        (
            "STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME".to_owned(),
            USER.to_owned(),
        ),
        (
            "STREAK_CONNECTOR_SCHEMA_REGISTRY_PASSWORD".to_owned(),
            PASSWORD.to_owned(),
        ),
    ]);
}

/// A decoder of our own (not the binary's) that fetches writer schemas by id.
fn decoder(registry: &MockRegistry) -> Decoder {
    let client = RegistryClient::new(
        RegistryConfig::new(registry.url.as_str())
            .with_auth(Some(RegistryAuth::new(USER, PASSWORD))),
    )
    .expect("a registry client");
    Decoder::with_registry(
        Arc::new(Schemas::load().expect("the embedded schemas load")),
        client,
        Arc::new(Metrics::new()),
    )
}

/// The schema id of a Confluent-framed part, or a panic saying why it is not one.
fn confluent_id(bytes: &[u8], what: &str) -> u32 {
    assert!(
        bytes.len() > 5 && bytes[0] == 0,
        "{what} is Confluent-framed (magic byte 0, 4-byte id): starts with {:02x?}",
        &bytes[..bytes.len().min(10)]
    );
    u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
}

/// The one id registered under `subject`.
fn subject_id(registry: &MockRegistry, subject: &str) -> u32 {
    let versions = registry.with(|s| s.subjects.get(subject).cloned().unwrap_or_default());
    assert_eq!(
        versions.len(),
        1,
        "one version registered under {subject}: {versions:?}"
    );
    versions[0]
}

async fn raw(bootstrap: &str, topic: &str) -> Vec<Raw> {
    let contents = read_topic(bootstrap, topic, Duration::from_secs(60)).await;
    assert!(contents.exists, "{topic} exists");
    contents.records
}

async fn decode_events(d: &Decoder, records: &[Raw]) -> Vec<DecodedEvent> {
    let mut out = Vec::new();
    for r in records {
        let key = r.key.as_deref().expect("an event has a key");
        let value = r.value.as_deref().expect("an event has a value");
        let e = d
            .decode_event(key, value)
            .await
            .unwrap_or_else(|e| panic!("event at {}@{}: {e}", r.partition, r.offset));
        out.push(e);
    }
    out
}

/// Every record of both topics is framed with the id of its subject.
fn assert_framing(events: &[Raw], state: &[Raw], ids: &BTreeMap<&str, u32>) {
    for r in events {
        let key = r.key.as_deref().expect("an event has a key");
        let value = r.value.as_deref().expect("an event has a value");
        assert_eq!(confluent_id(key, "an event's key"), ids["events-key"]);
        assert_eq!(confluent_id(value, "an event's value"), ids["events-value"]);
    }
    for r in state {
        let key = r.key.as_deref().expect("a state record has a key");
        assert_eq!(confluent_id(key, "a state key"), ids["state-key"]);
        if let Some(value) = r.value.as_deref() {
            assert_eq!(confluent_id(value, "a state value"), ids["state-value"]);
        }
    }
}

/// The record ids of the four subjects, by role (`events-key`, `events-value`,
/// `state-key`, `state-value`).
type SubjectIds = BTreeMap<&'static str, u32>;

/// org-reg (four members) through `once` with the registry double.
struct Wire {
    broker: Broker,
    sim: RunningSimulator,
    registry: MockRegistry,
    setup: Setup,
}

impl Wire {
    async fn start(broker: Broker) -> Wire {
        let key = api_key("reg");
        let sim = start_simulator(&org_toml(
            "org-reg",
            &key,
            &[
                ("u-r1", true),
                ("u-r2", false),
                ("u-r3", false),
                ("u-r4", false),
            ],
            "",
        ))
        .await;
        let registry = registry().await;
        let mut setup = Setup::with_topics("registry", &sim.base_url(), &broker, &[&key], "");
        use_registry(&mut setup, &registry);
        Wire {
            broker,
            sim,
            registry,
            setup,
        }
    }

    /// Both topics as they are now.
    async fn both_topics(&self) -> (Vec<Raw>, Vec<Raw>) {
        let events = raw(self.broker.bootstrap(), &self.setup.events_topic).await;
        let state = raw(self.broker.bootstrap(), &self.setup.state_topic).await;
        (events, state)
    }

    /// TopicNameStrategy: exactly the four subjects, one version each, with ids
    /// of their own.
    fn four_subjects_by_topic_name(&self) -> SubjectIds {
        let (ev, st) = (&self.setup.events_topic, &self.setup.state_topic);
        let registered: BTreeSet<String> =
            self.registry.with(|s| s.subjects.keys().cloned().collect());
        let expected: BTreeSet<String> = [
            format!("{ev}-key"),
            format!("{ev}-value"),
            format!("{st}-key"),
            format!("{st}-value"),
        ]
        .into();
        assert_eq!(registered, expected, "the subjects registered");
        let id = |subject: String| subject_id(&self.registry, &subject);
        let ids: SubjectIds = [
            ("events-key", id(format!("{ev}-key"))),
            ("events-value", id(format!("{ev}-value"))),
            ("state-key", id(format!("{st}-key"))),
            ("state-value", id(format!("{st}-value"))),
        ]
        .into();
        assert_ne!(ids["events-value"], ids["state-value"]);
        assert_ne!(ids["events-key"], ids["events-value"]);
        ids
    }

    /// The first `once`: a SNAPSHOT per member and a checkpoint, every record
    /// framed with its subject's id, decodable through the registry.
    async fn the_first_once_is_framed_and_decodes(&self, ids: &SubjectIds, d: &Decoder) {
        let (events_raw, state_raw) = self.both_topics().await;
        assert_eq!(events_raw.len(), 4, "one SNAPSHOT per member");
        assert_eq!(state_raw.len(), 5, "four members and a checkpoint");
        assert_framing(&events_raw, &state_raw, ids);
        let events = decode_events(d, &events_raw).await;
        assert_eq!(
            summary(&events),
            vec![
                (1, "SNAPSHOT", "u-r1".into()),
                (1, "SNAPSHOT", "u-r2".into()),
                (1, "SNAPSHOT", "u-r3".into()),
                (1, "SNAPSHOT", "u-r4".into()),
            ]
        );
        for e in &events {
            assert_eq!(e.event.org_key, "org-reg");
            assert_eq!(e.source.connector, self.setup.connector_name);
        }
    }

    /// `tail --topic TOPIC --from beginning` of at most `records`.
    async fn tail(&self, topic: &str, records: &str) -> Finished {
        self.setup
            .command(&[
                "tail",
                "--topic",
                topic,
                "--from",
                "beginning",
                "--max-records",
                records,
                "--idle-timeout",
                "20s",
            ])
            .run(ONCE_TIMEOUT)
            .await
    }

    /// `tail` with the same registry decodes both topics, and only reads from the
    /// registry (a consumer's credentials need not allow registering).
    async fn tail_decodes_both_topics_and_registers_nothing(&self) {
        let registrations = self.registry.requests_matching("POST ");
        let tail = self.tail("events", "4").await;
        tail.assert_success();
        assert!(
            !tail.stdout.contains("undecodable"),
            "every record decodes\n{}",
            tail.report()
        );
        assert_eq!(
            event_lines(&tail.stdout),
            ["u-r1", "u-r2", "u-r3", "u-r4"]
                .iter()
                .map(|u| ("SNAPSHOT".to_owned(), (*u).to_owned()))
                .collect::<Vec<_>>(),
            "{}",
            tail.report()
        );
        let tail_state = self.tail("state", "5").await;
        tail_state.assert_success();
        let lines = json_lines(&tail_state.stdout);
        assert_eq!(lines.len(), 5, "{}", tail_state.report());
        assert!(
            !tail_state.stdout.contains("undecodable"),
            "every state record decodes\n{}",
            tail_state.report()
        );

        assert_eq!(
            self.registry.requests_matching("POST "),
            registrations,
            "`tail` registers nothing: {:?}",
            self.registry.with(|s| s.requests.clone())
        );
    }

    /// Streak changes; the second `once` must restore the Confluent-framed state to
    /// know what changed: it publishes only the changes, still framed, tombstones
    /// the leaver and checkpoints the second poll.
    async fn the_second_once_restores_and_publishes_only_the_changes(
        &self,
        ids: &SubjectIds,
        d: &Decoder,
    ) {
        self.sim
            .apply("org-reg", Change::Join(joiner("u-r5")))
            .expect("r5 joins");
        self.sim
            .apply("org-reg", Change::Leave { key: "u-r2".into() })
            .expect("r2 leaves");
        self.sim
            .apply(
                "org-reg",
                Change::SetAdmin {
                    key: "u-r3".into(),
                    admin: true,
                },
            )
            .expect("r3 becomes an admin");
        let second = self.setup.command(&["once"]).run(ONCE_TIMEOUT).await;
        second.assert_success();

        let (events_raw, state_raw) = self.both_topics().await;
        assert_framing(&events_raw, &state_raw, ids);
        let events = decode_events(d, &events_raw).await;
        let later: Vec<DecodedEvent> = events
            .iter()
            .filter(|e| e.event.poll_seq != 1)
            .cloned()
            .collect();
        assert_eq!(
            events.len(),
            4 + later.len(),
            "the first poll's events are not repeated: {:?}",
            summary(&events)
        );
        assert_eq!(
            summary(&later),
            vec![
                (2, "ADMIN_CHANGED", "u-r3".into()),
                (2, "JOINED", "u-r5".into()),
                (2, "LEFT", "u-r2".into()),
            ],
            "the second poll publishes only the changes\n{}",
            second.report()
        );
        assert!(
            state_raw.iter().any(|r| r.value.is_none()),
            "u-r2's state is tombstoned"
        );
        let checkpoints = checkpoints(d, &state_raw).await;
        let last = checkpoints.last().expect("a checkpoint");
        assert_eq!((last.poll_seq, last.member_count), (2, 4));
    }
}

/// The checkpoints among `state`, in order.
async fn checkpoints(d: &Decoder, state: &[Raw]) -> Vec<Checkpoint> {
    let mut checkpoints = Vec::new();
    for r in state {
        let key = r.key.as_deref().expect("a state record has a key");
        if let StateRecord::Checkpoint(c) = d
            .decode_state(key, r.value.as_deref())
            .await
            .unwrap_or_else(|e| panic!("state at {}@{}: {e}", r.partition, r.offset))
        {
            checkpoints.push(c);
        }
    }
    checkpoints
}

/// `once` with a registry: the four subjects registered, both topics in the
/// Confluent wire format with those ids, `tail` decoding them through the registry,
/// and a second `once` that restores the state from Confluent-framed records and
/// publishes only the changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_writes_the_confluent_wire_format_and_restores_from_it() {
    let Some(broker) = broker_for("once_writes_the_confluent_wire_format").await else {
        return;
    };
    let wire = Wire::start(broker).await;
    wire.setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();
    let ids = wire.four_subjects_by_topic_name();
    let d = decoder(&wire.registry);
    wire.the_first_once_is_framed_and_decodes(&ids, &d).await;
    wire.tail_decodes_both_topics_and_registers_nothing().await;
    wire.the_second_once_restores_and_publishes_only_the_changes(&ids, &d)
        .await;
    // The schemas were registered again (idempotent), never under another subject.
    assert_eq!(wire.registry.with(|s| s.subjects.len()), 4);
}

/// A registry that answers 409 for one subject at start-up: `once` and `run` exit
/// non-zero naming that subject, having written nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_subject_stops_start_up_naming_it() {
    let Some(broker) = broker_for("an_incompatible_subject_stops_start_up_naming_it").await else {
        return;
    };
    let key = api_key("incompat");
    let sim = start_simulator(&org_toml("org-inc", &key, &[("u-i1", true)], "")).await;
    let registry = registry().await;
    let mut setup = Setup::with_topics("incompat", &sim.base_url(), &broker, &[&key], "");
    use_registry(&mut setup, &registry);
    let subject = format!("{}-value", setup.events_topic);
    registry.with(|s| s.incompatible.insert(subject.clone()));

    for command in ["once", "run"] {
        let mut cmd = setup.command(&[command]);
        if command == "run" {
            cmd.args(["--poll-interval", "1s"]);
        }
        let run = cmd.run(Duration::from_secs(90)).await;
        assert!(
            !run.status.success(),
            "`{command}` with an incompatible subject exits non-zero\n{}",
            run.report()
        );
        // The registry's own message names the subject too: the connector must
        // name it in its words.
        let out = run.all_output().replace(
            &format!(
                "Schema being registered is incompatible with an earlier schema for subject \"{subject}\""
            ),
            "",
        );
        assert!(
            out.contains(&subject) && out.to_ascii_lowercase().contains("incompatible"),
            "`{command}` names the subject {subject} and the incompatibility\n{}",
            run.report()
        );
    }
    assert!(
        registry.requests_matching(&format!("POST /subjects/{subject}/versions")) >= 2,
        "the registration was attempted by both commands"
    );
    let events = read_topic(
        broker.bootstrap(),
        &setup.events_topic,
        Duration::from_secs(60),
    )
    .await;
    assert!(events.records.is_empty(), "nothing was published");
    assert_eq!(
        sim.requests(streak_connector::simulator::Endpoint::OrganizationUsers),
        0,
        "no listing was fetched"
    );
}

/// `check` with a registry URL where nothing listens: the registry's line is a
/// failure, the rest is still checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_an_unreachable_registry() {
    let Some(broker) = broker_for("check_reports_an_unreachable_registry").await else {
        return;
    };
    let key = api_key("noreg");
    let sim = start_simulator(&org_toml("org-noreg", &key, &[("u-x1", true)], "")).await;
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut setup = Setup::with_topics("noreg", &sim.base_url(), &broker, &[&key], "");
    setup
        .env
        .push(("STREAK_CONNECTOR_SCHEMA_REGISTRY_URL".into(), url.clone()));

    let run = setup.command(&["check"]).run(Duration::from_secs(90)).await;
    eprintln!("[e2e] check said:\n{}", run.report());
    assert!(
        !run.status.success(),
        "an unreachable registry fails the check\n{}",
        run.report()
    );
    let out = run.all_output();
    let line = line_with(&out, "registry", &[])
        .unwrap_or_else(|| panic!("a verdict line for the registry\n{}", run.report()));
    assert!(
        is_failure(line),
        "the registry's verdict is a failure: {line}"
    );
    assert!(
        line.contains(&port.to_string()),
        "the line names the registry's address: {line}"
    );
    let key_line = line_with(&out, "org-noreg", &[])
        .or_else(|| line_with(&out, &fingerprint(&key), &[]))
        .unwrap_or_else(|| panic!("the API key is still checked\n{}", run.report()));
    assert!(is_success(key_line), "the key is fine: {key_line}");
}

/// Wrong registry credentials stop start-up with a message that names the settings
/// to fix (the ones the connector reads), without printing the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_registry_credentials_stop_start_up_naming_the_settings() {
    let Some(broker) = broker_for("wrong_registry_credentials_stop_start_up").await else {
        return;
    };
    let key = api_key("regauth");
    let sim = start_simulator(&org_toml("org-auth", &key, &[("u-a1", true)], "")).await;
    let registry = registry().await;
    let mut setup = Setup::with_topics("regauth", &sim.base_url(), &broker, &[&key], "");
    use_registry(&mut setup, &registry);
    let wrong = "not-the-registry-password";
    setup.env.push((
        "STREAK_CONNECTOR_SCHEMA_REGISTRY_PASSWORD".into(),
        wrong.into(),
    ));

    let run = setup.command(&["once"]).run(ONCE_TIMEOUT).await;
    assert!(
        !run.status.success(),
        "refused credentials stop `once`\n{}",
        run.report()
    );
    let out = run.all_output();
    assert!(
        out.contains("401"),
        "the registry's refusal is reported\n{}",
        run.report()
    );
    for setting in [
        "STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME",
        "STREAK_CONNECTOR_SCHEMA_REGISTRY_PASSWORD",
    ] {
        assert!(
            out.contains(setting),
            "the message names {setting}, which the connector reads\n{}",
            run.report()
        );
    }
    assert!(
        !out.contains(wrong) && !out.contains(PASSWORD),
        "no password is printed\n{}",
        run.report()
    );
}

#[tokio::test]
async fn check_reports_a_reachable_registry_as_ok() {
    let Some(broker) = broker_for("check_reports_a_reachable_registry_as_ok").await else {
        return;
    };
    let key = api_key("okreg");
    let sim = start_simulator(&org_toml("org-okreg", &key, &[("u-x1", true)], "")).await;
    let registry = MockRegistry::start().await;
    let mut setup = Setup::with_topics("okreg", &sim.base_url(), &broker, &[&key], "");
    setup.env.push((
        "STREAK_CONNECTOR_SCHEMA_REGISTRY_URL".into(),
        registry.url.clone(),
    ));

    let run = setup.command(&["check"]).run(Duration::from_secs(90)).await;
    eprintln!("[e2e] check said:\n{}", run.report());
    let out = run.all_output();
    let line = line_with(&out, "registry", &[])
        .unwrap_or_else(|| panic!("a verdict line for the registry\n{}", run.report()));
    assert!(is_success(line), "the registry's verdict is ok: {line}");
    assert_eq!(
        registry.requests_matching("GET /subjects"),
        1,
        "check asked the registry for its subjects"
    );
    assert_eq!(
        registry.requests_matching("POST "),
        0,
        "check registers nothing"
    );
}
