//! The continuous reconciliation's findings in the poll's transaction.

use super::*;

/// The reconciliation's finding records go in the poll's own transaction: an
/// aborted poll publishes none, its redo publishes them once, with the same ids.
#[tokio::test]
async fn findings_join_the_poll_transaction_and_an_abort_is_redone_identically() {
    use streak_connector::audit::{
        parse_directory_record, Directory, DirectoryOptions, FindingRecord, ReconcileOptions,
        Reconciler,
    };
    let record = |email: &str, status: &str| {
        let value = format!("{{\"status\":\"{status}\"}}");
        parse_directory_record(
            Some(email.as_bytes()),
            Some(value.as_bytes()),
            &DirectoryOptions::default(),
        )
        .expect("a valid directory record")
    };
    let mut reconciler = Reconciler::new(Directory::default(), ReconcileOptions::default());
    reconciler.apply_directory(record("u000@example.com", "suspended"));
    reconciler.apply_directory(record("u001@example.com", "active"));
    reconciler.set_directory_loaded();
    let continuous = Arc::new(Mutex::new(None));
    let slot = continuous.clone();
    let r = rig_with(
        Mode::Publish,
        move |m| {
            let c = Arc::new(Continuous::unfollowed(reconciler, "findings", m.clone()));
            *slot.lock().expect("lock") = Some(c.clone());
            Some(c)
        },
        None,
    );
    let continuous = continuous.lock().expect("lock").clone().expect("made");
    let findings = |all: bool| -> Vec<FindingRecord> {
        let records = if all {
            r.store.all_records("findings")
        } else {
            r.store.committed("findings")
        };
        records
            .iter()
            .map(|x| FindingRecord::from_json(x.value.as_deref().expect("a value")).expect("JSON"))
            .collect()
    };
    let api = FakeApi::new("org1", 2);
    let mut p = r.poller(api.clone()).await;
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let first = findings(false);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].user_key.as_deref(), Some("u000"));
    assert_eq!(first[0].poll_seq, 1);
    let gauge = |kind: &str| {
        r.metrics
            .reconcile_findings
            .with_label_values(&["org1", kind])
            .get()
    };
    assert_eq!(
        (gauge("inactive_in_directory"), gauge("not_in_directory")),
        (1, 0)
    );

    // The directory changes; the next poll's transaction aborts, then is redone.
    continuous.apply_directory(record("u001@example.com", "deleted"));
    r.store.fail_next(InjectedFailure::Abort);
    assert_eq!(poll(&mut p).await, PollStatus::Failed { retry_soon: true });
    assert_eq!(
        findings(false).len(),
        1,
        "an aborted poll publishes no finding"
    );
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    let committed = findings(false);
    assert_eq!(committed.len(), 2, "the redo publishes the change once");
    let aborted: Vec<FindingRecord> = r
        .store
        .all_records("findings")
        .into_iter()
        .filter(|x| x.aborted)
        .map(|x| FindingRecord::from_json(x.value.as_deref().expect("a value")).expect("JSON"))
        .collect();
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        aborted[0].finding_id, committed[1].finding_id,
        "same id on redo"
    );
    assert_eq!(committed[1].user_key.as_deref(), Some("u001"));
    assert_eq!(gauge("inactive_in_directory"), 2);
    assert_eq!(findings(true).len(), 3);

    // Nothing changed: nothing more.
    assert_eq!(poll(&mut p).await, PollStatus::Done);
    assert_eq!(findings(false).len(), 2);
}
