//! A poll's records go out chunk by chunk, in its one transaction: many chunks
//! still commit everything exactly once (OCSF records beside their events, the
//! checkpoint last), a failure between chunks aborts the whole poll and leaves the
//! state as it was, a record too large is caught before anything is sent, and an
//! encoding defect aborts the poll with its own error code.

use super::*;
use streak_connector::connector::RecordLimit;
use streak_connector::membership::Checkpoint;

const OCSF: &str = "ocsf";

/// A rig whose polls write `chunk_members` members a chunk, with the OCSF topic.
fn chunked(chunk_members: usize, max_bytes: Option<usize>) -> Rig {
    let ocsf = OcsfOutput::new(Some(OCSF), Default::default());
    rig_tuned(
        Mode::Publish,
        |_| None,
        ocsf,
        |ctx| {
            ctx.chunk_members = chunk_members;
            if let Some(max_bytes) = max_bytes {
                ctx.record_limit = RecordLimit { max_bytes };
            }
        },
    )
}

fn key_of(i: usize) -> String {
    format!("u{i:03}")
}

#[tokio::test]
async fn a_first_poll_in_many_chunks_commits_every_record_once() {
    let r = chunked(7, None);
    let api = FakeApi::new("org1", 100);
    let mut p = r.poller(api.clone()).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);

    // One transaction of 15 chunks of members and a last one (the checkpoint).
    assert_eq!((r.store.commits(), r.store.aborts()), (1, 0));
    assert_eq!(r.store.chunks(), 100_usize.div_ceil(7) as u64 + 1);
    let events = r.events().await;
    let expected: Vec<(EventType, String)> =
        (0..100).map(|i| (EventType::Snapshot, key_of(i))).collect();
    assert_eq!(events, expected, "every member once, in key order");
    let ocsf = r.store.committed(OCSF);
    let event_records = r.store.committed(EVENTS);
    assert_eq!(ocsf.len(), 100);
    for (e, o) in event_records.iter().zip(&ocsf) {
        assert_eq!(o.key, e.key, "each OCSF record beside its event");
    }
    let state = r.store.committed(STATE);
    assert_eq!(
        state.len(),
        101,
        "a state record per member, and the checkpoint"
    );
    let last = state.last().expect("records");
    let decoded = r
        .decoder
        .decode_state_cached(&last.key, last.value.as_deref())
        .expect("decodes");
    assert!(
        matches!(decoded, membership::StateRecord::Checkpoint(ref c) if c.poll_seq == 1 && c.member_count == 100),
        "the checkpoint comes last: {decoded:?}"
    );
    assert_eq!(p.state().expect("resolved").len(), 100);
    assert!(r.store.all_records(EVENTS).iter().all(|x| !x.aborted));

    // A later poll with a few changes, in chunks too.
    let mut members = api.members();
    members.remove(50);
    members[0].is_org_admin = Some(true);
    members.push(member("u999", false));
    api.set(members);
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(r.store.commits(), 2);
    assert_eq!(
        r.events().await[100..],
        [
            (EventType::AdminChanged, "u000".to_string()),
            (EventType::Left, "u050".to_string()),
            (EventType::Joined, "u999".to_string()),
        ]
    );
    assert_eq!(r.store.committed(OCSF).len(), 103);
    assert_eq!(p.state().expect("resolved").len(), 100);
}

