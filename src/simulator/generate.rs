//! Deterministic generation of realistic members, for large scenarios and benchmarks.
//!
//! Every field of member `i` is a pure function of `(seed, i)` (and of `now_ms` for
//! timestamps), computed with SplitMix64 written out here rather than taken from
//! `rand`: `rand` documents that its seeded generators may change output between
//! versions, and a benchmark or a test fixture must give the same members forever, on
//! every platform. Being stateless, generation also needs no sequential RNG state.
//!
//! Must not do I/O or read the clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::model::SimMember;

const DAY_MS: i64 = 86_400_000;

/// Streak's user keys are App Engine datastore keys (`agxzfm1haWxmb29nYWVy...`,
/// about 40 characters): this prefix makes generated keys look and weigh the same.
const KEY_PREFIX: &str = "agxzfm1haWxmb29nYWVy";

const FIRST_NAMES: [&str; 40] = [
    "Ada", "Alan", "Amara", "Ben", "Camille", "Carlos", "Chen", "Dana", "Diego", "Elena", "Emeka",
    "Farah", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jamal", "Julia", "Kenji", "Lars", "Leila",
    "Lucia", "Malik", "Maria", "Mateo", "Nadia", "Nils", "Omar", "Priya", "Quentin", "Rosa",
    "Sami", "Sofia", "Tariq", "Uma", "Victor", "Wei", "Yara", "Zoe",
];

const LAST_NAMES: [&str; 40] = [
    "Abe",
    "Almeida",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Laurent",
    "Martin",
    "Nakamura",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Tanaka",
    "Torres",
    "Ueda",
    "Van Dijk",
    "Vargas",
    "Wagner",
    "Walker",
    "Weber",
    "Xu",
    "Yamamoto",
    "Young",
    "Zhang",
    "Zimmermann",
    "Moreau",
    "Lindqvist",
];

/// SplitMix64's finalizer: a bijection on `u64` with good avalanche.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A pseudo-random `u64` for `(seed, index, salt)`.
pub(crate) fn hash3(seed: u64, index: u64, salt: u64) -> u64 {
    mix(mix(mix(seed) ^ index) ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// The key of generated member `index` of `seed`. Unique per `(seed, index)`: the
/// seed part is a bijection of the seed and the index part a bijection of the index.
pub(crate) fn generated_key(seed: u64, index: u64) -> String {
    let mut key = String::with_capacity(42);
    key.push_str(KEY_PREFIX);
    key.push_str(&URL_SAFE_NO_PAD.encode(mix(seed).to_be_bytes()));
    key.push_str(&URL_SAFE_NO_PAD.encode((index ^ mix(seed ^ 0x5EED)).to_be_bytes()));
    key
}

/// `count` members generated from `seed`, timestamps relative to `now_ms`: a pure
/// function of its arguments.
///
/// Sizes and mix follow a real organization: a ~42-character key, an email, first,
/// last and display names, a ~90-character avatar URL; about 1 in 20 is an admin
/// (member 0 always is, as an organization's creator); about 3 in 4 were seen within
/// the last 25 days and the rest 31 to 400 days ago (inactive under the default
/// 30-day threshold); 1 in 50 has no `lastSeenTimestamp`; creation precedes last
/// activity by up to three years.
pub fn generate_members_at(count: usize, seed: u64, now_ms: i64) -> Vec<SimMember> {
    (0..count as u64)
        .map(|i| generate_one(seed, i, now_ms))
        .collect()
}

fn pick<'a>(list: &[&'a str], h: u64) -> &'a str {
    list[(h % list.len() as u64) as usize]
}

fn generate_one(seed: u64, i: u64, now_ms: i64) -> SimMember {
    let first = pick(&FIRST_NAMES, hash3(seed, i, 1));
    let last = pick(&LAST_NAMES, hash3(seed, i, 2));
    let email_local = format!("{}.{}{}", first, last.replace(' ', ""), i).to_lowercase();
    let email = format!("{email_local}@corp{}.example.com", seed % 1000);

    let mut image = String::with_capacity(92);
    image.push_str("https://lh3.googleusercontent.com/a/");
    let mut raw = [0u8; 36];
    for (n, chunk) in raw.chunks_mut(8).enumerate() {
        let bytes = hash3(seed, i, 10 + n as u64).to_be_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    image.push_str(&URL_SAFE_NO_PAD.encode(raw));
    image.push_str("=s96-c");

    let admin = i == 0 || hash3(seed, i, 3) % 20 == 0;

    let activity = hash3(seed, i, 4);
    let last_seen_ms = match activity % 100 {
        0..=1 => None,
        2..=75 => Some(now_ms - (hash3(seed, i, 5) % (25 * DAY_MS as u64)) as i64),
        _ => Some(now_ms - 31 * DAY_MS - (hash3(seed, i, 5) % (369 * DAY_MS as u64)) as i64),
    };
    let anchor = last_seen_ms.unwrap_or(now_ms - 200 * DAY_MS);
    let creation_ms = anchor - (hash3(seed, i, 6) % (3 * 365 * DAY_MS as u64)) as i64;

    SimMember {
        key: generated_key(seed, i),
        email: Some(email),
        display_name: Some(format!("{first} {last}")),
        first_name: Some(first.to_owned()),
        last_name: Some(last.to_owned()),
        image: Some(image),
        is_org_admin: Some(admin),
        last_seen_ms,
        creation_ms: Some(creation_ms),
    }
}

/// Whether `seed`'s probability draw for request `n` falls under `p` (0.0..=1.0).
/// Stateless, so request `n` fails or not regardless of what came before it.
pub(crate) fn draw(seed: u64, n: u64, p: f64) -> bool {
    let unit = (hash3(seed, n, 0xFA17) >> 11) as f64 / (1u64 << 53) as f64;
    unit < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_unique_across_indices_and_seeds() {
        let mut seen = HashSet::new();
        for seed in 0..5 {
            for i in 0..2000 {
                assert!(seen.insert(generated_key(seed, i)));
            }
        }
        assert_eq!(generated_key(1, 1).len(), 42);
    }

    #[test]
    fn draw_rate_is_close_to_probability() {
        let hits = (0..10_000).filter(|&n| draw(7, n, 0.3)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|n| draw(7, n, 0.0)));
        assert!((0..1000).all(|n| draw(7, n, 1.0)));
    }
}
