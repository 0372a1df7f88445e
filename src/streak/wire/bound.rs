//! Size bounds of the string fields the connector keeps, and the memory that lets
//! the client log an oversized field once per member instead of at every poll.
//!
//! A member's strings end up in events and state records, both bounded by the
//! broker's message size (1 MB by default). Without a bound, one member whose `image`
//! is a 1.5 MB `data:` URI makes every event of its organization's poll too large, and
//! the whole organization stalls. Each field therefore has a bound in UTF-8 bytes and
//! a rule for what happens above it, chosen by what a shortened value would mean:
//!
//! | field | bound | over the bound | why |
//! | --- | --- | --- | --- |
//! | `key` (user, organization) | 1 KiB | the entry has no usable key | an identity cut short names another member |
//! | `email` | 320 B | dropped | RFC 5321's limit (64 + 1 + 255); a cut address is a different, perhaps real, one |
//! | `displayName`, `firstName`, `lastName`, `name` | 1 KiB | truncated at a character boundary | the start of a name still names the person |
//! | `image` | 2 KiB | dropped | a cut URL (or `data:` URI) is a broken image, not a smaller one |
//! | `orgKey` | 1 KiB | dropped | an identity, as `key` |
//!
//! With these bounds a member's strings take at most 6.3 KiB, so an event (before and
//! after) stays far below any broker's limit.
//!
//! Pure and synchronous, like the rest of `wire`: it returns what it bounded and the
//! client logs it.

use std::collections::{HashMap, HashSet};

use super::Field;

/// Bytes of the user and organization keys, and of `orgKey`.
pub(crate) const KEY_BYTES: usize = 1024;
/// Bytes of an email address (RFC 5321: 64 for the local part, 1, 255 for the domain).
pub(crate) const EMAIL_BYTES: usize = 320;
/// Bytes of each name field.
pub(crate) const NAME_BYTES: usize = 1024;
/// Bytes of the avatar URL.
pub(crate) const IMAGE_BYTES: usize = 2048;
/// Characters of an oversized key quoted to name its entry.
const KEY_QUOTE_CHARS: usize = 64;

/// What was done to a value over its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoundAction {
    /// Cut to the bound at a character boundary.
    Truncated,
    /// Replaced by null (or, for a key, the entry is unusable).
    Dropped,
}

impl BoundAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BoundAction::Truncated => "truncated",
            BoundAction::Dropped => "dropped",
        }
    }
}

/// One value over its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// The member (or user, or organization) the value belongs to; for an oversized
    /// key, its first 64 characters followed by `…`.
    pub owner: String,
    field: Field,
    /// The value's size in bytes as Streak sent it.
    pub bytes: usize,
    pub action: BoundAction,
}

impl Oversized {
    /// The JSON name of the field (the `field` label of `api_drift_total`).
    pub fn field(&self) -> &'static str {
        self.field.json_name()
    }

    /// The field's index in `FIELDS`, for counting.
    pub(super) fn field_index(&self) -> usize {
        self.field as usize
    }
}

/// The rule of a string field: its bound and what happens above it. `None` for the
/// fields that are not strings.
fn rule(field: Field) -> Option<(usize, BoundAction)> {
    match field {
        Field::Key | Field::OrgKey => Some((KEY_BYTES, BoundAction::Dropped)),
        Field::Email => Some((EMAIL_BYTES, BoundAction::Dropped)),
        Field::DisplayName | Field::FirstName | Field::LastName | Field::Name => {
            Some((NAME_BYTES, BoundAction::Truncated))
        }
        Field::Image => Some((IMAGE_BYTES, BoundAction::Dropped)),
        Field::IsOrgAdmin | Field::LastSeenTimestamp | Field::CreationTimestamp => None,
    }
}

/// Applies the field's bound to a string: `Ok` with the value to keep (cut or
/// whole), `Err(action)` when it is dropped. The second member of `Ok` says whether
/// the value was cut.
pub(super) fn apply(field: Field, mut value: String) -> Result<(String, bool), BoundAction> {
    let Some((bound, action)) = rule(field) else {
        return Ok((value, false));
    };
    if value.len() <= bound {
        return Ok((value, false));
    }
    match action {
        BoundAction::Dropped => Err(BoundAction::Dropped),
        BoundAction::Truncated => {
            value.truncate(floor_char_boundary(&value, bound));
            Ok((value, true))
        }
    }
}

/// The largest index `<= at` on a character boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    // A UTF-8 character is at most 4 bytes, so a boundary is at most 3 bytes back;
    // index 0 is always one.
    (at.saturating_sub(3)..=at)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// Whether a key is within its bound.
pub(super) fn key_fits(key: &str) -> bool {
    key.len() <= KEY_BYTES
}

