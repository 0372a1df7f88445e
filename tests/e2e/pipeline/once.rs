//! `once`: a snapshot then exactly the changes, a failed organization beside the
//! published ones, and `--dry-run`.

use std::collections::BTreeSet;

use streak_connector::avro::DecodedEvent;
use streak_connector::membership::EventType;
use streak_connector::simulator::{Change, ProfilePatch, RunningSimulator};
use testkit::e2e::broker_for;
use testkit::e2e::{api_key, event_lines, fingerprint, joiner, org_toml, start_simulator, Setup};
use testkit::topic::{last_checkpoints, members_in_state, read_events, read_state, topic_exists};

use super::{of_org, set, summary, users, ONCE_TIMEOUT};

/// 1. `once` publishes one SNAPSHOT per member; after changes in Streak, the next
///    `once` publishes exactly JOINED, LEFT, ADMIN_CHANGED and PROFILE_CHANGED, and the
///    state topic holds the members and the checkpoint of that poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_publishes_a_snapshot_then_exactly_the_changes() {
    let Some(broker) = broker_for("once_publishes_a_snapshot_then_exactly_the_changes").await
    else {
        return;
    };
    let key = api_key("acme");
    let sim = start_simulator(&org_toml(
        "org-acme",
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
    let setup = Setup::with_topics("once", &sim.base_url(), &broker, &[&key], "");

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let all: Vec<&DecodedEvent> = events.iter().collect();
    assert_eq!(
        summary(&all),
        vec![
            (1, "SNAPSHOT", "u-alice".into()),
            (1, "SNAPSHOT", "u-bob".into()),
            (1, "SNAPSHOT", "u-carol".into()),
            (1, "SNAPSHOT", "u-dave".into()),
        ]
    );
    assert_snapshots(&events, &setup.connector_name);

    // Streak changes between two polls.
    change_streak(&sim);

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let second: Vec<&DecodedEvent> = events.iter().filter(|e| e.event.poll_seq == 2).collect();
    assert_eq!(
        events.len(),
        4 + second.len(),
        "the first poll's events are not repeated: {:?}",
        summary(&events.iter().collect::<Vec<_>>())
    );
    assert_eq!(
        summary(&second),
        vec![
            (2, "ADMIN_CHANGED", "u-carol".into()),
            (2, "JOINED", "u-erin".into()),
            (2, "LEFT", "u-bob".into()),
            (2, "PROFILE_CHANGED", "u-dave".into()),
        ]
    );
    assert_changes(&second);

    // `tail` shows the same events, decoded, read committed.
    let tail = setup
        .command(&[
            "tail",
            "--topic",
            "events",
            "--from",
            "beginning",
            "--max-records",
            "8",
            "--idle-timeout",
            "10s",
        ])
        .run(ONCE_TIMEOUT)
        .await;
    tail.assert_success();
    let mut decoded: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e.event.event_type.as_str().to_owned(),
                e.event.user_key.clone(),
            )
        })
        .collect();
    decoded.sort();
    assert_eq!(event_lines(&tail.stdout), decoded, "{}", tail.report());

    let state = read_state(broker.bootstrap(), &setup.state_topic).await;
    let checkpoint = last_checkpoints(&state)
        .remove("org-acme")
        .expect("a checkpoint for org-acme");
    assert_eq!(checkpoint.poll_seq, 2);
    assert_eq!(checkpoint.member_count, 4);
    assert_eq!(
        members_in_state(&state)
            .get("org-acme")
            .cloned()
            .unwrap_or_default(),
        vec!["u-alice", "u-carol", "u-dave", "u-erin"],
        "bob's state was tombstoned, erin's written"
    );
}

/// The first poll's events: one SNAPSHOT per member, with its after and no before,
/// published by `connector`, each with a unique id.
fn assert_snapshots(events: &[DecodedEvent], connector: &str) {
    for e in events {
        let ev = &e.event;
        assert_eq!(ev.org_key, "org-acme");
        assert!(ev.before.is_none(), "a SNAPSHOT has no before: {ev:?}");
        let after = ev.after.as_ref().expect("a SNAPSHOT has an after");
        assert_eq!(after.member.key, ev.user_key);
        let email = format!("{}@e2e.example.com", ev.user_key);
        assert_eq!(after.member.email.as_deref(), Some(email.as_str()));
        assert_eq!(ev.email.as_deref(), Some(email.as_str()));
        assert_eq!(after.member.is_org_admin, Some(ev.user_key == "u-alice"));
        assert!(!after.inactive, "seen an hour ago: active");
        assert_eq!(e.source.connector, connector);
    }
    let ids: BTreeSet<_> = events.iter().map(|e| e.event.event_id).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
}

/// Between two polls: erin joins, bob leaves, carol becomes an admin, dave renames himself.
fn change_streak(sim: &RunningSimulator) {
    sim.apply("org-acme", Change::Join(joiner("u-erin")))
        .expect("erin joins");
    sim.apply(
        "org-acme",
        Change::Leave {
            key: "u-bob".into(),
        },
    )
    .expect("bob leaves");
    sim.apply(
        "org-acme",
        Change::SetAdmin {
            key: "u-carol".into(),
            admin: true,
        },
    )
    .expect("carol becomes an admin");
    sim.apply(
        "org-acme",
        Change::Profile {
            key: "u-dave".into(),
            patch: ProfilePatch {
                display_name: Some("David Example".into()),
                ..ProfilePatch::default()
            },
        },
    )
    .expect("dave renames himself");
}

