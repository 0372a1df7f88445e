//! The SIEM formats through the built binary (issue 14): `--ocsf-topic` writes one
//! OCSF 1.8.0 record per committed event, same key, in the event's transaction;
//! `check` reports the topic; `tail --format ocsf|ecs` and `demo --format ocsf` print
//! records that `scripts/ocsf-validate.py` accepts.

use std::collections::BTreeSet;
use std::time::Duration;

use streak_connector::simulator::{Change, ProfilePatch};
use testkit::broker::real_broker_for;
use testkit::e2e::{
    api_key, is_success, joiner, json_lines, line_with, org_toml, start_simulator, Setup,
};
use testkit::ocsf::{one_to_one, validate};
use testkit::process::Cmd;
use testkit::topic::{read_events, read_to_end, Isolation, Raw};
use testkit::unique;

/// Bound of one command against a local broker (a debug build on a busy machine).
const TIMEOUT: Duration = Duration::from_secs(120);

/// The lines of `stdout` that are JSON objects, as text (for the validator).
fn object_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(str::to_owned)
        .collect()
}

/// The names of every OCSF group of type "Streak organization" in `record` (the
/// `group`, or the `groups` of a user), each replaced by "-" in `record`.
fn org_names(record: &mut serde_json::Value) -> Vec<String> {
    let mut names = Vec::new();
    match record {
        serde_json::Value::Object(o) => {
            if o.get("type").and_then(|t| t.as_str()) == Some("Streak organization") {
                if let Some(n) = o.get_mut("name") {
                    names.push(n.as_str().unwrap_or_default().to_owned());
                    *n = "-".into();
                }
            }
            for v in o.values_mut() {
                names.extend(org_names(v));
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                names.extend(org_names(v));
            }
        }
        _ => {}
    }
    names
}

