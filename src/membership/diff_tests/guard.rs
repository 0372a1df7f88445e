//! The departure guard, the empty- and incomplete-listing rules and the release,
//! through [`super::diff`].

use super::*;
use crate::membership::guard::{HoldReason, ReleaseRefused};

fn departures_outcome(
    known_n: usize,
    leaving: usize,
    release: Option<&GuardRelease>,
) -> (OrgState, PollOutcome) {
    let all = keys(known_n);
    let org = known(all.iter().map(|k| member(k)).collect(), T0);
    let staying = all[leaving..].iter().map(|k| member(k)).collect();
    let out = diff(
        &org,
        &listing(staying),
        T0 + 1,
        &Settings::default(),
        release,
    );
    (org, out)
}

#[test]
fn guard_edge_nine_versus_ten_departures() {
    let (_, out) = departures_outcome(20, 9, None);
    assert_eq!(out.verdict, GuardVerdict::Proceed);
    assert_eq!(out.events.len(), 9);
    let (_, out) = departures_outcome(20, 10, None);
    assert_eq!(
        out.verdict,
        GuardVerdict::Held {
            departures: 10,
            known: 20,
            reason: HoldReason::TooManyDepartures,
            release_refused: None
        }
    );
    assert!(out.events.is_empty());
    assert!(out.state_writes.is_empty(), "held: not even the checkpoint");
}

#[test]
fn guard_edge_twenty_versus_twenty_one_percent() {
    let (_, out) = departures_outcome(100, 20, None);
    assert_eq!(out.verdict, GuardVerdict::Proceed);
    assert_eq!(out.events.len(), 20);
    assert_eq!(checkpoint(&out).member_count, 80);
    let (_, out) = departures_outcome(100, 21, None);
    assert!(out.verdict.is_held());
    assert!(out.events.is_empty() && out.state_writes.is_empty());
}

#[test]
fn held_poll_leaves_state_and_sequence_untouched() {
    let (mut org, out) = departures_outcome(30, 15, None);
    let before = org.clone();
    org.apply(&out);
    assert_eq!(org, before);
    // The next, healthy poll still gets sequence 2.
    let all: Vec<Member> = keys(30).iter().map(|k| member(k)).collect();
    let out = run(&org, all, T0 + 2);
    assert_eq!(checkpoint(&out).poll_seq, 2);
}

#[test]
fn empty_listing_is_held_even_for_one_member() {
    let org = known(vec![member("a")], T0);
    let out = run(&org, vec![], T0 + 1);
    assert_eq!(
        out.verdict,
        GuardVerdict::Held {
            departures: 1,
            known: 1,
            reason: HoldReason::EmptyListing,
            release_refused: None
        }
    );
    assert!(out.events.is_empty() && out.state_writes.is_empty());
    // An empty, incomplete listing (every entry unreadable) is held too.
    let out = diff(
        &org,
        &Listing {
            members: vec![],
            complete: false,
        },
        T0 + 1,
        &Settings::default(),
        None,
    );
    assert!(matches!(
        out.verdict,
        GuardVerdict::Held {
            departures: 0,
            known: 1,
            reason: HoldReason::EmptyListing,
            ..
        }
    ));
}

#[test]
fn incomplete_listing_emits_everything_but_left() {
    let org = known(vec![member("a"), member("b"), member("c")], T0);
    let mut a = member("a");
    a.first_name = Some("Changed".into());
    let partial = Listing {
        members: vec![a, member("d")],
        complete: false,
    };
    let out = diff(&org, &partial, T0 + 1, &Settings::default(), None);
    assert_eq!(out.verdict, GuardVerdict::Proceed);
    assert_eq!(
        types(&out),
        [("a", EventType::ProfileChanged), ("d", EventType::Joined)]
    );
    // b and c are kept: 3 known + 1 joined.
    assert_eq!(checkpoint(&out).member_count, 4);
}

#[test]
fn release_with_the_matching_count_lets_exactly_that_poll_through() {
    let release = GuardRelease {
        org_key: "org".into(),
        expected_departures: 12,
    };
    let (mut org, out) = departures_outcome(40, 12, Some(&release));
    assert_eq!(
        out.verdict,
        GuardVerdict::Released {
            departures: 12,
            known: 40
        }
    );
    assert_eq!(out.events.len(), 12);
    assert!(out.events.iter().all(|e| e.event_type == EventType::Left));
    org.apply(&out);
    assert_eq!(org.len(), 28);

    let (_, out) = departures_outcome(40, 13, Some(&release));
    assert_eq!(
        out.verdict,
        GuardVerdict::Held {
            departures: 13,
            known: 40,
            reason: HoldReason::TooManyDepartures,
            release_refused: Some(ReleaseRefused::DepartureCountMismatch {
                expected_departures: 12
            }),
        }
    );
    assert!(out.events.is_empty() && out.state_writes.is_empty());
}

#[test]
fn release_for_another_organization_does_not_apply() {
    let release = GuardRelease {
        org_key: "other".into(),
        expected_departures: 12,
    };
    let (_, out) = departures_outcome(40, 12, Some(&release));
    assert!(matches!(
        out.verdict,
        GuardVerdict::Held {
            release_refused: Some(ReleaseRefused::OtherOrganization { .. }),
            ..
        }
    ));
}
