//! The continuous reconciliation core driven by the real membership engine, across
//! aborted transactions and a simulated restart: findings neither repeated nor lost.

use crate::audit::continuous::{finding_id_namespace, FindingChange};
use crate::audit::status::DirectoryStatus;
use crate::audit::*;
use crate::membership::{diff_changes, Listing, Member, OrgState, Settings};

const T0: i64 = 1_800_000_000_000;

fn member(key: &str, email: &str, admin: bool) -> Member {
    Member {
        key: key.into(),
        email: Some(email.into()),
        display_name: Some(key.to_uppercase()),
        is_org_admin: Some(admin),
        last_seen_ms: Some(T0),
        ..Member::default()
    }
}

fn listing(members: &[Member]) -> Listing {
    Listing {
        members: members.to_vec(),
        complete: true,
    }
}

/// What Kafka holds: the state (applied after commits), the findings topic and
/// the directory topic, so that a restart can rebuild from them alone.
struct World {
    state: OrgState,
    findings_topic: Vec<FindingRecord>,
    directory_topic: Vec<(String, Option<String>)>,
    now: i64,
}

impl World {
    fn new() -> Self {
        World {
            state: OrgState::new("org"),
            findings_topic: Vec::new(),
            directory_topic: Vec::new(),
            now: T0,
        }
    }

    fn directory(&mut self, r: &mut Reconciler, email: &str, status: Option<&str>) {
        let value = status.map(|s| format!("{{\"status\":\"{s}\"}}"));
        self.directory_topic.push((email.into(), value.clone()));
        let update = parse_directory_record(
            Some(email.as_bytes()),
            value.as_deref().map(str::as_bytes),
            &DirectoryOptions::default(),
        )
        .unwrap();
        r.apply_directory(update);
    }

    /// One poll; its findings are published and taken in only if it commits.
    fn poll(&mut self, r: &mut Reconciler, members: &[Member], commit: bool) -> Vec<FindingRecord> {
        self.now += 300_000;
        let changes = diff_changes(
            &self.state,
            &listing(members),
            self.now,
            &Settings::default(),
            None,
        );
        let pending = r.poll(&self.state, &changes);
        let records = pending.records.clone();
        if commit {
            self.findings_topic.extend(records.iter().cloned());
            r.commit(pending);
            self.state.apply_changes(changes);
        }
        records
    }

    /// A new process: the directory and the findings replayed from their topics.
    fn restart(&self) -> Reconciler {
        let mut r = Reconciler::new(Directory::default(), opts());
        for (k, v) in &self.directory_topic {
            let opts = DirectoryOptions::default();
            let update =
                parse_directory_record(Some(k.as_bytes()), v.as_deref().map(str::as_bytes), &opts);
            r.apply_directory(update.unwrap());
        }
        for record in &self.findings_topic {
            // Through the wire format, as a consumer of the topic reads it.
            r.restore(&FindingRecord::from_json(record.to_json().as_bytes()).unwrap());
        }
        r.set_directory_loaded();
        r
    }
}

fn opts() -> ReconcileOptions {
    ReconcileOptions {
        directory_only: true,
    }
}

fn summary(records: &[FindingRecord]) -> Vec<(FindingChange, String, Option<FindingKind>)> {
    records
        .iter()
        .map(|r| {
            let who = r.user_key.clone().or(r.email.clone()).unwrap_or_default();
            (r.change, who, r.after.as_ref().map(|f| f.kind))
        })
        .collect()
}

