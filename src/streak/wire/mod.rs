//! Lenient, counted parsing of Streak's JSON into domain types.
//!
//! Owns the rules of the issue: unknown fields are ignored; every field but `key` is
//! optional; a field of the wrong type (or an absurd timestamp) is dropped and
//! counted as drift; a string over its size bound is cut or dropped (see [`bound`])
//! and counted as drift too; an entry without a usable `key` is counted as invalid and
//! makes the listing incomplete; entries sharing a key are merged and counted. A body
//! that is not the expected JSON shape at all is a [`WireError`].
//!
//! Pure and synchronous: no I/O, no metrics, no logging (the client reports the
//! tallies this returns). It never panics on any input (property-tested).
//!
//! Memory: the listing is parsed as a stream ([`ListingParser`]): each entry is
//! deserialized with a serde visitor as soon as its bytes are in, keeping only the
//! fields the connector reads; neither the body nor a `serde_json::Value` tree of it
//! is held.

use serde::de::DeserializeSeed;

use super::key::ApiKey;
use crate::membership::{KeyIndex, Listing, Member};
use de::{Entry, Scalar, TopObject};

pub(crate) use bound::OversizedMemo;
pub(crate) use bound::{BoundAction, Oversized};

pub use stream::ListingParser;

mod bound;
mod de;
mod stream;

/// Values below this are epoch seconds, not milliseconds (10^11 ms is March 1973).
const SECONDS_BELOW: i128 = 100_000_000_000;
/// 3000-01-01T00:00:00Z in epoch milliseconds: anything later is absurd.
const YEAR_3000_MS: i128 = 32_503_680_000_000;
/// Characters of a body quoted in an error.
const SNIPPET_CHARS: usize = 200;
/// Bytes of a body scrubbed before the snippet is cut (see `ApiKey::scrub`).
pub(crate) const SNIPPET_WINDOW: usize = 64 * 1024;

/// The fields the connector reads from Streak's objects, by their JSON names. Also
/// the fixed set of `field` labels of `api_drift_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Key,
    Email,
    DisplayName,
    FirstName,
    LastName,
    Image,
    IsOrgAdmin,
    OrgKey,
    LastSeenTimestamp,
    CreationTimestamp,
    Name,
}

const FIELDS: [Field; 11] = [
    Field::Key,
    Field::Email,
    Field::DisplayName,
    Field::FirstName,
    Field::LastName,
    Field::Image,
    Field::IsOrgAdmin,
    Field::OrgKey,
    Field::LastSeenTimestamp,
    Field::CreationTimestamp,
    Field::Name,
];

impl Field {
    fn json_name(self) -> &'static str {
        match self {
            Field::Key => "key",
            Field::Email => "email",
            Field::DisplayName => "displayName",
            Field::FirstName => "firstName",
            Field::LastName => "lastName",
            Field::Image => "image",
            Field::IsOrgAdmin => "isOrgAdmin",
            Field::OrgKey => "orgKey",
            Field::LastSeenTimestamp => "lastSeenTimestamp",
            Field::CreationTimestamp => "creationTimestamp",
            Field::Name => "name",
        }
    }

    fn from_json_name(name: &str) -> Option<Field> {
        // A match, not a search of FIELDS: once for every field of every entry.
        Some(match name {
            "key" => Field::Key,
            "email" => Field::Email,
            "displayName" => Field::DisplayName,
            "firstName" => Field::FirstName,
            "lastName" => Field::LastName,
            "image" => Field::Image,
            "isOrgAdmin" => Field::IsOrgAdmin,
            "orgKey" => Field::OrgKey,
            "lastSeenTimestamp" => Field::LastSeenTimestamp,
            "creationTimestamp" => Field::CreationTimestamp,
            "name" => Field::Name,
            _ => return None,
        })
    }
}

/// The JSON name of every field that can drift: the `field` label values of
/// `api_drift_total`.
pub(crate) fn drift_fields() -> impl Iterator<Item = &'static str> {
    FIELDS.into_iter().map(Field::json_name)
}

/// Drifted fields: values dropped for a wrong type or an absurd value, counted by
/// field name, and values over their size bound, listed one by one with their owner
/// (so that the client can log each once, not at every poll).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldDrift {
    counts: [u64; FIELDS.len()],
    oversized: Vec<Oversized>,
}

impl FieldDrift {
    fn add(&mut self, field: Field) {
        // `FIELDS` lists every variant in declaration order, so the index is in range.
        if let Some(count) = self.counts.get_mut(field as usize) {
            *count += 1;
        }
    }

    fn add_oversized(&mut self, owner: &str, field: Field, bytes: usize, action: BoundAction) {
        self.oversized
            .push(bound::oversized(owner, field, bytes, action));
    }