/// Two polls with `--ocsf-topic`: the OCSF topic, read committed, holds exactly one
/// record per committed event (same key bytes and partition, `metadata.uid` =
/// `event_id`); `check` reports the topic; `tail --format ocsf` prints records that
/// validate against the 1.8.0 schema of their class, `tail --format ecs` ECS
/// documents of the same events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ocsf_topic_holds_one_record_per_committed_event() {
    let Some(broker) = real_broker_for("the_ocsf_topic_holds_one_record_per_committed_event").await
    else {
        return;
    };
    let key = api_key("ocsf");
    let sim = start_simulator(&org_toml(
        "org-ocsf",
        &key,
        &[
            ("u-alice", true),
            ("u-bob", false),
            ("u-carol", false),
            ("u-dave", false),
        ],
        "",
    ))
    .await;
    let setup = Setup::new("ocsf", &sim.base_url(), &broker, &[&key], "");
    let ocsf_topic = unique("e2e-ocsf");
    let once = || {
        let mut cmd = setup.command(&["once"]);
        cmd.args(["--ocsf-topic", &ocsf_topic]);
        cmd
    };
    once().run(TIMEOUT).await.assert_success();

    sim.apply("org-ocsf", Change::Join(joiner("u-erin")))
        .expect("erin joins");
    sim.apply(
        "org-ocsf",
        Change::Leave {
            key: "u-bob".into(),
        },
    )
    .expect("bob leaves");
    sim.apply(
        "org-ocsf",
        Change::SetAdmin {
            key: "u-carol".into(),
            admin: true,
        },
    )
    .expect("carol becomes an admin");
    sim.apply(
        "org-ocsf",
        Change::Profile {
            key: "u-dave".into(),
            patch: ProfilePatch {
                display_name: Some("David Example".into()),
                ..ProfilePatch::default()
            },
        },
    )
    .expect("dave renames himself");
    once().run(TIMEOUT).await.assert_success();

    let bootstrap = broker.bootstrap().to_owned();
    let read = |topic: String| {
        let bootstrap = bootstrap.clone();
        async move {
            read_to_end(
                &bootstrap,
                &topic,
                Isolation::ReadCommitted,
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let events = read(setup.events_topic.clone()).await;
    let ocsf = read(ocsf_topic.clone()).await;
    assert_eq!(
        events.len(),
        8,
        "4 SNAPSHOTs, then JOINED, LEFT, ADMIN_CHANGED, PROFILE_CHANGED"
    );
    let matched = one_to_one(&events, &ocsf)
        .await
        .unwrap_or_else(|e| panic!("the OCSF topic does not match the events topic: {e}"));
    assert_eq!(matched.records, 8);
    let classes: Vec<(u64, usize)> = matched.by_class.into_iter().collect();
    assert_eq!(
        classes,
        vec![(3001, 1), (3005, 1), (3006, 2), (5003, 4)],
        "Account Change, User Access Management, Group Management, User Inventory Info"
    );

    // `check` looks at the OCSF topic too.
    let mut check = setup.command(&["check"]);
    check.args(["--ocsf-topic", &ocsf_topic]);
    let checked = check.run(TIMEOUT).await;
    let needle = format!("OCSF topic {ocsf_topic}:");
    let line = line_with(&checked.stdout, &needle, &[])
        .unwrap_or_else(|| panic!("check reports the OCSF topic\n{}", checked.report()));
    assert!(is_success(line), "{line}\n{}", checked.report());
    assert!(line.contains("exists, 3 partitions"), "{line}");

    tail_prints_the_events_as_ocsf_and_ecs(&setup, &ocsf).await;
}

/// `tail --format ocsf` of the events topic: one record per event, valid for its
/// class, equal to the OCSF topic's (`ocsf`) but for the organization's name;
/// `tail --format ecs`: an ECS document per event.
async fn tail_prints_the_events_as_ocsf_and_ecs(setup: &Setup, ocsf: &[Raw]) {
    // `tail --format ocsf`: the events topic as OCSF lines, valid for their class.
    let tail = |format: &'static str| {
        let mut cmd = setup.command(&["tail", "--format", format]);
        cmd.args(["--max-records", "8", "--idle-timeout", "10s"]);
        cmd
    };
    let printed = tail("ocsf").run(TIMEOUT).await;
    printed.assert_success();
    let lines = object_lines(&printed.stdout);
    assert_eq!(lines.len(), 8, "{}", printed.report());
    let ids: BTreeSet<String> = read_events(&setup.bootstrap, &setup.events_topic)
        .await
        .iter()
        .map(|e| e.event.event_id.to_string())
        .collect();
    let uids: BTreeSet<String> = json_lines(&printed.stdout)
        .iter()
        .filter_map(|r| r["metadata"]["uid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(uids, ids, "tail --format ocsf prints every event once");
    // The OCSF topic holds the same records as tail prints, but for the
    // organization's name: the connector asks Streak for it, tail sees only the key.
    let topic_records: Vec<serde_json::Value> = ocsf
        .iter()
        .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok())
        .collect();
    let named = |records: &[serde_json::Value], name: &str| {
        records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                let names = org_names(&mut r);
                assert!(!names.is_empty(), "the organization is in {r}");
                assert!(names.iter().all(|n| n == name), "{names:?} in {r}");
                let message = r["message"].as_str().unwrap_or_default().replace(name, "-");
                r["message"] = message.into();
                r.to_string()
            })
            .collect::<BTreeSet<String>>()
    };
    assert_eq!(
        named(&topic_records, "org-ocsf Inc"),
        named(&json_lines(&printed.stdout), "org-ocsf"),
        "the OCSF topic and tail --format ocsf agree"
    );
    if let Some(report) = validate(&lines).unwrap_or_else(|e| panic!("{e}")) {
        eprintln!("[e2e] tail --format ocsf: {}", report.trim());
    }
    let topic_lines: Vec<String> = topic_records.iter().map(|r| r.to_string()).collect();
    if let Some(report) = validate(&topic_lines).unwrap_or_else(|e| panic!("{e}")) {
        eprintln!("[e2e] the OCSF topic: {}", report.trim());
    }

    // `tail --format ecs`: the same events as ECS documents.
    let printed = tail("ecs").run(TIMEOUT).await;
    printed.assert_success();
    let docs = json_lines(&printed.stdout);
    assert_eq!(docs.len(), 8, "{}", printed.report());
    for d in &docs {
        assert_eq!(d["event"]["category"], serde_json::json!(["iam"]), "{d}");
        assert_eq!(d["organization"]["id"], "org-ocsf", "{d}");
        let id = d["event"]["id"].as_str().unwrap_or_default();
        assert!(
            ids.contains(id),
            "an ECS document of a committed event: {d}"
        );
    }
}

