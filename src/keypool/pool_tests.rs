use super::*;

const EVERY: i64 = 1000;

fn pool(keys: &[&str]) -> KeyPool {
    let mut p = KeyPool::new(
        "org-a",
        PoolSettings {
            standby_check_every_ms: EVERY,
        },
    );
    for k in keys {
        p.add(*k, 0);
    }
    p
}

#[test]
fn the_first_key_polls_and_the_others_stand_by() {
    let p = pool(&["a", "b", "c"]);
    assert_eq!(p.poll_key(), Ok("a"));
    assert_eq!(
        p.keys(),
        [
            ("a", KeyState::Active),
            ("b", KeyState::Standby),
            ("c", KeyState::Standby)
        ]
    );
    assert_eq!(
        p.counts(),
        KeyCounts {
            active: 1,
            standby: 2,
            rejected: 0
        }
    );
    let zeros: Vec<_> = pool(&[]).counts().iter().collect();
    assert_eq!(
        zeros,
        [
            (KeyState::Active, 0),
            (KeyState::Standby, 0),
            (KeyState::Rejected, 0)
        ]
    );
}

#[test]
fn pool_order_is_insertion_order_not_fingerprint_order() {
    let mut p = pool(&["zz", "aa", "mm"]);
    assert_eq!(p.active(), Some("zz"));
    assert_eq!(
        p.reject("zz"),
        RejectOutcome::FailedOver {
            from: "zz".into(),
            to: "aa".into()
        }
    );
}

#[test]
fn failover_goes_to_the_next_healthy_standby_and_wraps() {
    let mut p = pool(&["a", "b", "c"]);
    assert_eq!(p.reject("c"), RejectOutcome::StandbyRejected);
    assert_eq!(
        p.reject("a"),
        RejectOutcome::FailedOver {
            from: "a".into(),
            to: "b".into()
        }
    );
    assert_eq!(p.poll_key(), Ok("b"));
    // A key set change lets `a` be checked once more; it comes back as standby.
    p.add("d", 10);
    assert_eq!(p.due_checks(10), ["a", "c"]);
    assert_eq!(p.check_ok("a", 10), CheckOutcome::Standby);
    // `b` fails over past the rejected `c` to `d`; `d` wraps around to `a`.
    assert_eq!(
        p.reject("b"),
        RejectOutcome::FailedOver {
            from: "b".into(),
            to: "d".into()
        }
    );
    assert_eq!(
        p.reject("d"),
        RejectOutcome::FailedOver {
            from: "d".into(),
            to: "a".into()
        }
    );
}

#[test]
fn all_rejected_is_its_own_outcome_and_says_so() {
    let mut p = pool(&["a", "b"]);
    p.reject("a");
    let RejectOutcome::AllRejected(err) = p.reject("b") else {
        panic!("expected all rejected");
    };
    assert_eq!(err.rejected, 2);
    assert!(err.to_string().contains("all 2 API keys"), "{err}");
    assert!(err.to_string().contains("org-a"), "{err}");
    assert_eq!(err.recovery(), Recovery::StopOrganization);
    assert_eq!(err.error_code(), "all_keys_rejected");
    assert_eq!(p.poll_key(), Err(err));
    assert_eq!(p.active(), None);
    let one = pool(&["x"]);
    let mut one = one;
    let RejectOutcome::AllRejected(e) = one.reject("x") else {
        panic!("expected all rejected");
    };
    assert!(e.to_string().contains("only API key"), "{e}");
}

#[test]
fn a_rejected_key_is_never_retried_until_the_key_set_changes() {
    let mut p = pool(&["a", "b"]);
    p.reject("b");
    assert_eq!(p.reject("b"), RejectOutcome::AlreadyRejected);
    assert!(p.due_checks(i64::MAX).is_empty());
    assert_eq!(p.next_check_ms(), None);
    // A stale success does not revive it either.
    assert_eq!(p.check_ok("b", 5), CheckOutcome::StillRejected);
    assert_eq!(p.state("b"), Some(KeyState::Rejected));
    // A key set change allows one check: failed again, it stays rejected for good.
    p.add("c", 100);
    assert_eq!(p.due_checks(100), ["b"]);
    assert_eq!(p.reject("b"), RejectOutcome::StandbyRejected);
    assert!(p.due_checks(i64::MAX).iter().all(|k| *k != "b"));
    assert_eq!(p.check_ok("b", 200), CheckOutcome::StillRejected);
}