    /// All drifted fields together, of a wrong type, absurd or oversized.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.oversized.len() as u64
    }

    /// `(JSON field name, count)` for every field dropped at least once for a wrong
    /// type or an absurd value (oversized values are in [`FieldDrift::oversized`]).
    pub fn by_field(&self) -> Vec<(&'static str, u64)> {
        FIELDS
            .iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(f, n)| (f.json_name(), n))
            .collect()
    }

    /// The values over their size bound, in the order met.
    pub fn oversized(&self) -> &[Oversized] {
        &self.oversized
    }

    /// `(JSON field name, count)` of everything that drifted, oversized values
    /// included: what `api_drift_total` counts.
    pub fn counted_by_field(&self) -> Vec<(&'static str, u64)> {
        let mut counts = self.counts;
        for o in &self.oversized {
            if let Some(count) = counts.get_mut(o.field_index()) {
                *count += 1;
            }
        }
        FIELDS
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(f, n)| (f.json_name(), n))
            .collect()
    }
}

/// What one listing held, beyond its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingStats {
    /// Elements of the JSON array.
    pub entries: u64,
    /// Entries without a usable `key` (not an object, key missing, not a string, blank).
    pub invalid: u64,
    /// Entries merged into an earlier entry with the same key.
    pub duplicates: u64,
    /// Field values dropped as drift, all fields together.
    pub drifted_fields: u64,
}

/// A parsed listing with its tallies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedListing {
    /// The members, one per key, in order of first appearance; `complete` is false
    /// when any entry was invalid.
    pub listing: Listing,
    pub stats: ListingStats,
    pub drift: FieldDrift,
}

/// The key owner, from `GET /users/me`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub key: String,
    pub email: Option<String>,
    /// The organization this key sees.
    pub org_key: Option<String>,
}

/// The key owner's organization, from `GET /users/me/organization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub key: String,
    pub name: Option<String>,
}

/// The body is not the JSON shape the endpoint promises (not JSON, truncated, an
/// object where an array belongs...). The reason never quotes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct WireError {
    pub reason: String,
}

/// Parses a `GET /organizations/{orgKey}/users` body: a JSON array of users.
///
/// The same as feeding the whole body to a [`ListingParser`] at once.
pub fn parse_listing(body: &[u8]) -> Result<ParsedListing, WireError> {
    let mut parser = ListingParser::new();
    parser.feed(body)?;
    parser.finish()
}

/// The whole-body parser the stream replaced: one serde pass over the body
/// (the reference of the stream's property tests).
pub fn parse_listing_whole(body: &[u8]) -> Result<ParsedListing, WireError> {
    let mut acc = Accumulator::default();
    deserialize_whole(body, de::ListingSeed { acc: &mut acc })?;
    Ok(acc.into_parsed())
}

/// Parses a `GET /users/me` body.
pub(crate) fn parse_current_user(body: &[u8]) -> Result<(CurrentUser, FieldDrift), WireError> {
    let mut object = deserialize_whole(body, TopObject)?;
    let mut drift = FieldDrift::default();
    let key = usable_key(&mut object, &mut drift).ok_or_else(|| WireError {
        reason: format!("the user has no usable `key` {KEY_RULE}"),
    })?;
    let mut user = CurrentUser {
        key,
        email: None,
        org_key: None,
    };
    for (field, value) in object {
        match field {
            Field::Email => user.email = bounded(field, value, &user.key, &mut drift),
            Field::OrgKey => user.org_key = bounded(field, value, &user.key, &mut drift),
            _ => {}
        }
    }
    Ok((user, drift))
}

/// Parses a `GET /users/me/organization` body.
pub(crate) fn parse_organization(body: &[u8]) -> Result<(Organization, FieldDrift), WireError> {
    let mut object = deserialize_whole(body, TopObject)?;
    let mut drift = FieldDrift::default();
    let key = usable_key(&mut object, &mut drift).ok_or_else(|| WireError {
        reason: format!("the organization has no usable `key` {KEY_RULE}"),
    })?;
    let mut org = Organization { key, name: None };
    for (field, value) in object {
        if field == Field::Name {
            org.name = bounded(field, value, &org.key, &mut drift);
        }
    }
    Ok((org, drift))
}

/// The first 200 characters of a body (on a character boundary, invalid UTF-8
/// replaced), with the key scrubbed out, for quoting in an error.
pub(crate) fn snippet(body: &[u8], key: &ApiKey) -> String {
    let window = &body[..body.len().min(SNIPPET_WINDOW)];
    key.scrub(&String::from_utf8_lossy(window))
        .chars()
        .take(SNIPPET_CHARS)
        .collect()
}

