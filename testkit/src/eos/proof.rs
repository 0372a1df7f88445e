//! The proof: the events a read-committed consumer saw, held against the oracle.
//!
//! Checks, every one reported at once:
//! - every `event_id` appears once (none doubled);
//! - each member's events sit in one partition, and read in offset order their
//!   `(event_type, user_key, before, after)` equal the oracle's sequence (none
//!   missing, none extra, in order); `before`/`after` compare without the
//!   connector-clock fields;
//! - each member's history is a chain: an event's `before` is exactly (connector
//!   clock fields included) the previous event's `after`, and `poll_seq` grows.

use std::collections::{BTreeMap, HashMap};

use streak_connector::membership::{ChangeEvent, SourceInfo};

use super::oracle::{Expected, MemberId, Oracle, Seen};

/// One decoded record of the events topic.
#[derive(Debug, Clone)]
pub struct Observed {
    pub partition: i32,
    pub offset: i64,
    pub event: ChangeEvent,
    pub source: SourceInfo,
}

impl Observed {
    pub fn member(&self) -> MemberId {
        (self.event.org_key.clone(), self.event.user_key.clone())
    }

    fn projected(&self) -> Expected {
        Expected {
            event_type: self.event.event_type,
            user_key: self.event.user_key.clone(),
            before: self.event.before.as_ref().map(Seen::from),
            after: self.event.after.as_ref().map(Seen::from),
        }
    }
}

/// What the proof covered, for the report.
#[derive(Debug)]
pub struct Proof {
    pub events: usize,
    pub members: usize,
    /// Distinct `source.instance` values among the events: how many connector
    /// processes contributed committed events.
    pub instances: usize,
}

/// Holds `observed` (read committed, in partition/offset order) against `oracle`.
pub fn prove(observed: &[Observed], oracle: &Oracle) -> Result<Proof, String> {
    let mut problems: Vec<String> = Vec::new();

    let mut ids: HashMap<uuid::Uuid, &Observed> = HashMap::new();
    for o in observed {
        if let Some(first) = ids.insert(o.event.event_id, o) {
            problems.push(format!(
                "DOUBLED event_id {} ({} {}/{} poll {}): at p{}@{} and p{}@{}",
                o.event.event_id,
                o.event.event_type.as_str(),
                o.event.org_key,
                o.event.user_key,
                o.event.poll_seq,
                first.partition,
                first.offset,
                o.partition,
                o.offset
            ));
        }
    }

    let mut by_member: BTreeMap<MemberId, Vec<&Observed>> = BTreeMap::new();
    for o in observed {
        by_member.entry(o.member()).or_default().push(o);
    }
    for list in by_member.values_mut() {
        list.sort_by_key(|o| (o.partition, o.offset));
    }

    let empty = Vec::new();
    let empty_e: Vec<Expected> = Vec::new();
    let members: std::collections::BTreeSet<&MemberId> =
        by_member.keys().chain(oracle.expected().keys()).collect();
    for id in members {
        let got = by_member.get(id).unwrap_or(&empty);
        let want = oracle.expected().get(id).unwrap_or(&empty_e);
        let who = format!("{}/{}", id.0, id.1);
        let partitions: std::collections::BTreeSet<i32> = got.iter().map(|o| o.partition).collect();
        if partitions.len() > 1 {
            problems.push(format!(
                "{who}: events spread over partitions {partitions:?}"
            ));
        }
        let got_p: Vec<Expected> = got.iter().map(|o| o.projected()).collect();
        if got_p != *want {
            let at = got_p
                .iter()
                .zip(want.iter())
                .position(|(g, w)| g != w)
                .unwrap_or(got_p.len().min(want.len()));
            problems.push(format!(
                "{who}: {} events published, {} expected; first difference at #{at}:\n    got  {}\n    want {}\n    got types  {:?}\n    want types {:?}",
                got_p.len(),
                want.len(),
                got_p.get(at).map_or("-".into(), |e| format!("{e:?}")),
                want.get(at).map_or("-".into(), |e| format!("{e:?}")),
                got_p.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
                want.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
            ));
        }
        for pair in got.windows(2) {
            let (prev, next) = (&pair[0].event, &pair[1].event);
            if next.poll_seq <= prev.poll_seq {
                problems.push(format!(
                    "{who}: poll_seq {} then {} (p{}@{})",
                    prev.poll_seq, next.poll_seq, pair[1].partition, pair[1].offset
                ));
            }
            if next.before.is_some() && next.before != prev.after {
                problems.push(format!(
                    "{who}: broken chain at p{}@{}: before {:?} but the previous after was {:?}",
                    pair[1].partition, pair[1].offset, next.before, prev.after
                ));
            }
        }
    }

    if !problems.is_empty() {
        let total = problems.len();
        problems.truncate(40);
        return Err(format!(
            "{total} problem(s) in {} committed events:\n- {}",
            observed.len(),
            problems.join("\n- ")
        ));
    }
    let instances: std::collections::BTreeSet<&str> = observed
        .iter()
        .map(|o| o.source.instance.as_str())
        .collect();
    Ok(Proof {
        events: observed.len(),
        members: by_member.len(),
        instances: instances.len(),
    })
}

/// What a correct, uninterrupted run publishes for `oracle`: for the tests that show
/// [`prove`] fails when it should. Member events go to partition `hash % 3`, in order,
/// each with a fresh id and the next poll sequence; `before` chains to the last `after`.
pub fn synthesize(oracle: &Oracle) -> Vec<Observed> {
    use std::hash::{Hash, Hasher};
    use streak_connector::membership::MemberState;

    let state = |s: &Seen, at: i64| MemberState {
        member: s.member.clone(),
        inactive: s.inactive,
        first_seen_ms: 0,
        last_changed_ms: at,
    };
    let mut next_offset = [0i64; 3];
    let mut out = Vec::new();
    for ((org, user), events) in oracle.expected() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (org, user).hash(&mut h);
        let partition = (h.finish() % 3) as i32;
        for (i, e) in events.iter().enumerate() {
            let seq = i as u64 + 1;
            let after = e.after.as_ref().map(|s| state(s, seq as i64));
            let before = e.before.as_ref().map(|s| state(s, seq as i64 - 1));
            let offset = next_offset[partition as usize];
            next_offset[partition as usize] += 1;
            out.push(Observed {
                partition,
                offset,
                event: ChangeEvent {
                    event_id: uuid::Uuid::new_v4(),
                    event_type: e.event_type,
                    org_key: org.clone(),
                    user_key: user.clone(),
                    email: None,
                    detected_at_ms: seq as i64,
                    poll_seq: seq,
                    before,
                    after,
                },
                source: SourceInfo {
                    connector: "synthetic".into(),
                    version: "0".into(),
                    instance: "synthetic-1".into(),
                },
            });
        }
    }
    out
}
