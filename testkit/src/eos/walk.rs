//! The steps a test applies to the simulator: a seeded random walk over the kinds of
//! change (join, rejoin, leave, admin grant/revoke, profile change, going quiet,
//! coming back), at most one change per member per step, each with the one event
//! it must cause. The walk cycles through every kind, so a run of a dozen steps or
//! more covers every event type.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use streak_connector::membership::EventType;
use streak_connector::simulator::{
    Change, MemberSpec, ProfilePatch, RunningSimulator, SimMember, Stamp, GO_QUIET_FOR,
};

use super::oracle::Oracle;

/// One change to one organization, and the event it must cause.
#[derive(Debug, Clone)]
pub struct Planned {
    pub org: String,
    pub change: Change,
    pub event: EventType,
}

/// The changes applied at once between two observed polls.
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub changes: Vec<Planned>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Join,
    Rejoin,
    Leave,
    Admin,
    Profile,
    GoQuiet,
    ComeBack,
}

const KINDS: [Kind; 7] = [
    Kind::Join,
    Kind::Rejoin,
    Kind::Leave,
    Kind::Admin,
    Kind::Profile,
    Kind::GoQuiet,
    Kind::ComeBack,
];

/// Organizations keep at least this many members (the departure guard stays far).
const MIN_MEMBERS: usize = 6;

/// The random walk.
#[derive(Debug)]
pub struct Walk {
    rng: StdRng,
    /// Members whose departure the walk caused, who may rejoin.
    departed: Vec<(String, SimMember)>,
    /// API key owners never leave (their key would stop working).
    owners: HashSet<(String, String)>,
    cycle: Vec<Kind>,
    joined: usize,
    steps: usize,
}

impl Walk {
    /// `owners`: `(org, member)` pairs that own an API key.
    pub fn new(seed: u64, owners: &[(&str, &str)]) -> Walk {
        Walk {
            rng: StdRng::seed_from_u64(seed),
            departed: Vec::new(),
            owners: owners
                .iter()
                .map(|(o, m)| ((*o).to_owned(), (*m).to_owned()))
                .collect(),
            cycle: Vec::new(),
            joined: 0,
            steps: 0,
        }
    }

    fn next_kind(&mut self) -> Kind {
        if self.cycle.is_empty() {
            self.cycle = KINDS.to_vec();
            self.cycle.shuffle(&mut self.rng);
        }
        self.cycle.pop().unwrap_or(Kind::Profile)
    }

    /// The next step: one to three changes over `orgs`, given what the simulator
    /// lists now and what the oracle knows.
    pub fn next_step(&mut self, sim: &RunningSimulator, oracle: &Oracle, orgs: &[&str]) -> Step {
        self.steps += 1;
        let mut step = Step::default();
        let mut touched: HashSet<(String, String)> = HashSet::new();
        let n = self.rng.random_range(1..=3);
        for _ in 0..n {
            let org = orgs[self.rng.random_range(0..orgs.len())].to_owned();
            let listed = sim.members(&org).expect("the organization exists");
            let mut kind = self.next_kind();
            // A kind with nobody eligible falls back to the next ones.
            for _ in 0..KINDS.len() {
                if let Some(p) = self.plan(kind, &org, &listed, oracle, &touched) {
                    if let Some(k) = p.change.member_key() {
                        touched.insert((org.clone(), k.to_owned()));
                    }
                    step.changes.push(p);
                    break;
                }
                kind =
                    KINDS[(KINDS.iter().position(|k| *k == kind).unwrap_or(0) + 1) % KINDS.len()];
            }
        }
        step
    }

    /// A change of `kind` to `org` (whose listing is `listed`), with the event it
    /// must cause; `None` when no member is eligible. Members in `touched` are
    /// changed already in this step.
    fn plan(
        &mut self,
        kind: Kind,
        org: &str,
        listed: &[SimMember],
        oracle: &Oracle,
        touched: &HashSet<(String, String)>,
    ) -> Option<Planned> {
        let free: Vec<&SimMember> = listed
            .iter()
            .filter(|m| !touched.contains(&(org.to_owned(), m.key.clone())))
            .collect();
        let (change, event) = match kind {
            Kind::Join => self.join(org),
            Kind::Rejoin => self.rejoin(org, touched)?,
            Kind::Leave => self.leave(org, listed, &free)?,
            Kind::Admin => self.admin(&free)?,
            Kind::Profile => self.profile(&free)?,
            Kind::GoQuiet | Kind::ComeBack => {
                self.quiet_or_back(kind == Kind::GoQuiet, org, &free, oracle)?
            }
        };
        Some(Planned {
            org: org.to_owned(),
            change,
            event,
        })
    }