/// What to quote from an error response: the `error` of a `{"error": "..."}` body,
/// else the start of the body; scrubbed and at most 200 characters.
pub(crate) fn error_detail(body: &[u8], key: &ApiKey) -> Option<String> {
    let window = &body[..body.len().min(SNIPPET_WINDOW)];
    let from_json = serde_json::from_slice::<serde_json::Value>(window)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
    let text = match from_json {
        Some(message) => key.scrub(&message).chars().take(SNIPPET_CHARS).collect(),
        None => snippet(window, key).trim().to_string(),
    };
    (!text.is_empty()).then_some(text)
}

fn deserialize_whole<'de, S: DeserializeSeed<'de>>(
    body: &'de [u8],
    seed: S,
) -> Result<S::Value, WireError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = seed.deserialize(&mut de).map_err(wire_error)?;
    de.end().map_err(wire_error)?;
    Ok(value)
}

fn wire_error(e: serde_json::Error) -> WireError {
    let reason = if e.is_eof() {
        format!("truncated JSON ({e})")
    } else {
        format!("not valid JSON of the expected shape ({e})")
    };
    WireError { reason }
}

// ---------------------------------------------------------------------------------
// Normalization: raw field values to domain values, counting drift.

/// What makes a key usable, for the error that refuses one.
const KEY_RULE: &str = "(missing, not a string, blank or over 1024 bytes)";

/// The object's key, if it is a non-blank string within its bound; an oversized key
/// is counted as drift (the entry is then unusable).
///
/// The key is moved out of `object` (left empty there): callers skip `key`.
fn usable_key(object: &mut [(Field, Scalar)], drift: &mut FieldDrift) -> Option<String> {
    // The last occurrence wins, as for every field of one object.
    match object.iter_mut().rev().find(|(f, _)| *f == Field::Key) {
        Some((_, Scalar::Str(s))) if !s.trim().is_empty() => {
            if bound::key_fits(s) {
                return Some(std::mem::take(s));
            }
            let owner = bound::quote_key(s);
            drift.add_oversized(&owner, Field::Key, s.len(), BoundAction::Dropped);
            None
        }
        _ => None,
    }
}

/// A string field kept by the connector: drift as [`string_value`], then its size
/// bound (cut or dropped, and listed as oversized under `owner`).
fn bounded(field: Field, value: Scalar, owner: &str, drift: &mut FieldDrift) -> Option<String> {
    let value = string_value(field, value, drift)?;
    let bytes = value.len();
    match bound::apply(field, value) {
        Ok((kept, cut)) => {
            if cut {
                drift.add_oversized(owner, field, bytes, BoundAction::Truncated);
            }
            Some(kept)
        }
        Err(action) => {
            drift.add_oversized(owner, field, bytes, action);
            None
        }
    }
}

fn string_value(field: Field, value: Scalar, drift: &mut FieldDrift) -> Option<String> {
    match value {
        Scalar::Null => None,
        Scalar::Str(s) => Some(s),
        _ => {
            drift.add(field);
            None
        }
    }
}

fn bool_value(field: Field, value: Scalar, drift: &mut FieldDrift) -> Option<bool> {
    match value {
        Scalar::Null => None,
        Scalar::Bool(b) => Some(b),
        _ => {
            drift.add(field);
            None
        }
    }
}

fn timestamp_value(field: Field, value: Scalar, drift: &mut FieldDrift) -> Option<i64> {
    match timestamp_ms(&value) {
        Ok(ms) => ms,
        Err(Absurd) => {
            drift.add(field);
            None
        }
    }
}

/// A timestamp that cannot be right: wrong type, negative, or after the year 3000.
#[derive(Debug, PartialEq, Eq)]
struct Absurd;

/// Epoch milliseconds from a JSON number (integer or not) or a string of decimal
/// digits; a value below 10^11 is seconds and is scaled.
fn timestamp_ms(value: &Scalar) -> Result<Option<i64>, Absurd> {
    let whole = |v: i128| -> Result<Option<i64>, Absurd> {
        if v < 0 {
            return Err(Absurd);
        }
        let ms = if v < SECONDS_BELOW { v * 1000 } else { v };
        if ms > YEAR_3000_MS {
            return Err(Absurd);
        }
        i64::try_from(ms).map(Some).map_err(|_| Absurd)
    };
    match value {
        Scalar::Null => Ok(None),
        Scalar::Int(i) => whole(i128::from(*i)),
        Scalar::UInt(u) => whole(i128::from(*u)),
        Scalar::Float(f) => {
            if !f.is_finite() || *f < 0.0 {
                return Err(Absurd);
            }
            let ms = if *f < SECONDS_BELOW as f64 {
                f * 1000.0
            } else {
                *f
            };
            if ms > YEAR_3000_MS as f64 {
                return Err(Absurd);
            }
            // In range [0, 3.3e13] by now, so the cast is exact in its integer part.
            Ok(Some(ms.trunc() as i64))
        }
        Scalar::Str(s) => {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Absurd);
            }
            whole(s.parse::<i128>().map_err(|_| Absurd)?)
        }
        Scalar::Bool(_) | Scalar::Compound => Err(Absurd),
    }
}

