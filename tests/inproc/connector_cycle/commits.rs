//! Commits: memory moves only after a commit, a failed commit is redone with the
//! same events, OCSF records share the transaction, fencing is fatal, a dry run
//! writes nothing.

use super::*;

#[tokio::test]
async fn snapshot_then_changes_commit_with_the_checkpoint() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 3);
    let mut p = r.poller(api.clone()).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.events().await.len(), 3);
    assert!(r
        .events()
        .await
        .iter()
        .all(|(t, _)| *t == EventType::Snapshot));
    // 3 member states + 1 checkpoint.
    assert_eq!(r.store.committed(STATE).len(), 4);
    assert_eq!(p.state().expect("resolved").len(), 3);

    let mut members = api.members();
    members.remove(0);
    members[0].is_org_admin = Some(true);
    members.push(member("u999", false));
    api.set(members);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let events = r.events().await;
    assert_eq!(
        events[3..],
        [
            (EventType::Left, "u000".to_string()),
            (EventType::AdminChanged, "u001".to_string()),
            (EventType::Joined, "u999".to_string()),
        ]
    );
    assert_eq!(
        p.state().and_then(|s| s.checkpoint()).map(|c| c.poll_seq),
        Some(2)
    );
    assert_eq!(r.counter("org1", "success"), 2);
    assert_eq!(
        r.metrics
            .events_total
            .with_label_values(&["org1", "JOINED"])
            .get(),
        1
    );
    assert_eq!(r.metrics.members.with_label_values(&["org1"]).get(), 3);
    assert_eq!(r.metrics.admins.with_label_values(&["org1"]).get(), 1);
    // The cycle keeps /status: the poll's sequence, members, time, its key. The
    // rig's key owner ("owner") is not in the listing, so the owner watch flags the
    // only key as at risk (`left`), and the organization with it.
    let o = org_status(&r, "org1");
    assert_eq!(o.state, OrgState::KeyAtRisk);
    assert_eq!((o.poll_seq, o.members), (2, 3));
    assert_eq!(o.seconds_since_last_success, Some(0));
    assert_eq!(
        o.keys,
        vec![KeyStatus {
            owner_risks: vec!["left".to_owned()],
            ..KeyStatus::active(api.key_fingerprint())
        }]
    );
}

#[tokio::test]
async fn failed_commit_leaves_memory_and_is_redone_identically() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api.clone()).await;
    poll(&mut p).await;
    let before = p.state().cloned();

    api.set(vec![
        member("u000", true),
        member("u001", false),
        member("new", false),
    ]);
    for failure in [InjectedFailure::Retriable, InjectedFailure::Abort] {
        r.store.fail_next(failure);
        assert_eq!(
            poll(&mut p).await,
            PollStatus::Failed { retry_soon: true },
            "{failure:?}"
        );
        assert_eq!(
            p.state().cloned(),
            before,
            "memory untouched by {failure:?}"
        );
    }
    assert_eq!(r.counter("org1", "failure"), 2);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let events = r.events().await;
    assert_eq!(
        events[2..],
        [
            (EventType::Joined, "new".to_string()),
            (EventType::AdminChanged, "u000".to_string()),
        ],
        "the redone poll publishes each change once, members in key order"
    );
    // The aborted attempts left records in the log, all marked aborted.
    let aborted = r
        .store
        .all_records(EVENTS)
        .iter()
        .filter(|x| x.aborted)
        .count();
    assert_eq!(aborted, 4);
}

/// With an OCSF topic, each committed event has its OCSF record in the same
/// transaction, under the same key bytes; an aborted poll leaves neither visible, and
/// its redo writes each record once.
#[tokio::test]
async fn ocsf_records_share_the_events_transaction() {
    const OCSF: &str = "ocsf";
    let ocsf = OcsfOutput::new(Some(OCSF), Default::default());
    let r = rig_with(Mode::Publish, |_| None, ocsf);
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api.clone()).await;
    poll(&mut p).await;
    api.set(vec![member("u000", true), member("new", false)]);
    r.store.fail_next(InjectedFailure::Abort);
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: true });
    assert_eq!(
        r.store.committed(OCSF).len(),
        2,
        "the aborted poll hides its OCSF records"
    );
    assert_eq!(
        r.store
            .all_records(OCSF)
            .iter()
            .filter(|x| x.aborted)
            .count(),
        3
    );
    assert_eq!(poll(&mut p).await, PollStatus::Done);

    let events = r.store.committed(EVENTS);
    let records = r.store.committed(OCSF);
    assert_eq!(
        events.len(),
        5,
        "2 SNAPSHOTs, then JOINED, ADMIN_CHANGED, LEFT"
    );
    assert_eq!(
        records.len(),
        events.len(),
        "one OCSF record per committed event"
    );
    for (e, o) in events.iter().zip(&records) {
        assert_eq!(o.key, e.key, "keyed exactly like the event");
        let value = e.value.as_deref().expect("events have values");
        let d = r
            .decoder
            .decode_event(&e.key, value)
            .await
            .expect("decodes");
        let json: serde_json::Value =
            serde_json::from_slice(o.value.as_deref().expect("OCSF records have values"))
                .expect("OCSF records are JSON");
        assert_eq!(json["metadata"]["uid"], d.event.event_id.to_string());
        assert_eq!(json["metadata"]["tenant_uid"], "org1");
        assert_eq!(json["metadata"]["version"], "1.8.0");
    }
}

#[tokio::test]
async fn fenced_is_fatal() {
    let r = rig(Mode::Publish);
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api).await;
    r.store.fail_next(InjectedFailure::Fenced);
    let err = p
        .poll(&CancellationToken::new())
        .await
        .expect_err("fenced stops the connector");
    assert!(err.to_string().contains("fenced"), "{err}");
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = rig(Mode::DryRun(tx));
    let api = FakeApi::new("org1", 3);
    let mut p = r.poller(api).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.store.all_records(EVENTS).len(), 0);
    assert_eq!(r.store.commits(), 0);
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    assert_eq!(n, 3);
    assert!(
        p.state().is_some_and(|s| s.is_empty()),
        "a dry run moves no state"
    );
}
