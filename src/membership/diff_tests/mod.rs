//! Unit tests of [`super::diff`]: one per row of the event table and per rule;
//! the departure guard's in `guard.rs`.

use super::*;

mod guard;
mod incarnation;

const DAY: i64 = 24 * 60 * 60 * 1000;
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

fn member(key: &str) -> Member {
    Member {
        key: key.into(),
        email: Some(format!("{key}@example.com")),
        display_name: Some(format!("User {key}")),
        first_name: Some("First".into()),
        last_name: Some("Last".into()),
        image: Some(format!("https://img.example.com/{key}.png")),
        is_org_admin: Some(false),
        last_seen_ms: Some(T0 - DAY),
        creation_ms: Some(T0 - 400 * DAY),
    }
}

fn listing(members: Vec<Member>) -> Listing {
    Listing {
        members,
        complete: true,
    }
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("u{i:03}")).collect()
}

/// An organization after its snapshot poll at `at` with these members.
fn known(members: Vec<Member>, at: i64) -> OrgState {
    let mut org = OrgState::new("org");
    let out = diff(&org, &listing(members), at, &Settings::default(), None);
    assert_eq!(out.verdict, GuardVerdict::Proceed);
    org.apply(&out);
    org
}

fn run(org: &OrgState, members: Vec<Member>, now: i64) -> PollOutcome {
    diff(org, &listing(members), now, &Settings::default(), None)
}

fn types(out: &PollOutcome) -> Vec<(&str, EventType)> {
    out.events
        .iter()
        .map(|e| (e.user_key.as_str(), e.event_type))
        .collect()
}

fn checkpoint(out: &PollOutcome) -> &Checkpoint {
    match out.state_writes.last() {
        Some(StateRecord::Checkpoint(c)) => c,
        other => panic!("last write is not the checkpoint: {other:?}"),
    }
}

/// The member writes, as (user key, new state).
fn member_writes(out: &PollOutcome) -> Vec<(&str, Option<&MemberState>)> {
    out.state_writes
        .iter()
        .filter_map(|w| match w {
            StateRecord::Member {
                org_key,
                user_key,
                state,
            } => {
                assert_eq!(org_key, "org");
                Some((user_key.as_str(), state.as_ref()))
            }
            StateRecord::Checkpoint(_) => None,
        })
        .collect()
}

#[test]
fn first_poll_is_a_snapshot_of_every_member_in_key_order() {
    let org = OrgState::new("org");
    let mut stale = member("b");
    stale.last_seen_ms = Some(T0 - 31 * DAY);
    let out = run(&org, vec![member("c"), stale, member("a")], T0);
    assert_eq!(out.verdict, GuardVerdict::Proceed);
    use EventType::Snapshot;
    assert_eq!(
        types(&out),
        [("a", Snapshot), ("b", Snapshot), ("c", Snapshot)]
    );
    for e in &out.events {
        assert_eq!(e.poll_seq, 1);
        assert_eq!(e.org_key, "org");
        assert_eq!(e.detected_at_ms, T0);
        assert!(e.before.is_none());
        let after = e.after.as_ref().expect("snapshot has after");
        assert_eq!(after.inactive, e.user_key == "b");
        assert_eq!((after.first_seen_ms, after.last_changed_ms), (T0, T0));
        assert_eq!(
            e.email.as_deref(),
            Some(&*format!("{}@example.com", e.user_key))
        );
    }
    assert_eq!(member_writes(&out).len(), 3);
    assert_eq!(
        *checkpoint(&out),
        Checkpoint {
            org_key: "org".into(),
            poll_seq: 1,
            last_poll_ms: T0,
            member_count: 3,
            incarnation: Some(org.fresh_incarnation()),
        }
    );
}

#[test]
fn first_poll_of_an_empty_org_writes_only_the_checkpoint() {
    let out = run(&OrgState::new("org"), vec![], T0);
    assert_eq!(out.verdict, GuardVerdict::Proceed);
    assert!(out.events.is_empty());
    assert_eq!(out.state_writes.len(), 1);
    assert_eq!(checkpoint(&out).member_count, 0);
}

#[test]
fn joined() {
    let org = known(vec![member("a")], T0);
    let out = run(&org, vec![member("b"), member("a")], T0 + 1000);
    assert_eq!(types(&out), [("b", EventType::Joined)]);
    let e = &out.events[0];
    assert!(e.before.is_none());
    let after = e.after.as_ref().expect("after");
    assert_eq!(after.member, member("b"));
    assert!(!after.inactive);
    assert_eq!(
        (after.first_seen_ms, after.last_changed_ms),
        (T0 + 1000, T0 + 1000)
    );
    assert_eq!(member_writes(&out), [("b", Some(after))]);
    let c = checkpoint(&out);
    assert_eq!(
        (c.poll_seq, c.member_count, c.last_poll_ms),
        (2, 2, T0 + 1000)
    );
}