    /// One of `eligible`, at random; `None` when there is nobody.
    fn pick<'a>(&mut self, eligible: &[&'a SimMember]) -> Option<&'a SimMember> {
        eligible
            .get(self.rng.random_range(0..eligible.len().max(1)))
            .copied()
    }

    /// A new member; one in four joins already inactive (JOINED with
    /// after.inactive).
    fn join(&mut self, org: &str) -> (Change, EventType) {
        self.joined += 1;
        let n = self.joined;
        let quiet = self.rng.random_bool(0.25);
        let spec = MemberSpec {
            key: format!("u-{org}-joiner-{n}"),
            email: Some(format!("joiner{n}@{org}.example.com")),
            display_name: Some(format!("Joiner {n}")),
            first_name: Some("Joiner".into()),
            last_name: Some(format!("Number{n}")),
            image: Some(format!("https://img.example.com/{org}/{n}.png")),
            is_org_admin: Some(self.rng.random_bool(0.2)),
            last_seen_timestamp: Some(if quiet {
                Stamp::ago(std::time::Duration::from_secs(45 * 86_400))
            } else {
                Stamp::ago(std::time::Duration::from_secs(3_600))
            }),
            creation_timestamp: Some(Stamp::ago(std::time::Duration::from_secs(100 * 86_400))),
        };
        (Change::Join(spec), EventType::Joined)
    }

    /// A member the walk made leave `org` comes back as they were.
    fn rejoin(
        &mut self,
        org: &str,
        touched: &HashSet<(String, String)>,
    ) -> Option<(Change, EventType)> {
        let i = self
            .departed
            .iter()
            .position(|(o, m)| o == org && !touched.contains(&(org.to_owned(), m.key.clone())))?;
        let (_, m) = self.departed.remove(i);
        Some((Change::Join(MemberSpec::from(m)), EventType::Joined))
    }

    /// A member who owns no API key leaves, unless `org` is down to
    /// [`MIN_MEMBERS`]; remembered so that they may rejoin.
    fn leave(
        &mut self,
        org: &str,
        listed: &[SimMember],
        free: &[&SimMember],
    ) -> Option<(Change, EventType)> {
        if listed.len() <= MIN_MEMBERS {
            return None;
        }
        let eligible: Vec<&SimMember> = free
            .iter()
            .copied()
            .filter(|m| !self.owners.contains(&(org.to_owned(), m.key.clone())))
            .collect();
        let m = self.pick(&eligible)?.clone();
        let key = m.key.clone();
        self.departed.push((org.to_owned(), m));
        Some((Change::Leave { key }, EventType::Left))
    }

    /// An admin flag flipped.
    fn admin(&mut self, free: &[&SimMember]) -> Option<(Change, EventType)> {
        let m = self.pick(free)?;
        let admin = !m.is_org_admin.unwrap_or(false);
        Some((
            Change::SetAdmin {
                key: m.key.clone(),
                admin,
            },
            EventType::AdminChanged,
        ))
    }

    /// A new display name, or a new email and last name.
    fn profile(&mut self, free: &[&SimMember]) -> Option<(Change, EventType)> {
        let m = self.pick(free)?;
        let step = self.steps;
        let patch = if self.rng.random_bool(0.5) {
            ProfilePatch {
                display_name: Some(format!("Renamed at step {step}")),
                ..ProfilePatch::default()
            }
        } else {
            ProfilePatch {
                email: Some(format!("moved{step}.{}@example.org", m.key.len())),
                last_name: Some(format!("Moved{step}")),
                ..ProfilePatch::default()
            }
        };
        Some((
            Change::Profile {
                key: m.key.clone(),
                patch,
            },
            EventType::ProfileChanged,
        ))
    }

    /// An active member goes quiet (`quiet`), or an inactive one comes back, as
    /// the oracle sees them.
    fn quiet_or_back(
        &mut self,
        quiet: bool,
        org: &str,
        free: &[&SimMember],
        oracle: &Oracle,
    ) -> Option<(Change, EventType)> {
        let eligible: Vec<&SimMember> = free
            .iter()
            .copied()
            .filter(|m| oracle.is_inactive(org, &m.key) == Some(!quiet))
            .collect();
        let m = self.pick(&eligible)?;
        let (at, event) = if quiet {
            (Stamp::ago(GO_QUIET_FOR), EventType::WentInactive)
        } else {
            (Stamp::NOW, EventType::Reactivated)
        };
        Some((
            Change::SetLastSeen {
                key: m.key.clone(),
                at,
            },
            event,
        ))
    }
}