/// How an oversized key is named: its first 64 characters and `…`.
pub(super) fn quote_key(key: &str) -> String {
    let mut quoted: String = key.chars().take(KEY_QUOTE_CHARS).collect();
    quoted.push('…');
    quoted
}

pub(super) fn oversized(owner: &str, field: Field, bytes: usize, action: BoundAction) -> Oversized {
    Oversized {
        owner: owner.to_owned(),
        field,
        bytes,
        action,
    }
}

/// The oversized values seen by the previous look of each scope (an organization's
/// listing, or an endpoint), so that a member's oversized field is logged when it
/// first appears, not at every poll.
///
/// Memory is bounded by what is oversized right now: each look replaces its scope's
/// set with the values it saw, so a member whose field shrinks back (or who leaves)
/// is forgotten, and logged again if the field grows past its bound once more. A
/// restart forgets everything, and logs each oversized value once more.
#[derive(Debug, Default)]
pub(crate) struct OversizedMemo {
    seen: HashMap<String, HashSet<(String, Field, BoundAction)>>,
}

impl OversizedMemo {
    /// Records the oversized values of one look at `scope` and returns those the
    /// previous look at the same scope did not have.
    pub(crate) fn fresh<'a>(&mut self, scope: &str, now: &'a [Oversized]) -> Vec<&'a Oversized> {
        let before = self.seen.remove(scope).unwrap_or_default();
        let mut current = HashSet::new();
        let mut fresh = Vec::new();
        for o in now {
            let id = (o.owner.clone(), o.field, o.action);
            // A member listed twice (merged entries) is reported once.
            if !before.contains(&id) && !current.contains(&id) {
                fresh.push(o);
            }
            current.insert(id);
        }
        if !current.is_empty() {
            self.seen.insert(scope.to_owned(), current);
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_at_a_character_boundary_within_the_bound() {
        // 'é' is 2 bytes: 1023 of them is 2046 bytes; 1024 bytes falls on a boundary.
        let (v, cut) = apply(Field::DisplayName, "é".repeat(1023)).unwrap();
        assert!(cut);
        assert_eq!(v.len(), 1024);
        // '€' is 3 bytes: 1024 is not a boundary (1023 is).
        let (v, cut) = apply(Field::FirstName, format!("a{}", "€".repeat(400))).unwrap();
        assert!(cut);
        assert_eq!(v.len(), 1024);
        assert!(v.starts_with('a') && v.ends_with('€'));
        // '😀' is 4 bytes: from 1 + 4k, the cut lands 3 bytes back at most.
        let (v, _) = apply(Field::LastName, format!("ab{}", "😀".repeat(300))).unwrap();
        assert_eq!(v.len(), 1022);
        let (v, cut) = apply(Field::Name, "n".repeat(1024)).unwrap();
        assert!(!cut);
        assert_eq!(v.len(), 1024);
    }

    #[test]
    fn identities_urls_and_addresses_are_dropped_not_cut() {
        let data_uri = format!("data:image/png;base64,{}", "A".repeat(1_500_000));
        assert_eq!(apply(Field::Image, data_uri), Err(BoundAction::Dropped));
        assert_eq!(
            apply(Field::Email, format!("{}@x.io", "a".repeat(320))),
            Err(BoundAction::Dropped)
        );
        assert_eq!(
            apply(Field::OrgKey, "o".repeat(1025)),
            Err(BoundAction::Dropped)
        );
        let image = "i".repeat(2048);
        assert_eq!(apply(Field::Image, image.clone()), Ok((image, false)));
        assert!(key_fits(&"k".repeat(1024)));
        assert!(!key_fits(&"k".repeat(1025)));
        assert_eq!(quote_key(&"k".repeat(2000)).chars().count(), 65);
    }

    #[test]
    fn the_memo_reports_a_value_once_while_it_stays_oversized() {
        let ann = oversized("ann", Field::Image, 3000, BoundAction::Dropped);
        let bob = oversized("bob", Field::DisplayName, 2000, BoundAction::Truncated);
        let mut memo = OversizedMemo::default();
        assert_eq!(memo.fresh("o1", std::slice::from_ref(&ann)), vec![&ann]);
        assert!(memo.fresh("o1", std::slice::from_ref(&ann)).is_empty());
        // Another scope has its own memory.
        assert_eq!(memo.fresh("o2", std::slice::from_ref(&ann)), vec![&ann]);
        let both = [ann.clone(), bob.clone()];
        assert_eq!(memo.fresh("o1", &both), vec![&bob]);
        // Ann's image shrinks back, then grows again: logged again.
        assert!(memo.fresh("o1", std::slice::from_ref(&bob)).is_empty());
        assert_eq!(memo.fresh("o1", &both), vec![&ann]);
        // Nothing oversized: the scope is forgotten.
        assert!(memo.fresh("o1", &[]).is_empty());
        assert!(!memo.seen.contains_key("o1"));
    }
}
