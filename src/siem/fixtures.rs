//! Test events of every kind, modelled on the demo (`org-lively`): the members,
//! times and event ids of docs/events.md's examples, which the demo printed, plus a
//! revocation, a first report of "not admin" and an email OCSF's pattern rejects.

use std::collections::BTreeMap;

use crate::membership::{event_id, ChangeEvent, EventType, Member, MemberState};

use super::SiemOptions;

const ORG: &str = "org-lively";
const T0: i64 = 1_795_940_329_702;

/// Fixed options, so that the golden files do not change with the crate version.
pub(super) fn options() -> SiemOptions {
    SiemOptions {
        product_version: "0.1.0".into(),
        org_names: BTreeMap::from([(ORG.to_string(), "Lively Labs".to_string())]),
        ..SiemOptions::default()
    }
}

struct M {
    key: &'static str,
    email: Option<&'static str>,
    display: &'static str,
    first: Option<&'static str>,
    last: Option<&'static str>,
    admin: Option<bool>,
    last_seen: i64,
    created: i64,
}

fn state(m: &M, inactive: bool, first_seen: i64, last_changed: i64) -> MemberState {
    MemberState {
        member: Member {
            key: m.key.into(),
            email: m.email.map(Into::into),
            display_name: Some(m.display.into()),
            first_name: m.first.map(Into::into),
            last_name: m.last.map(Into::into),
            image: None,
            is_org_admin: m.admin,
            last_seen_ms: Some(m.last_seen),
            creation_ms: Some(m.created),
        },
        inactive,
        first_seen_ms: first_seen,
        last_changed_ms: last_changed,
    }
}

fn event(
    t: EventType,
    poll_seq: u64,
    at: i64,
    before: Option<MemberState>,
    after: Option<MemberState>,
) -> ChangeEvent {
    let s = after.as_ref().or(before.as_ref()).map(|s| &s.member);
    let user_key = s.map(|m| m.key.clone()).unwrap_or_default();
    ChangeEvent {
        event_id: event_id(ORG, &user_key, t, poll_seq, None),
        event_type: t,
        org_key: ORG.into(),
        email: s.and_then(|m| m.email.clone()),
        user_key,
        detected_at_ms: at,
        poll_seq,
        before,
        after,
    }
}

fn nina(admin: bool) -> M {
    M {
        key: "u-nina",
        email: Some("nina@lively.example.com"),
        display: "Nina Novak",
        first: None,
        last: None,
        admin: Some(admin),
        last_seen: 1_795_940_334_425,
        created: 1_795_940_334_425,
    }
}

fn carol(last_seen: i64) -> M {
    M {
        key: "u-carol",
        email: Some("carol@lively.example.com"),
        display: "Carol Chen",
        first: Some("Carol"),
        last: Some("Chen"),
        admin: Some(false),
        last_seen,
        created: 1_770_020_329_425,
    }
}

fn bob(email: &'static str, display: &'static str) -> M {
    M {
        key: "u-bob",
        email: Some(email),
        display,
        first: Some("Bob"),
        last: Some("Builder"),
        admin: Some(false),
        last_seen: 1_795_767_529_425,
        created: 1_752_740_329_425,
    }
}