#[test]
fn joining_already_inactive_is_joined_with_inactive_and_nothing_else() {
    let org = known(vec![member("a")], T0);
    let mut late = member("b");
    late.last_seen_ms = Some(T0 - 90 * DAY);
    let out = run(&org, vec![member("a"), late], T0);
    assert_eq!(types(&out), [("b", EventType::Joined)]);
    assert!(out.events[0].after.as_ref().is_some_and(|a| a.inactive));
}

#[test]
fn left_carries_before_and_writes_a_tombstone() {
    let org = known(vec![member("a"), member("b")], T0);
    let out = run(&org, vec![member("a")], T0 + 5);
    assert_eq!(out.verdict, GuardVerdict::Proceed);
    assert_eq!(types(&out), [("b", EventType::Left)]);
    let e = &out.events[0];
    assert_eq!(e.before, org.get("b"));
    assert!(e.after.is_none());
    assert_eq!(e.email.as_deref(), Some("b@example.com"));
    assert_eq!(member_writes(&out), [("b", None)]);
    assert_eq!(checkpoint(&out).member_count, 1);
}

#[test]
fn admin_changed_both_ways() {
    let mut admin = member("a");
    admin.is_org_admin = Some(true);
    let org = known(vec![member("a")], T0);
    let out = run(&org, vec![admin.clone()], T0);
    assert_eq!(types(&out), [("a", EventType::AdminChanged)]);
    let e = &out.events[0];
    assert_eq!(
        e.before.as_ref().and_then(|b| b.member.is_org_admin),
        Some(false)
    );
    assert_eq!(
        e.after.as_ref().and_then(|a| a.member.is_org_admin),
        Some(true)
    );

    let org = known(vec![admin], T0);
    let out = run(&org, vec![member("a")], T0);
    assert_eq!(types(&out), [("a", EventType::AdminChanged)]);
}

#[test]
fn unknown_admin_flag_keeps_the_known_value() {
    let mut admin = member("a");
    admin.is_org_admin = Some(true);
    let org = known(vec![admin.clone()], T0);
    let mut unknown = admin.clone();
    unknown.is_org_admin = None;
    // Not a revocation: no event, no write.
    let out = run(&org, vec![unknown.clone()], T0);
    assert!(out.events.is_empty(), "{:?}", types(&out));
    assert!(member_writes(&out).is_empty());
    // When another change writes the member, the known value is what is stored.
    unknown.email = Some("new@example.com".into());
    let out = run(&org, vec![unknown], T0);
    assert_eq!(types(&out), [("a", EventType::ProfileChanged)]);
    let after = out.events[0].after.as_ref().expect("after");
    assert_eq!(after.member.is_org_admin, Some(true));
}

#[test]
fn admin_flag_learned_after_being_unknown_is_a_change() {
    let mut m = member("a");
    m.is_org_admin = None;
    let org = known(vec![m.clone()], T0);
    m.is_org_admin = Some(false);
    let out = run(&org, vec![m], T0);
    assert_eq!(types(&out), [("a", EventType::AdminChanged)]);
    let e = &out.events[0];
    assert_eq!(e.before.as_ref().map(|b| b.member.is_org_admin), Some(None));
    assert_eq!(
        e.after.as_ref().map(|a| a.member.is_org_admin),
        Some(Some(false))
    );
}

#[test]
fn profile_changed_for_each_profile_field() {
    let org = known(vec![member("a")], T0);
    let edits: [fn(&mut Member); 6] = [
        |m| m.email = Some("other@example.com".into()),
        |m| m.email = None,
        |m| m.display_name = Some("Someone".into()),
        |m| m.first_name = None,
        |m| m.last_name = Some("Other".into()),
        |m| m.image = Some("https://img.example.com/new.png".into()),
    ];
    for edit in edits {
        let mut m = member("a");
        edit(&mut m);
        let out = run(&org, vec![m.clone()], T0 + 7);
        assert_eq!(types(&out), [("a", EventType::ProfileChanged)], "{m:?}");
        let e = &out.events[0];
        assert_eq!(e.email, m.email.clone());
        assert_eq!(e.before, org.get("a"));
        let after = e.after.as_ref().expect("after");
        assert_eq!(after.member, m);
        assert_eq!((after.first_seen_ms, after.last_changed_ms), (T0, T0 + 7));
        assert_eq!(member_writes(&out), [("a", Some(after))]);
    }
}

