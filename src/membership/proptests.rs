//! Property tests of [`super::diff`] against a deliberately naive model: a
//! `BTreeMap` of members and the event table read literally.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

type Model = BTreeMap<String, MemberState>;

const NOW0: i64 = 1_000_000_000;
const AFTER: i64 = 1000;

/// Members drawn from small domains, so that polls collide, change and repeat.
fn arb_member(key: String) -> impl Strategy<Value = Member> {
    let text = |a: &'static str, b: &'static str| {
        prop_oneof![
            Just(None),
            Just(Some(a.to_owned())),
            Just(Some(b.to_owned()))
        ]
    };
    let ts = || proptest::option::of(NOW0 - 3 * AFTER..NOW0 + 3 * AFTER);
    (
        (text("a@x.io", "b@x.io"), text("Ann", "Bob"), text("A", "B")),
        (text("Lee", "Ng"), text("https://i/1", "https://i/2")),
        proptest::option::of(any::<bool>()),
        ts(),
        ts(),
    )
        .prop_map(
            move |((email, display_name, first_name), (last_name, image), admin, seen, created)| {
                Member {
                    key: key.clone(),
                    email,
                    display_name,
                    first_name,
                    last_name,
                    image,
                    is_org_admin: admin,
                    last_seen_ms: seen,
                    creation_ms: created,
                }
            },
        )
}

/// A listing over a universe of 12 keys (including a non-ASCII one), unique keys,
/// in a random order.
fn arb_listing() -> impl Strategy<Value = Vec<Member>> {
    let universe: Vec<String> = (0..11)
        .map(|i| format!("user{i}"))
        .chain(["üser".to_owned()])
        .collect();
    proptest::sample::subsequence(universe, 0..=12)
        .prop_flat_map(|keys| keys.into_iter().map(arb_member).collect::<Vec<_>>())
        .prop_shuffle()
}

fn arb_settings() -> impl Strategy<Value = Settings> {
    (0usize..6, prop_oneof![Just(0.2), Just(0.5), Just(1.0)]).prop_map(|(min, frac)| Settings {
        inactive_after_ms: AFTER,
        min_departures: min,
        max_departure_fraction: frac,
    })
}

fn model_inactive(m: &Member, now: i64) -> bool {
    match m.last_seen_ms.or(m.creation_ms) {
        Some(t) => now - t > AFTER,
        None => false,
    }
}

fn profile(m: &Member) -> [&Option<String>; 5] {
    [
        &m.email,
        &m.display_name,
        &m.first_name,
        &m.last_name,
        &m.image,
    ]
}

/// The event table, literally. `None` when the guard holds.
fn model_diff(
    old: &Model,
    first_poll: bool,
    listing: &[Member],
    complete: bool,
    now: i64,
    s: &Settings,
) -> Option<(Vec<(String, EventType)>, Model)> {
    let listed: BTreeMap<&str, &Member> = listing.iter().map(|m| (m.key.as_str(), m)).collect();
    let gone: Vec<&String> = old
        .keys()
        .filter(|k| !listed.contains_key(k.as_str()))
        .collect();
    let departures = if complete { gone.len() } else { 0 };
    let held = (!old.is_empty() && listing.is_empty())
        || (departures >= s.min_departures
            && departures as f64 > s.max_departure_fraction * old.len() as f64);
    if held {
        return None;
    }
    let mut events = Vec::new();
    let mut new = old.clone();
    for (&key, &m) in &listed {
        let inactive = model_inactive(m, now);
        let fresh = |first_seen_ms, admin| MemberState {
            member: Member {
                is_org_admin: admin,
                ..m.clone()
            },
            inactive,
            first_seen_ms,
            last_changed_ms: now,
        };
        match old.get(key) {
            None => {
                let t = if first_poll {
                    EventType::Snapshot
                } else {
                    EventType::Joined
                };
                events.push((key.to_owned(), t));
                new.insert(key.to_owned(), fresh(now, m.is_org_admin));
            }
            Some(o) => {
                let admin = m.is_org_admin.or(o.member.is_org_admin);
                let mut types = Vec::new();
                if admin != o.member.is_org_admin {
                    types.push(EventType::AdminChanged);
                }
                if profile(m) != profile(&o.member) {
                    types.push(EventType::ProfileChanged);
                }
                if !o.inactive && inactive {
                    types.push(EventType::WentInactive);
                }
                if o.inactive && !inactive {
                    types.push(EventType::Reactivated);
                }
                if !types.is_empty() {
                    new.insert(key.to_owned(), fresh(o.first_seen_ms, admin));
                }
                events.extend(types.into_iter().map(|t| (key.to_owned(), t)));
            }
        }
    }
    if complete {
        for k in gone {
            events.push((k.clone(), EventType::Left));
            new.remove(k);
        }
    }
    events.sort();
    Some((events, new))
}