#[test]
fn findings_are_published_once_across_aborts_and_a_restart() {
    use FindingChange::*;
    use FindingKind::*;
    let mut w = World::new();
    let mut r = Reconciler::new(Directory::default(), opts());
    for (email, status) in [("ann@corp.com", "active"), ("bob@corp.com", "active")] {
        w.directory(&mut r, email, Some(status));
    }
    w.directory(&mut r, "Carol@corp.com", Some("suspended"));
    w.directory(&mut r, "fay@corp.com", Some("active"));
    let team = vec![
        member("ann", "Ann@Corp.com", true),
        member("bob", "bob@corp.com", false),
        member("carol", "carol@corp.com", false),
        member("dan", "dan@corp.com", false),
    ];

    // Until the directory topic is read to its end, nothing is judged.
    assert!(w.poll(&mut r, &team, true).is_empty());
    r.set_directory_loaded();
    let first = w.poll(&mut r, &team, true);
    assert_eq!(
        summary(&first),
        [
            (Appeared, "carol".into(), Some(InactiveInDirectory)),
            (Appeared, "dan".into(), Some(NotInDirectory)),
            (Appeared, "fay@corp.com".into(), Some(DirectoryOnly)),
        ]
    );
    assert_eq!(first[0].poll_seq, 2);
    assert_eq!(first[0].before, None);
    // Nothing changed: nothing published.
    assert!(w.poll(&mut r, &team, true).is_empty());

    // Bob is suspended, then deleted: appeared, then changed.
    w.directory(&mut r, "bob@corp.com", Some("suspended"));
    assert_eq!(
        summary(&w.poll(&mut r, &team, true)),
        [(Appeared, "bob".into(), Some(InactiveInDirectory))]
    );
    w.directory(&mut r, "bob@corp.com", Some("deleted"));
    let changed = w.poll(&mut r, &team, true);
    assert_eq!(
        summary(&changed),
        [(Changed, "bob".into(), Some(InactiveInDirectory))]
    );
    let status = |f: &Option<Finding>| f.as_ref().and_then(|f| f.directory_status);
    assert_eq!(status(&changed[0].before), Some(DirectoryStatus::Suspended));
    assert_eq!(status(&changed[0].after), Some(DirectoryStatus::Deleted));

    // Dan enters the directory, but the poll's transaction aborts.
    w.directory(&mut r, "dan@corp.com", Some("active"));
    let aborted = w.poll(&mut r, &team, false);
    assert_eq!(summary(&aborted), [(Cleared, "dan".into(), None)]);
    let published = w.findings_topic.len();

    // The process dies. While it is down, Carol leaves Streak and Eve joins.
    let mut r = w.restart();
    assert_eq!(r.counts("org").map(|(_, n)| n), [1, 2, 1]);
    let mut team = team;
    team.retain(|m| m.key != "carol");
    team.push(member("eve", "eve@corp.com", false));
    w.now -= 300_000; // the same poll again, as a replay would run it
    let after_restart = w.poll(&mut r, &team, true);
    assert_eq!(
        summary(&after_restart),
        [
            (Cleared, "carol".into(), None),
            (Cleared, "dan".into(), None),
            (Appeared, "eve".into(), Some(NotInDirectory)),
        ]
    );
    // The replayed change keeps its id, so a consumer that saw the aborted one
    // (read uncommitted) can drop it.
    assert_eq!(after_restart[1].finding_id, aborted[0].finding_id);
    assert_eq!(w.findings_topic.len(), published + 3);
    // And nothing after it repeats.
    assert!(w.poll(&mut r, &team, true).is_empty());
    let mut again = w.restart();
    assert!(w.poll(&mut again, &team, true).is_empty());
    // Bob, Eve and Fay remain.
    assert_eq!(again.findings("org").len(), 3);
    assert_eq!(again.findings("org"), r.findings("org"));
}

#[test]
fn a_held_poll_publishes_nothing_and_the_next_one_catches_up() {
    let mut w = World::new();
    let mut r = Reconciler::new(Directory::default(), ReconcileOptions::default());
    r.set_directory_loaded();
    let team = [
        member("a", "a@corp.com", false),
        member("b", "b@corp.com", false),
    ];
    assert_eq!(w.poll(&mut r, &team, true).len(), 2);
    w.directory(&mut r, "a@corp.com", Some("active"));
    // An empty listing of a known organization: the departure guard holds.
    assert!(w.poll(&mut r, &[], true).is_empty());
    let next = w.poll(&mut r, &team, true);
    assert_eq!(summary(&next), [(FindingChange::Cleared, "a".into(), None)]);
}

#[test]
fn a_member_who_leaves_clears_and_a_changed_email_is_judged_again() {
    let mut w = World::new();
    let mut r = Reconciler::new(Directory::default(), opts());
    w.directory(&mut r, "new@corp.com", Some("active"));
    r.set_directory_loaded();
    let before = [member("a", "old@corp.com", true)];
    let records = w.poll(&mut r, &before, true);
    assert_eq!(records.len(), 2); // a not in the directory; new@ directory-only
                                  // The member's email changes to the directory's: both findings clear.
    let after = [member("a", "NEW@corp.com", true)];
    let records = w.poll(&mut r, &after, true);
    assert!(records.iter().all(|r| r.change == FindingChange::Cleared));
    assert_eq!(records.len(), 2);
    assert!(r.findings("org").is_empty());
}

#[test]
fn the_record_json_shape_is_stable() {
    let mut w = World::new();
    let mut r = Reconciler::new(Directory::default(), opts());
    w.directory(&mut r, "Fay@corp.com", Some("enabled"));
    r.set_directory_loaded();
    let records = w.poll(&mut r, &[member("k1", "Ann@corp.com", true)], true);
    let member_record = records.iter().find(|r| r.user_key.is_some()).unwrap();
    let dir_record = records.iter().find(|r| r.user_key.is_none()).unwrap();
    assert_eq!(
        member_record.key_json(),
        r#"{"org_key":"org","user_key":"k1"}"#
    );
    assert_eq!(
        dir_record.key_json(),
        r#"{"org_key":"org","email":"fay@corp.com"}"#
    );
    let value: serde_json::Value = serde_json::from_str(&member_record.to_json()).unwrap();
    let expected = serde_json::json!({
        "schema_version": 1,
        "finding_id": member_record.finding_id,
        "change": "APPEARED",
        "org_key": "org",
        "user_key": "k1",
        "email": "ann@corp.com",
        "detected_at_ms": T0 + 300_000,
        "poll_seq": 1,
        "before": null,
        "after": {
            "kind": "not_in_directory",
            "org_key": "org",
            "user_key": "k1",
            "email": "Ann@corp.com",
            "normalised_email": "ann@corp.com",
            "display_name": "K1",
            "is_org_admin": true,
            "directory_status": null
        }
    });
    assert_eq!(value, expected);
    assert_eq!(
        uuid::Uuid::parse_str(&member_record.finding_id).map(|u| u.get_version_num()),
        Ok(5)
    );
    assert_eq!(
        finding_id_namespace().to_string(),
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            b"urn:streak-connector:reconcile-finding"
        )
        .to_string()
    );
}