fn member_from(mut object: Vec<(Field, Scalar)>, drift: &mut FieldDrift) -> Option<Member> {
    let key = usable_key(&mut object, drift)?;
    let mut m = Member {
        key,
        ..Member::default()
    };
    for (field, value) in object {
        match field {
            Field::Key | Field::Name => {}
            Field::Email => m.email = bounded(field, value, &m.key, drift),
            Field::DisplayName => m.display_name = bounded(field, value, &m.key, drift),
            Field::FirstName => m.first_name = bounded(field, value, &m.key, drift),
            Field::LastName => m.last_name = bounded(field, value, &m.key, drift),
            Field::Image => m.image = bounded(field, value, &m.key, drift),
            Field::IsOrgAdmin => m.is_org_admin = bool_value(field, value, drift),
            // Checked for drift, not kept: the listing's organization is known.
            Field::OrgKey => drop(string_value(field, value, drift)),
            Field::LastSeenTimestamp => m.last_seen_ms = timestamp_value(field, value, drift),
            Field::CreationTimestamp => m.creation_ms = timestamp_value(field, value, drift),
        }
    }
    Some(m)
}

/// Merges a later entry with the same key into the earlier one: every field the
/// later entry has (not missing, null or drifted) wins; the rest keep the earlier
/// value. The member keeps the position of its first entry.
fn merge(into: &mut Member, later: Member) {
    fn take<T>(into: &mut Option<T>, later: Option<T>) {
        if later.is_some() {
            *into = later;
        }
    }
    take(&mut into.email, later.email);
    take(&mut into.display_name, later.display_name);
    take(&mut into.first_name, later.first_name);
    take(&mut into.last_name, later.last_name);
    take(&mut into.image, later.image);
    take(&mut into.is_org_admin, later.is_org_admin);
    take(&mut into.last_seen_ms, later.last_seen_ms);
    take(&mut into.creation_ms, later.creation_ms);
}

#[derive(Debug, Default)]
struct Accumulator {
    members: Vec<Member>,
    /// Position of each key's member: the state's own index (8-byte slots that
    /// point into `members`, foldhash), no copy of the key.
    index: KeyIndex,
    stats: ListingStats,
    drift: FieldDrift,
}

/// The bytes of a listing entry that the preallocation from an announced body
/// length assumes: a member with an email, names and an avatar URL is 300 to 400
/// bytes of JSON, so a listing of such members reserves somewhat more than it
/// uses (untouched capacity costs address space, not memory), and one of small
/// entries grows the rest of the way.
const ASSUMED_ENTRY_BYTES: u64 = 256;

/// The most members a preallocation reserves, whatever the body announces.
const MAX_PREALLOCATED_MEMBERS: u64 = 4 << 20;

impl Accumulator {
    /// Room for the members of a body announced as `body_bytes` long: the listing
    /// then grows without copying itself again and again (each doubling of a large
    /// `Vec` copies it into fresh pages the kernel must clear first: about 4% of
    /// the samples of a `perf` profile of a 100k first poll).
    fn with_announced(body_bytes: Option<u64>) -> Self {
        let members = body_bytes.map_or(0, |n| {
            (n / ASSUMED_ENTRY_BYTES).min(MAX_PREALLOCATED_MEMBERS)
        });
        let members = usize::try_from(members).unwrap_or(0);
        let mut acc = Accumulator::default();
        acc.members.reserve(members);
        // Empty: the rebuild reads no key.
        acc.index.reserve(members, |_| -> &'static [u8] { &[] });
        acc
    }

    /// The listing the entries made, with its tallies (the index is dropped).
    fn into_parsed(self) -> ParsedListing {
        let mut stats = self.stats;
        stats.drifted_fields = self.drift.total();
        ParsedListing {
            listing: Listing {
                members: self.members,
                complete: stats.invalid == 0,
            },
            stats,
            drift: self.drift,
        }
    }

    fn add(&mut self, entry: Entry) {
        self.stats.entries += 1;
        let member = match entry {
            Entry::Object(object) => member_from(object, &mut self.drift),
            Entry::Other => None,
        };
        let Some(member) = member else {
            self.stats.invalid += 1;
            return;
        };
        let Accumulator { members, index, .. } = self;
        let hash = index.hash(member.key.as_bytes());
        let key_at = |p: usize| members[p].key.as_bytes();
        match index.find(hash, member.key.as_bytes(), key_at) {
            Some(earlier) => {
                merge(&mut members[earlier], member);
                self.stats.duplicates += 1;
            }
            None => {
                let pos = members.len();
                members.push(member);
                index.insert_new(hash, pos, |p| members[p].key.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests;
