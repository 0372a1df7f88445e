use super::*;

fn set(keys: &[&str]) -> Concerned {
    Concerned::of(
        keys.iter()
            .map(|k| (k.to_string(), Some(format!("{k}@x.test")))),
    )
}

#[test]
fn a_release_is_bound_to_its_hold_and_discarded_by_a_poll_not_held() {
    let h = Holds::default();
    let leaving = set(&["u1", "u2", "u3"]);
    assert_eq!(
        h.decide("org", 3, Decision::Release),
        Err(DecisionRefused::NotHeld("org".into())),
        "no release for an organization that is not held"
    );
    let d = HoldKind::Departures;
    assert_eq!(
        h.held("org", d, 7, 10, "r", &leaving),
        HoldOutcome::Held { new: true }
    );
    assert_eq!(
        h.held("org", d, 7, 10, "r", &leaving),
        HoldOutcome::Held { new: false }
    );
    let view = h.view();
    assert_eq!(view.len(), 1);
    assert_eq!(view[0].members, vec!["u1@x.test", "u2@x.test", "u3@x.test"]);
    assert_eq!((view[0].poll_seq, view[0].count), (7, 3));
    assert!(matches!(
        h.decide("org", 2, Decision::Release),
        Err(DecisionRefused::CountMismatch { actual: 3, .. })
    ));
    assert!(h.decide("org", 3, Decision::Release).is_ok());
    // The same count over another set of members: a new hold, the release void.
    let others = set(&["u1", "u2", "u4"]);
    assert_eq!(
        h.held("org", d, 7, 10, "r", &others),
        HoldOutcome::Held { new: true }
    );
    assert_eq!(h.view()[0].decision, None);
    assert!(h.decide("org", 3, Decision::Release).is_ok());
    assert_eq!(h.held("org", d, 7, 10, "r", &others), HoldOutcome::Released);
    // A poll that is not held discards the hold and its release for good.
    assert!(h.not_held("org").is_some());
    assert_eq!(
        h.held("org", d, 7, 10, "r", &others),
        HoldOutcome::Held { new: true }
    );
}

#[test]
fn a_rejection_stands_until_the_set_changes() {
    let h = Holds::default();
    let k = HoldKind::Inactivity;
    let s = set(&["a", "b"]);
    h.held("org", k, 3, 4, "mass_inactivity", &s);
    assert!(h.decide("org", 2, Decision::Reject).is_ok());
    assert_eq!(
        h.held("org", k, 3, 4, "mass_inactivity", &s),
        HoldOutcome::Rejected
    );
    assert_eq!(
        h.held("org", k, 3, 4, "mass_inactivity", &set(&["a", "b", "c"])),
        HoldOutcome::Held { new: true }
    );
}

#[test]
fn the_digest_is_of_the_exact_set() {
    assert_eq!(set(&["a", "b"]).digest(), set(&["b", "a"]).digest());
    assert_ne!(set(&["a", "b"]).digest(), set(&["a", "c"]).digest());
    assert!(InactivityLimits::default().trips(10, 40));
    assert!(!InactivityLimits::default().trips(9, 10));
    assert!(!InactivityLimits::default().trips(10, 50));
}