/// Apply events one by one, Debezium-style: `after` replaces, LEFT removes.
fn apply_events(old: &Model, events: &[ChangeEvent]) -> Model {
    let mut m = old.clone();
    for e in events {
        match &e.after {
            Some(after) => {
                m.insert(e.user_key.clone(), after.clone());
            }
            None => {
                m.remove(&e.user_key);
            }
        }
    }
    m
}

fn to_model(org: &OrgState) -> Model {
    org.iter().map(|s| (s.member.key.clone(), s)).collect()
}

/// An organization after a snapshot of `first` at NOW0 and a poll of `second`.
fn history(first: Vec<Member>, second: Option<Vec<Member>>) -> OrgState {
    let mut org = OrgState::new("org");
    let s = Settings {
        inactive_after_ms: AFTER,
        ..Settings::default()
    };
    org.apply(&diff(
        &org,
        &Listing {
            members: first,
            complete: true,
        },
        NOW0,
        &s,
        None,
    ));
    if let Some(second) = second {
        let out = diff(
            &org,
            &Listing {
                members: second,
                complete: true,
            },
            NOW0 + 500,
            &s,
            None,
        );
        org.apply(&out);
    }
    org
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn diff_matches_the_model(
        first in arb_listing(),
        second in proptest::option::of(arb_listing()),
        fresh in arb_listing(),
        complete in prop::bool::weighted(0.8),
        snapshot in prop::bool::weighted(0.1),
        dt in 0i64..3 * AFTER,
        settings in arb_settings(),
    ) {
        let org = if snapshot { OrgState::new("org") } else { history(first, second) };
        let now = NOW0 + 1000 + dt;
        let listing = Listing { members: fresh.clone(), complete };
        let out = diff(&org, &listing, now, &settings, None);
        let old = to_model(&org);
        let expected = model_diff(&old, snapshot, &fresh, complete, now, &settings);

        let Some((expected_events, expected_new)) = expected else {
            prop_assert!(out.verdict.is_held());
            prop_assert!(out.events.is_empty() && out.state_writes.is_empty());
            return Ok(());
        };
        prop_assert_eq!(&out.verdict, &GuardVerdict::Proceed);
        let got: Vec<(String, EventType)> =
            out.events.iter().map(|e| (e.user_key.clone(), e.event_type)).collect();
        prop_assert_eq!(&got, &expected_events, "events in (key, type) order");

        for e in &out.events {
            let expected_before = match e.event_type {
                EventType::Snapshot | EventType::Joined => None,
                _ => old.get(&e.user_key).cloned(),
            };
            prop_assert_eq!(&e.before, &expected_before);
            prop_assert_eq!(&e.after, &expected_new.get(&e.user_key).cloned());
            prop_assert_eq!(e.poll_seq, org.checkpoint().map_or(1, |c| c.poll_seq + 1));
        }
        // Applying the events to the old state gives the new state...
        prop_assert_eq!(&apply_events(&old, &out.events), &expected_new);
        // ...and so does applying the state writes (what a restore rebuilds).
        let mut after = org.clone();
        after.apply(&out);
        prop_assert_eq!(&to_model(&after), &expected_new);
        prop_assert_eq!(after.checkpoint().map(|c| c.member_count), Some(expected_new.len() as u64));
        prop_assert_eq!(
            after.admin_count(),
            expected_new.values().filter(|s| s.member.is_org_admin == Some(true)).count()
        );
        prop_assert_eq!(after.inactive_count(), expected_new.values().filter(|s| s.inactive).count());
        // The compact changes the cycle commits say the same, and move the state
        // the same way.
        let changes = diff_changes(&org, &listing, now, &settings, None);
        prop_assert_eq!(changes.event_count(), out.events.len());
        let counts: u64 = changes.event_counts().iter().map(|(_, n)| n).sum();
        prop_assert_eq!(counts, out.events.len() as u64);
        let mut compact = org.clone();
        compact.apply_changes(changes);
        prop_assert_eq!(&to_model(&compact), &expected_new);
        prop_assert_eq!(compact.checkpoint(), after.checkpoint());
        prop_assert_eq!(
            (compact.admin_count(), compact.inactive_count()),
            (after.admin_count(), after.inactive_count())
        );
        // Writes: exactly the members with events, then the checkpoint.
        let written: BTreeSet<&str> = out.state_writes.iter().filter_map(|w| match w {
            StateRecord::Member { user_key, .. } => Some(user_key.as_str()),
            StateRecord::Checkpoint(_) => None,
        }).collect();
        let with_events: BTreeSet<&str> = out.events.iter().map(|e| e.user_key.as_str()).collect();
        prop_assert_eq!(written, with_events);
        prop_assert!(matches!(out.state_writes.last(), Some(StateRecord::Checkpoint(_))));

        // The listing diffed against the state it produced, at the same now: nothing.
        let again = diff(&after, &listing, now, &settings, None);
        prop_assert!(again.events.is_empty(), "{:?}", again.events);
        prop_assert_eq!(again.state_writes.len(), 1);
    }

    /// Leaving members out of the compact changes (as the record-size check does)
    /// drops exactly their events and state records, and their state stays.
    #[test]
    fn members_left_out_of_the_changes_keep_their_state(
        first in arb_listing(),
        fresh in arb_listing(),
        keep in proptest::collection::vec(any::<bool>(), 13),
        snapshot in prop::bool::weighted(0.2),
    ) {
        let settings = Settings { inactive_after_ms: AFTER, ..Settings::default() };
        let org = if snapshot { OrgState::new("org") } else { history(first, None) };
        let now = NOW0 + 2 * AFTER;
        let listing = Listing { members: fresh, complete: true };
        let mut changes = diff_changes(&org, &listing, now, &settings, None);
        let kept: BTreeSet<String> = (0..changes.len())
            .filter(|&i| keep[i % keep.len()])
            .map(|i| changes.user_key(i, &org).to_owned())
            .collect();
        changes.retain(|i| keep[i % keep.len()]);
        let mut again = diff_changes(&org, &listing, now, &settings, None);
        again.retain(|i| keep[i % keep.len()]);
        let full = diff(&org, &listing, now, &settings, None);
        let out = again.into_outcome(&org);
        let expected: Vec<&ChangeEvent> =
            full.events.iter().filter(|e| kept.contains(&e.user_key)).collect();
        prop_assert_eq!(out.events.iter().collect::<Vec<_>>(), expected);
        prop_assert_eq!(out.state_writes.last(), full.state_writes.last(), "the checkpoint stays");
        let mut compact = org.clone();
        compact.apply_changes(changes);
        let mut applied = org.clone();
        applied.apply(&out);
        prop_assert_eq!(to_model(&compact), to_model(&applied));
        for s in org.iter().chain(listing.members.iter().map(|m| MemberState {
            member: m.clone(), inactive: false, first_seen_ms: 0, last_changed_ms: 0,
        })) {
            let key = &s.member.key;
            if !kept.contains(key) {
                prop_assert_eq!(compact.get(key), org.get(key), "{} left out", key);
            }
        }
    }

    #[test]
    fn listing_order_and_reruns_do_not_change_the_outcome(
        first in arb_listing(),
        (fresh, permuted) in arb_listing()
            .prop_flat_map(|l| (Just(l.clone()), Just(l).prop_shuffle())),
        complete in any::<bool>(),
        snapshot in prop::bool::weighted(0.2),
        settings in arb_settings(),
    ) {
        let org = if snapshot { OrgState::new("org") } else { history(first, None) };
        let now = NOW0 + 2 * AFTER;
        let listing = Listing { members: fresh.clone(), complete };
        let out = diff(&org, &listing, now, &settings, None);
        // Rerun: identical, ids included.
        prop_assert_eq!(&out, &diff(&org, &listing, now, &settings, None));
        // Any other order of the same listing.
        let permuted = Listing { members: permuted, complete };
        prop_assert_eq!(&out, &diff(&org, &permuted, now, &settings, None));
        // Ids unique within the poll.
        let ids: BTreeSet<_> = out.events.iter().map(|e| e.event_id).collect();
        prop_assert_eq!(ids.len(), out.events.len());
    }
}