/// One event per golden file, by file stem.
pub(super) fn all() -> Vec<(&'static str, ChangeEvent)> {
    let erin = M {
        key: "u-erin",
        email: Some("erin@lively.example.com"),
        display: "Erin Evans",
        first: None,
        last: None,
        admin: Some(false),
        last_seen: 1_792_052_329_425,
        created: 1_761_380_329_425,
    };
    let dave = M {
        key: "u-dave",
        email: Some("dave@lively.example.com"),
        display: "Dave Diaz",
        first: Some("Dave"),
        last: Some("Diaz"),
        admin: Some(false),
        last_seen: 1_795_508_329_425,
        created: 1_778_660_329_425,
    };
    let olga = |admin| M {
        key: "u-olga",
        email: Some("olga@lively.example.com"),
        display: "Olga Ortiz",
        first: Some("Olga"),
        last: Some("Ortiz"),
        admin,
        last_seen: 1_795_930_000_000,
        created: 1_790_000_000_000,
    };
    let (t_join, t_grant, t_profile) = (1_795_940_334_955, 1_795_940_342_032, 1_795_940_345_184);
    let (t_quiet, t_revoke, t_back) = (1_795_940_350_297, 1_795_940_357_796, 1_795_940_365_405);
    let carol_quiet = carol(1_790_756_349_425);
    use EventType::*;
    vec![
        (
            "snapshot",
            event(Snapshot, 1, T0, None, Some(state(&erin, true, T0, T0))),
        ),
        (
            "joined",
            event(
                Joined,
                6,
                t_join,
                None,
                Some(state(&nina(false), false, t_join, t_join)),
            ),
        ),
        (
            "left",
            event(
                Left,
                21,
                1_795_940_354_693,
                Some(state(&dave, false, T0, T0)),
                None,
            ),
        ),
        (
            "admin_granted",
            event(
                AdminChanged,
                11,
                t_grant,
                Some(state(&nina(false), false, t_join, t_join)),
                Some(state(&nina(true), false, t_join, t_grant)),
            ),
        ),
        (
            "admin_revoked",
            event(
                AdminChanged,
                26,
                t_revoke,
                Some(state(&nina(true), false, t_join, t_grant)),
                Some(state(&nina(false), false, t_join, t_revoke)),
            ),
        ),
        (
            "admin_reported",
            event(
                AdminChanged,
                12,
                1_795_940_343_083,
                Some(state(&olga(None), false, T0, T0)),
                Some(state(&olga(Some(false)), false, T0, 1_795_940_343_083)),
            ),
        ),
        (
            "profile_changed",
            event(
                ProfileChanged,
                14,
                t_profile,
                Some(state(
                    &bob("bob@lively.example.com", "Bob Builder"),
                    false,
                    T0,
                    T0,
                )),
                Some(state(
                    &bob("robert@lively.example.com", "Robert Builder"),
                    false,
                    T0,
                    t_profile,
                )),
            ),
        ),
        (
            "profile_changed_unusual_email",
            event(
                ProfileChanged,
                15,
                1_795_940_346_235,
                Some(state(
                    &bob("robert@lively.example.com", "Robert Builder"),
                    false,
                    T0,
                    t_profile,
                )),
                Some(state(
                    &bob("robert@localhost", "Robert Builder"),
                    false,
                    T0,
                    1_795_940_346_235,
                )),
            ),
        ),
        (
            "went_inactive",
            event(
                WentInactive,
                18,
                t_quiet,
                Some(state(&carol(1_795_929_529_425), false, T0, T0)),
                Some(state(&carol_quiet, true, T0, t_quiet)),
            ),
        ),
        (
            "reactivated",
            event(
                Reactivated,
                31,
                t_back,
                Some(state(&carol_quiet, true, T0, t_quiet)),
                Some(state(&carol(1_795_940_364_425), false, T0, t_back)),
            ),
        ),
    ]
}

/// `n` variants of the fixtures with odd member data (emails OCSF's pattern rejects,
/// empty and non-ASCII names, unknown admin flags, missing fields), from a fixed seed:
/// whatever Streak sends, the record must still validate.
pub(super) fn variants(n: usize) -> Vec<ChangeEvent> {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    const EMAILS: [Option<&str>; 8] = [
        None,
        Some(""),
        Some("a@b"),
        Some("x@y.z"),
        Some("ü@example.com"),
        Some("a b@c.d"),
        Some("first.last+tag@sub.example.co.uk"),
        Some("o'neil@x-y.io"),
    ];
    const NAMES: [Option<&str>; 5] = [
        None,
        Some(""),
        Some("Zoë 名前"),
        Some("a \"quoted\"\nname"),
        Some(" "),
    ];
    const ADMIN: [Option<bool>; 3] = [None, Some(false), Some(true)];
    let mut rng = StdRng::seed_from_u64(14);
    let base = all();
    let pick = |rng: &mut StdRng, m: &mut Member| {
        m.email = EMAILS[rng.random_range(0..EMAILS.len())].map(Into::into);
        m.display_name = NAMES[rng.random_range(0..NAMES.len())].map(Into::into);
        m.first_name = NAMES[rng.random_range(0..NAMES.len())].map(Into::into);
        m.last_name = NAMES[rng.random_range(0..NAMES.len())].map(Into::into);
        m.is_org_admin = ADMIN[rng.random_range(0..ADMIN.len())];
        m.last_seen_ms = rng
            .random_bool(0.5)
            .then_some(rng.random_range(0..i64::MAX / 4));
    };
    (0..n)
        .map(|i| {
            let mut e = base[i % base.len()].1.clone();
            for s in [&mut e.before, &mut e.after].into_iter().flatten() {
                pick(&mut rng, &mut s.member);
            }
            e.email = e
                .after
                .as_ref()
                .or(e.before.as_ref())
                .and_then(|s| s.member.email.clone());
            e
        })
        .collect()
}