#[tokio::test]
async fn a_failure_between_chunks_aborts_the_poll_and_leaves_the_state() {
    let r = chunked(3, None);
    let api = FakeApi::new("org1", 20);
    let mut p = r.poller(api.clone()).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let before = p.state().cloned();
    let committed = r.store.committed(EVENTS).len();

    let mut members = api.members();
    for m in &mut members {
        m.display_name = Some(format!("renamed {}", m.key));
    }
    api.set(members);
    // The third chunk fails: two chunks (six members) were written.
    r.store.fail_next(InjectedFailure::AbortAtChunk(2));
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: true });
    assert_eq!(p.state().cloned(), before, "memory untouched");
    assert_eq!(r.counter("org1", "failure"), 1);
    assert_eq!(
        r.store.committed(EVENTS).len(),
        committed,
        "nothing visible"
    );
    let aborted: Vec<_> = (r.store.all_records(EVENTS).into_iter())
        .filter(|x| x.aborted)
        .collect();
    assert_eq!(aborted.len(), 6, "the records of the first two chunks");
    assert!(
        r.store
            .all_records(STATE)
            .iter()
            .filter(|x| x.aborted)
            .count()
            == 6
    );

    // The redo publishes each change once, and the records the aborted attempt
    // had written again, byte for byte (deterministic event ids).
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let redone = r.store.committed(EVENTS);
    assert_eq!(redone.len(), committed + 20);
    for (a, c) in aborted.iter().zip(&redone[committed..]) {
        assert_eq!((&a.key, &a.value), (&c.key, &c.value));
    }
    let state = p.state().expect("resolved");
    assert_eq!(state.checkpoint().map(|c| c.poll_seq), Some(2));
    let renamed = state.get("u019").and_then(|s| s.member.display_name);
    assert_eq!(renamed.as_deref(), Some("renamed u019"));
}

#[tokio::test]
async fn a_record_too_large_is_caught_before_anything_is_sent() {
    let r = chunked(2, Some(2000));
    let mut members: Vec<Member> = (0..6).map(|i| member(&key_of(i), false)).collect();
    members[3].display_name = Some("x".repeat(5000));
    let api = FakeApi::new("org1", 0);
    api.set(members);
    let mut p = r.poller(api.clone()).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);

    assert_eq!((r.store.commits(), r.store.aborts()), (1, 0));
    for topic in [EVENTS, STATE, OCSF] {
        let all = r.store.all_records(topic);
        assert!(
            all.iter()
                .all(|x| !String::from_utf8_lossy(&x.key).contains("u003")),
            "no record of the member on {topic}, not even an aborted one"
        );
    }
    let keys: Vec<String> = r.events().await.into_iter().map(|(_, k)| k).collect();
    assert_eq!(keys, ["u000", "u001", "u002", "u004", "u005"]);
    let left_out = r
        .metrics
        .members_left_out_total
        .with_label_values(&["org1"]);
    assert_eq!(left_out.get(), 1);
    let state = p.state().expect("resolved");
    assert!(state.get("u003").is_none() && state.len() == 5);
    let checkpoint = state.checkpoint().expect("the checkpoint commits");
    assert_eq!(checkpoint.member_count, 6, "it counts the listing");
}

#[tokio::test]
async fn an_encoding_defect_aborts_the_poll_with_its_own_code() {
    let r = chunked(2, None);
    let api = FakeApi::new("org1", 5);
    // A state whose next poll sequence no longer fits Avro's long.
    let mut restored = membership::OrgState::new("org1");
    restored.set_checkpoint(Checkpoint {
        org_key: "org1".into(),
        poll_seq: i64::MAX as u64,
        last_poll_ms: NOW - 1000,
        member_count: 0,
        incarnation: None,
    });
    r.ctx
        .restored
        .lock()
        .expect("lock")
        .insert("org1".into(), restored.clone());
    let mut p = r.poller(api).await;
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: true });
    assert!(
        p.last_error().is_some_and(|e| e.contains("cannot encode")),
        "{:?}",
        p.last_error()
    );
    assert_eq!(
        org_status(&r, "org1").last_error_code.as_deref(),
        Some("encode")
    );
    assert_eq!((r.store.commits(), r.store.aborts()), (0, 1));
    assert!(r.store.committed(EVENTS).is_empty() && r.store.committed(STATE).is_empty());
    let state = p.state().expect("resolved");
    assert!(state.is_empty());
    assert_eq!(
        state.checkpoint(),
        restored.checkpoint(),
        "memory untouched"
    );
}