#[test]
fn last_seen_moving_forward_is_neither_event_nor_write() {
    let org = known(vec![member("a")], T0);
    let mut m = member("a");
    m.last_seen_ms = Some(T0 + 3 * DAY);
    let out = run(&org, vec![m], T0 + 3 * DAY);
    assert!(out.events.is_empty());
    assert_eq!(out.state_writes.len(), 1, "only the checkpoint");
    assert_eq!(checkpoint(&out).poll_seq, 2);
}

#[test]
fn went_inactive_by_the_clock_alone_exactly_after_the_threshold() {
    // last seen T0 - 1 day; inactive once now - last_seen > 30 days.
    let org = known(vec![member("a")], T0);
    let edge = T0 - DAY + DEFAULT_INACTIVE_AFTER_MS;
    assert!(run(&org, vec![member("a")], edge).events.is_empty());
    let out = run(&org, vec![member("a")], edge + 1);
    assert_eq!(types(&out), [("a", EventType::WentInactive)]);
    let e = &out.events[0];
    assert_eq!(e.before.as_ref().map(|b| b.inactive), Some(false));
    assert_eq!(e.after.as_ref().map(|a| a.inactive), Some(true));
}

#[test]
fn reactivated_when_activity_is_fresh_again() {
    let mut stale = member("a");
    stale.last_seen_ms = Some(T0 - 40 * DAY);
    let org = known(vec![stale], T0);
    assert_eq!(org.inactive_count(), 1);
    let out = run(&org, vec![member("a")], T0);
    assert_eq!(types(&out), [("a", EventType::Reactivated)]);
    assert_eq!(
        out.events[0].after.as_ref().map(|a| a.inactive),
        Some(false)
    );
}

#[test]
fn no_last_seen_falls_back_to_creation_and_neither_is_never_inactive() {
    let mut by_creation = member("a");
    by_creation.last_seen_ms = None;
    by_creation.creation_ms = Some(T0 - DAY);
    let mut timeless = member("b");
    timeless.last_seen_ms = None;
    timeless.creation_ms = None;
    let org = known(vec![by_creation.clone(), timeless.clone()], T0);
    let later = T0 + 10 * DEFAULT_INACTIVE_AFTER_MS;
    let out = run(&org, vec![by_creation, timeless], later);
    assert_eq!(types(&out), [("a", EventType::WentInactive)]);
    // Null timestamps survive the round trip through the state.
    let b = org.get("b").expect("b");
    assert_eq!(
        (b.member.last_seen_ms, b.member.creation_ms, b.inactive),
        (None, None, false)
    );
}

#[test]
fn timestamps_normalized_from_seconds_are_plain_milliseconds() {
    // The client scaled a seconds value (1.7e9 s) to ms; the engine must not
    // rescale or guess: the 30-day edge falls on the exact millisecond.
    let seconds: i64 = 1_700_000_000;
    let mut m = member("a");
    m.last_seen_ms = Some(seconds * 1000);
    m.creation_ms = Some((seconds - 86_400) * 1000);
    assert!(!is_inactive(
        &m,
        seconds * 1000 + DEFAULT_INACTIVE_AFTER_MS,
        DEFAULT_INACTIVE_AFTER_MS
    ));
    assert!(is_inactive(
        &m,
        seconds * 1000 + DEFAULT_INACTIVE_AFTER_MS + 1,
        DEFAULT_INACTIVE_AFTER_MS
    ));
    // A future last-seen (clock skew) is active, and no overflow at the extremes.
    m.last_seen_ms = Some(i64::MAX);
    assert!(!is_inactive(&m, i64::MIN, DEFAULT_INACTIVE_AFTER_MS));
    m.last_seen_ms = Some(i64::MIN);
    assert!(is_inactive(&m, i64::MAX, DEFAULT_INACTIVE_AFTER_MS));
}