#[test]
fn a_new_key_revives_an_all_rejected_pool() {
    let mut p = pool(&["a"]);
    p.reject("a");
    assert_eq!(p.add("b", 50), AddOutcome::Active);
    assert_eq!(p.poll_key(), Ok("b"));
    assert_eq!(p.add("b", 60), AddOutcome::AlreadyPresent);
    // The old key, checked once after the change and found working, stands by.
    assert_eq!(p.check_ok("a", 60), CheckOutcome::Standby);
    let counts = p.counts();
    assert_eq!(counts.active + counts.standby, 2);
}

#[test]
fn a_recheck_of_a_rejected_key_can_make_it_poll_again() {
    let mut p = pool(&["a", "b"]);
    p.reject("a");
    p.reject("b");
    p.remove("b", 10);
    assert_eq!(p.due_checks(10), ["a"]);
    assert_eq!(p.check_ok("a", 10), CheckOutcome::Active);
    assert_eq!(p.poll_key(), Ok("a"));
}

#[test]
fn removing_keys_hands_over_or_empties_the_pool() {
    let mut p = pool(&["a", "b", "c"]);
    assert_eq!(p.remove("zz", 0), RemoveOutcome::Unknown);
    assert_eq!(p.remove("b", 0), RemoveOutcome::Removed);
    assert_eq!(
        p.remove("a", 0),
        RemoveOutcome::HandedOver {
            from: "a".into(),
            to: "c".into()
        }
    );
    assert_eq!(p.remove("c", 0), RemoveOutcome::Empty);
    assert!(p.is_empty());
    assert!(p
        .poll_key()
        .unwrap_err()
        .to_string()
        .contains("no API key left"));
    let mut q = pool(&["a", "b"]);
    q.reject("b");
    assert!(matches!(
        q.remove("a", 0),
        RemoveOutcome::AllRejected(AllKeysRejected { rejected: 1, .. })
    ));
}

#[test]
fn standby_checks_fall_due_now_and_then() {
    let mut p = pool(&["a", "b", "c"]);
    assert_eq!(p.next_check_ms(), Some(EVERY));
    assert!(p.due_checks(EVERY - 1).is_empty());
    assert_eq!(p.due_checks(EVERY), ["b", "c"]);
    assert_eq!(p.check_ok("b", EVERY), CheckOutcome::Standby);
    p.check_inconclusive("c", EVERY + 10);
    assert_eq!(p.due_checks(2 * EVERY), ["b"]);
    assert_eq!(p.next_check_ms(), Some(2 * EVERY));
    // The active key is never "checked": its polls show its health.
    assert!(!p.due_checks(i64::MAX).contains(&"a"));
    p.check_inconclusive("a", 0);
    assert_eq!(p.state("a"), Some(KeyState::Active));
    assert!(!p.due_checks(i64::MAX).contains(&"a"));
    // A failed-over-to standby has no check scheduled any more.
    p.reject("a");
    assert!(!p.due_checks(i64::MAX).contains(&"b"));
}

#[test]
fn unknown_keys_change_nothing() {
    let mut p = pool(&["a"]);
    let before = p.clone();
    assert_eq!(p.reject("zz"), RejectOutcome::Unknown);
    assert_eq!(p.check_ok("zz", 1), CheckOutcome::Unknown);
    p.check_inconclusive("zz", 1);
    assert_eq!(p, before);
    assert_eq!(KeyState::Rejected.to_string(), "rejected");
    assert!(!KeyState::Rejected.is_healthy());
}