/// The second poll's events carry the before and after their type calls for.
fn assert_changes(second: &[&DecodedEvent]) {
    for e in second {
        let ev = &e.event;
        match ev.event_type {
            EventType::Joined => {
                assert!(ev.before.is_none());
                let after = ev.after.as_ref().expect("JOINED has an after");
                assert_eq!(
                    after.member.email.as_deref(),
                    Some("u-erin@e2e.example.com")
                );
            }
            EventType::Left => {
                assert!(ev.after.is_none(), "LEFT has no after");
                let before = ev.before.as_ref().expect("LEFT has a before");
                assert_eq!(before.member.key, "u-bob");
            }
            EventType::AdminChanged => {
                let before = ev.before.as_ref().expect("a before");
                let after = ev.after.as_ref().expect("an after");
                assert_eq!(before.member.is_org_admin, Some(false));
                assert_eq!(after.member.is_org_admin, Some(true));
            }
            EventType::ProfileChanged => {
                let before = ev.before.as_ref().expect("a before");
                let after = ev.after.as_ref().expect("an after");
                assert_eq!(
                    before.member.display_name.as_deref(),
                    Some("u-dave Example")
                );
                assert_eq!(after.member.display_name.as_deref(), Some("David Example"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// `once` with one good key and one revoked key: exits non-zero naming the failed
/// key (by fingerprint, never the key), and the good organization is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_fails_naming_the_organization_that_failed_and_publishes_the_others() {
    let Some(broker) = broker_for("once_fails_naming_the_organization_that_failed").await else {
        return;
    };
    let good = api_key("good");
    let revoked = api_key("revoked");
    let sim = start_simulator(&format!(
        "{}{}",
        org_toml("org-good", &good, &[("u-gina", true), ("u-gus", false)], ""),
        org_toml("org-gone", &revoked, &[("u-rita", true)], "")
    ))
    .await;
    sim.apply(
        "org-gone",
        Change::RevokeKey {
            api_key: revoked.clone(),
        },
    )
    .expect("revoked");
    let setup = Setup::with_topics("oncefail", &sim.base_url(), &broker, &[&good, &revoked], "");

    let run = setup.command(&["once"]).run(ONCE_TIMEOUT).await;
    assert!(
        !run.status.success(),
        "one organization failed: non-zero exit\n{}",
        run.report()
    );
    let out = run.all_output();
    assert!(
        out.contains(&fingerprint(&revoked)),
        "the failure names the key by its fingerprint {}\n{}",
        fingerprint(&revoked),
        run.report()
    );
    assert!(
        !out.contains(&revoked) && !out.contains(&good),
        "no API key is ever printed\n{}",
        run.report()
    );

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let good_events = of_org(&events, "org-good");
    assert_eq!(users(&good_events), set(&["u-gina", "u-gus"]));
    assert!(good_events
        .iter()
        .all(|e| e.event.event_type == EventType::Snapshot));
    assert!(of_org(&events, "org-gone").is_empty());
}

/// 7. `once --dry-run` prints the events it would publish and writes nothing; it
///    restores state, so after a real poll it prints only the changes, and the
///    real poll after it still publishes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_dry_run_prints_the_events_and_writes_nothing() {
    let Some(broker) = broker_for("once_dry_run_prints_the_events_and_writes_nothing").await else {
        return;
    };
    let key = api_key("dry");
    let sim = start_simulator(&org_toml(
        "org-dry",
        &key,
        &[("u-dan", true), ("u-dora", false), ("u-dirk", false)],
        "",
    ))
    .await;
    let setup = Setup::with_topics("dry", &sim.base_url(), &broker, &[&key], "");

    let dry = setup
        .command(&["once", "--dry-run"])
        .run(ONCE_TIMEOUT)
        .await;
    dry.assert_success();
    let printed = event_lines(&dry.stdout);
    assert_eq!(
        printed,
        vec![
            ("SNAPSHOT".to_owned(), "u-dan".to_owned()),
            ("SNAPSHOT".to_owned(), "u-dirk".to_owned()),
            ("SNAPSHOT".to_owned(), "u-dora".to_owned()),
        ],
        "one JSON line per would-be event\n{}",
        dry.report()
    );
    let events_topic_exists = topic_exists(broker.bootstrap(), &setup.events_topic).await;
    if events_topic_exists {
        assert!(
            read_events(broker.bootstrap(), &setup.events_topic)
                .await
                .is_empty(),
            "a dry run writes no event"
        );
    }
    if topic_exists(broker.bootstrap(), &setup.state_topic).await {
        assert!(
            read_state(broker.bootstrap(), &setup.state_topic)
                .await
                .is_empty(),
            "a dry run writes no state"
        );
    }

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();
    sim.apply(
        "org-dry",
        Change::Leave {
            key: "u-dora".into(),
        },
    )
    .expect("dora leaves");

    let dry = setup
        .command(&["once", "--dry-run"])
        .run(ONCE_TIMEOUT)
        .await;
    dry.assert_success();
    assert_eq!(
        event_lines(&dry.stdout),
        vec![("LEFT".to_owned(), "u-dora".to_owned())],
        "after a real poll, a dry run shows only the change\n{}",
        dry.report()
    );
    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    assert_eq!(
        events.len(),
        3,
        "the dry run wrote nothing: only the snapshot"
    );

    setup
        .command(&["once"])
        .run(ONCE_TIMEOUT)
        .await
        .assert_success();
    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    let second: Vec<&DecodedEvent> = events.iter().filter(|e| e.event.poll_seq == 2).collect();
    assert_eq!(
        summary(&second),
        vec![(2, "LEFT", "u-dora".into())],
        "the dry run did not advance the checkpoint"
    );
}