#[test]
fn several_changes_of_one_member_share_before_and_after_in_type_order() {
    let org = known(vec![member("a")], T0);
    let mut m = member("a");
    m.is_org_admin = Some(true);
    m.display_name = Some("Renamed".into());
    m.last_seen_ms = Some(T0 - 60 * DAY);
    let out = run(&org, vec![m.clone()], T0 + 1);
    use EventType::*;
    assert_eq!(
        types(&out),
        [
            ("a", AdminChanged),
            ("a", ProfileChanged),
            ("a", WentInactive)
        ]
    );
    for e in &out.events {
        assert_eq!(e.before, org.get("a"));
        assert_eq!(e.after, out.events[0].after);
    }
    let after = out.events[0].after.as_ref().expect("after");
    assert_eq!(after.member, m);
    assert!(after.inactive);
    // One write per member, not per event.
    assert_eq!(member_writes(&out), [("a", Some(after))]);
}

#[test]
fn events_come_by_member_key_whatever_the_listing_order() {
    let org = known(vec![member("b"), member("d"), member("e")], T0);
    let mut d = member("d");
    d.email = None;
    let listing1 = vec![member("e"), member("c"), d.clone(), member("a")];
    let listing2 = vec![member("a"), d, member("c"), member("e")];
    let out1 = run(&org, listing1, T0);
    let out2 = run(&org, listing2, T0);
    use EventType::*;
    assert_eq!(
        types(&out1),
        [
            ("a", Joined),
            ("b", Left),
            ("c", Joined),
            ("d", ProfileChanged)
        ]
    );
    assert_eq!(out1, out2);
    let write_keys: Vec<_> = member_writes(&out1).iter().map(|w| w.0).collect();
    assert_eq!(write_keys, ["a", "b", "c", "d"]);
}

#[test]
fn event_ids_are_deterministic_and_unique() {
    let org = known(vec![member("a")], T0);
    let mut m = member("a");
    m.is_org_admin = Some(true);
    m.image = None;
    let out = run(&org, vec![m.clone(), member("b")], T0);
    let again = run(&org, vec![member("b"), m], T0);
    assert_eq!(out, again);
    for e in &out.events {
        let incarnation = org.checkpoint().and_then(|c| c.incarnation);
        assert!(incarnation.is_some());
        let id = event_id("org", &e.user_key, e.event_type, 2, incarnation);
        assert_eq!(e.event_id, id);
    }
    let mut ids: Vec<_> = out.events.iter().map(|e| e.event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[test]
fn applied_outcome_then_same_listing_yields_nothing() {
    let org0 = known(vec![member("a"), member("b")], T0);
    let mut c = member("c");
    c.last_seen_ms = None;
    let mut b = member("b");
    b.is_org_admin = Some(true);
    let fresh = vec![c, b];
    let out = run(&org0, fresh.clone(), T0 + DAY);
    let mut org = org0.clone();
    org.apply(&out);
    assert_eq!(org.len(), 2);
    assert_eq!(org.admin_count(), 1);
    assert_eq!(org.checkpoint(), Some(checkpoint(&out)));
    let b_state = org.get("b").expect("b");
    assert_eq!(
        (b_state.first_seen_ms, b_state.last_changed_ms),
        (T0, T0 + DAY)
    );
    let again = run(&org, fresh, T0 + DAY);
    assert!(again.events.is_empty());
    assert_eq!(again.state_writes.len(), 1);
}

#[test]
fn duplicate_keys_in_a_listing_keep_the_first_and_emit_once() {
    let org = known(vec![member("a")], T0);
    let mut a2 = member("a");
    a2.email = Some("dup@example.com".into());
    let mut n2 = member("n");
    n2.email = Some("dup@example.com".into());
    let out = run(&org, vec![member("n"), member("a"), a2, n2], T0);
    assert_eq!(types(&out), [("n", EventType::Joined)]);
    assert_eq!(out.events[0].email.as_deref(), Some("n@example.com"));
}

#[test]
fn stray_member_records_without_checkpoint_are_tombstoned_silently() {
    // A state restored with member records but no checkpoint (never written that
    // way by the connector): the poll is still a snapshot.
    let mut org = OrgState::new("org");
    for k in ["a", "z"] {
        org.insert(MemberState {
            member: member(k),
            inactive: false,
            first_seen_ms: T0 - 5,
            last_changed_ms: T0 - 5,
        });
    }
    let out = run(&org, vec![member("a"), member("b")], T0);
    use EventType::Snapshot;
    assert_eq!(types(&out), [("a", Snapshot), ("b", Snapshot)]);
    assert_eq!(
        out.events[0].after.as_ref().map(|s| s.first_seen_ms),
        Some(T0 - 5)
    );
    let writes = member_writes(&out);
    assert_eq!(writes.len(), 3);
    assert_eq!(writes[2], ("z", None));
    assert_eq!(checkpoint(&out).member_count, 2);
}
