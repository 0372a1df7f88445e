//! Property tests of the pool: whatever sequence of rejections, additions, removals
//! and check results, at most one key is active, a rejected key is never active, and
//! the pool says "all rejected" exactly when it has no healthy key.

use proptest::prelude::*;

use super::pool::{KeyPool, KeyState, PoolSettings, RejectOutcome};

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    Remove(u8),
    Reject(u8),
    CheckOk(u8),
    Inconclusive(u8),
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..6;
    prop_oneof![
        2 => key.clone().prop_map(Op::Add),
        1 => key.clone().prop_map(Op::Remove),
        3 => key.clone().prop_map(Op::Reject),
        2 => key.clone().prop_map(Op::CheckOk),
        1 => key.prop_map(Op::Inconclusive),
        1 => (1u16..5000).prop_map(Op::Tick),
    ]
}

fn fp(k: u8) -> String {
    format!("fp{k}")
}

fn check_invariants(p: &KeyPool) -> Result<(), TestCaseError> {
    let keys = p.keys();
    let active: Vec<_> = keys
        .iter()
        .filter(|(_, s)| *s == KeyState::Active)
        .collect();
    prop_assert!(active.len() <= 1, "more than one active key: {keys:?}");
    let healthy = keys.iter().any(|(_, s)| s.is_healthy());
    prop_assert_eq!(p.poll_key().is_err(), !healthy, "{:?}", keys);
    prop_assert_eq!(active.len() == 1, healthy, "{:?}", keys);
    if let Ok(k) = p.poll_key() {
        prop_assert_eq!(p.state(k), Some(KeyState::Active));
    }
    let c = p.counts();
    prop_assert_eq!(c.active + c.standby + c.rejected, p.len());
    Ok(())
}

proptest! {
    #[test]
    fn pool_invariants_hold_for_any_sequence(ops in proptest::collection::vec(op(), 0..80)) {
        let mut p = KeyPool::new("org", PoolSettings { standby_check_every_ms: 1000 });
        let mut now = 0i64;
        // Keys rejected since the last key-set change: they must stay rejected.
        let mut locked: Vec<String> = Vec::new();
        for op in ops {
            match op {
                Op::Add(k) => {
                    if !p.contains(&fp(k)) {
                        locked.clear();
                    }
                    p.add(fp(k), now);
                }
                Op::Remove(k) => {
                    if p.contains(&fp(k)) {
                        locked.clear();
                    }
                    p.remove(&fp(k), now);
                }
                Op::Reject(k) => {
                    let was_active = p.active() == Some(fp(k).as_str());
                    match p.reject(&fp(k)) {
                        RejectOutcome::FailedOver { from, to } => {
                            prop_assert!(was_active);
                            prop_assert_eq!(from, fp(k));
                            prop_assert_ne!(to, fp(k));
                        }
                        RejectOutcome::AllRejected(e) => {
                            prop_assert!(was_active);
                            prop_assert_eq!(e.rejected, p.len());
                        }
                        _ => prop_assert!(!was_active),
                    }
                    if p.contains(&fp(k)) {
                        locked.push(fp(k));
                    }
                }
                Op::CheckOk(k) => {
                    p.check_ok(&fp(k), now);
                }
                Op::Inconclusive(k) => p.check_inconclusive(&fp(k), now),
                Op::Tick(ms) => now += i64::from(ms),
            }
            check_invariants(&p)?;
            for k in &locked {
                prop_assert_eq!(p.state(k), Some(KeyState::Rejected), "{} revived", k);
                prop_assert!(!p.due_checks(i64::MAX).contains(&k.as_str()), "{} retried", k);
            }
        }
    }

    #[test]
    fn rejected_keys_are_checked_at_most_once_per_key_set_change(
        n in 1u8..5, rejects in proptest::collection::vec(0u8..5, 0..20)
    ) {
        let mut p = KeyPool::new("org", PoolSettings { standby_check_every_ms: 1000 });
        for k in 0..n { p.add(fp(k), 0); }
        for k in rejects { p.reject(&fp(k)); }
        // However far the clock moves, a rejected key is never due for a check.
        for (k, s) in p.keys() {
            if s == KeyState::Rejected {
                prop_assert!(!p.due_checks(i64::MAX).contains(&k));
            }
        }
    }
}