/// `demo --format ocsf` needs nothing installed and prints the lively scenario's
/// events as OCSF records that validate against the 1.8.0 schema of their class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_valid_ocsf_records() {
    let mut cmd = Cmd::new(&["demo", "--cycles", "2", "--demo-interval", "1s"]);
    cmd.args(["--format", "ocsf", "--metrics-listen", "127.0.0.1:0"]);
    let run = cmd.run(Duration::from_secs(180)).await;
    run.assert_success();
    let lines = object_lines(&run.stdout);
    let records = json_lines(&run.stdout);
    assert_eq!(
        lines.len(),
        records.len(),
        "every line is JSON\n{}",
        run.report()
    );
    // The lively scenario: org-lively has 25 members, org-steady 31.
    let snapshots = records.iter().filter(|r| r["class_uid"] == 5003).count();
    assert_eq!(snapshots, 25 + 31, "{}", run.report());
    assert!(
        records.iter().any(|r| r["class_uid"] != 5003),
        "two cycles of the lively scenario show changes\n{}",
        run.report()
    );
    for r in &records {
        assert_eq!(r["metadata"]["version"], "1.8.0", "{r}");
        assert_eq!(r["metadata"]["product"]["name"], "streak-connector", "{r}");
        // The demo knows its scenario's organization names.
        let expected = match r["metadata"]["tenant_uid"].as_str() {
            Some("org-lively") => "Lively Labs",
            Some("org-steady") => "Steady Works",
            other => panic!("an organization of the lively scenario: {other:?}"),
        };
        let names = org_names(&mut r.clone());
        assert!(!names.is_empty(), "the organization is in {r}");
        assert!(names.iter().all(|n| n == expected), "{names:?} in {r}");
    }
    if let Some(report) = validate(&lines).unwrap_or_else(|e| panic!("{e}")) {
        eprintln!("[e2e] demo --format ocsf: {}", report.trim());
    }
}

/// The 1:1 check of the OCSF topic must be able to fail: a missing, doubled,
/// foreign or re-keyed record is caught. These need no broker.
mod the_check_can_fail {
    use std::sync::Arc;

    use streak_connector::avro::{Encoder, Schemas};
    use streak_connector::connector::OcsfOutput;
    use streak_connector::membership::SourceInfo;
    use streak_connector::simulator::SimMember;
    use testkit::eos::oracle::Oracle;
    use testkit::eos::proof::synthesize;
    use testkit::ocsf::one_to_one;
    use testkit::topic::Raw;

    /// The events of a snapshot, a grant and a departure, and their OCSF records.
    fn topics() -> (Vec<Raw>, Vec<Raw>) {
        let member = |key: &str, admin: bool| SimMember {
            key: key.into(),
            email: Some(format!("{key}@example.com")),
            is_org_admin: Some(admin),
            last_seen_ms: Some(1_800_000_000_000),
            ..SimMember::default()
        };
        let mut oracle = Oracle::new(30 * 86_400_000);
        let now = 1_800_000_000_000;
        oracle.first_poll("org", &[member("a", false), member("b", false)], now);
        oracle.poll("org", &[member("a", true)], now);
        let schemas = Arc::new(Schemas::load().expect("schemas"));
        let source = SourceInfo {
            connector: "c".into(),
            version: "0".into(),
            instance: "i".into(),
        };
        let encoder = Encoder::single_object(schemas, source);
        let ocsf = OcsfOutput::new(Some("ocsf"), Default::default()).expect("on");
        let (mut events, mut records) = (Vec::new(), Vec::new());
        for o in synthesize(&oracle) {
            let r = encoder.encode_event(&o.event).expect("encodes");
            let raw = |key: Vec<u8>, value| Raw {
                partition: o.partition,
                offset: o.offset,
                key: Some(key),
                value: Some(value),
            };
            let record = ocsf.record(&o.event, &r.key);
            records.push(raw(record.key, record.value.expect("a value")));
            events.push(raw(r.key, r.value.expect("a value")));
        }
        (events, records)
    }

    #[tokio::test]
    async fn it_accepts_one_record_per_event() {
        let (events, records) = topics();
        assert_eq!(events.len(), 4);
        let m = one_to_one(&events, &records).await.expect("1:1");
        assert_eq!(m.records, 4);
    }

    #[tokio::test]
    async fn it_rejects_a_missing_a_doubled_and_a_rekeyed_record() {
        let (events, records) = topics();
        let mut missing = records.clone();
        missing.pop();
        let err = one_to_one(&events, &missing).await.expect_err("missing");
        assert!(err.contains("has no OCSF record"), "{err}");

        let mut doubled = records.clone();
        doubled.push(records[1].clone());
        let err = one_to_one(&events, &doubled).await.expect_err("doubled");
        assert!(err.contains("twice on the OCSF topic"), "{err}");

        let mut rekeyed = records.clone();
        // Records 0 and 1 are member a's, 2 and 3 member b's.
        assert_ne!(records[0].key, records[3].key);
        rekeyed[0].key = records[3].key.clone();
        let err = one_to_one(&events, &rekeyed).await.expect_err("rekeyed");
        assert!(err.contains("key differs"), "{err}");

        let mut foreign = records;
        foreign[2].value = Some(br#"{"metadata":{"uid":"not-an-event"}}"#.to_vec());
        let err = one_to_one(&events, &foreign).await.expect_err("foreign");
        assert!(err.contains("is no committed event"), "{err}");
    }
}
