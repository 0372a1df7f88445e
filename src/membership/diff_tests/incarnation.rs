//! Event ids across a recreated state topic: the poll sequence starts again at 1,
//! the incarnation does not repeat, so no event id repeats.

use std::collections::HashSet;

use super::*;

/// Two polls of one organization from empty state (a fresh state topic): the
/// snapshot of `a` and `b`, then `b` leaves and `c` joins. Returns every event id,
/// after checking that a retried poll and a restarted process derive the same ids.
fn two_polls_from_empty_state() -> Vec<uuid::Uuid> {
    let mut org = OrgState::new("org");
    let first = run(&org, vec![member("a"), member("b")], T0);
    // A retried poll (aborted transaction) derives the same ids.
    assert_eq!(first, run(&org, vec![member("a"), member("b")], T0));
    let incarnation = checkpoint(&first).incarnation;
    assert!(
        incarnation.is_some(),
        "the first checkpoint starts an incarnation"
    );
    org.apply(&first);
    // A restart restores the checkpoint, and with it the incarnation.
    let mut restored = OrgState::new("org");
    restored.apply(&first);
    let second = run(&org, vec![member("a"), member("c")], T0 + DAY);
    assert_eq!(
        second,
        run(&restored, vec![member("a"), member("c")], T0 + DAY)
    );
    assert_eq!(checkpoint(&second).poll_seq, 2);
    assert_eq!(checkpoint(&second).incarnation, incarnation);
    assert_eq!(
        types(&second),
        [("b", EventType::Left), ("c", EventType::Joined)]
    );
    first
        .events
        .iter()
        .chain(&second.events)
        .map(|e| e.event_id)
        .collect()
}

#[test]
fn a_recreated_state_topic_repeats_no_event_id() {
    let before = two_polls_from_empty_state();
    // The state topic is deleted and recreated: same polls, same poll sequences.
    let after = two_polls_from_empty_state();
    assert_eq!(before.len(), 4);
    assert_eq!(after.len(), 4);
    let all: HashSet<_> = before.iter().chain(&after).collect();
    assert_eq!(all.len(), 8, "an event id repeated: {before:?} {after:?}");
}

#[test]
fn a_checkpoint_without_incarnation_keeps_the_original_ids() {
    // A checkpoint restored from a record written before incarnations existed.
    let mut org = known(vec![member("a")], T0);
    let mut legacy = org.checkpoint().cloned().expect("checkpoint");
    legacy.incarnation = None;
    org.set_checkpoint(legacy);
    let out = run(&org, vec![member("a"), member("b")], T0 + DAY);
    assert_eq!(checkpoint(&out).incarnation, None);
    let joined = &out.events[0];
    assert_eq!(joined.event_type, EventType::Joined);
    assert_eq!(
        joined.event_id,
        event_id("org", "b", EventType::Joined, 2, None)
    );
}
