//! The compact in-memory form of one tracked member: a whole [`MemberState`] packed
//! into a single heap allocation, so that a million-member organization costs a
//! few hundred megabytes at most, not a gigabyte of `String` headers and allocator
//! slack.
//!
//! This module owns the byte layout and nothing else: no lookups, no change rules.
//! The layout is private to the process (never written to Kafka, never persisted),
//! so it can change freely between versions.
//!
//! Layout (all integers little-endian, lengths LEB128):
//!
//! ```text
//! len(key) key
//! flags: u16
//! first_seen_ms: i64   last_changed_ms: i64
//! last_seen_ms: i64    (only if FLAG_LAST_SEEN)
//! creation_ms: i64     (only if FLAG_CREATION)
//! len(s) s             for each present string of email, display_name,
//!                      first_name, last_name, image (only if its flag is set)
//! ```
//!
//! The key comes first so hashing and key comparison read the fewest bytes.

use super::model::{Member, MemberState};

const FLAG_INACTIVE: u16 = 1 << 0;
const FLAG_ADMIN_KNOWN: u16 = 1 << 1;
const FLAG_ADMIN: u16 = 1 << 2;
const FLAG_LAST_SEEN: u16 = 1 << 3;
const FLAG_CREATION: u16 = 1 << 4;
/// First of the five consecutive "string present" flags (email .. image).
const FLAG_FIRST_STR: u32 = 5;

/// The profile strings, in layout order.
const STR_FIELDS: usize = 5;

/// One member, packed. Cheap to hold, cheap to compare against a fresh [`Member`];
/// turned back into a [`MemberState`] only for members that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedMember(Box<[u8]>);

/// A [`MemberState`] as borrowed parts, to pack without building it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemberParts<'a> {
    pub(crate) key: &'a str,
    /// email, display_name, first_name, last_name, image.
    pub(crate) strs: [Option<&'a str>; STR_FIELDS],
    pub(crate) is_org_admin: Option<bool>,
    pub(crate) last_seen_ms: Option<i64>,
    pub(crate) creation_ms: Option<i64>,
    pub(crate) inactive: bool,
    pub(crate) first_seen_ms: i64,
    pub(crate) last_changed_ms: i64,
}

/// A parsed view of a [`PackedMember`]: slices into its buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) key: &'a [u8],
    flags: u16,
    pub(crate) first_seen_ms: i64,
    pub(crate) last_changed_ms: i64,
    pub(crate) last_seen_ms: Option<i64>,
    pub(crate) creation_ms: Option<i64>,
    /// email, display_name, first_name, last_name, image.
    strs: [Option<&'a [u8]>; STR_FIELDS],
}

fn profile_fields(m: &Member) -> [Option<&str>; STR_FIELDS] {
    [
        m.email.as_deref(),
        m.display_name.as_deref(),
        m.first_name.as_deref(),
        m.last_name.as_deref(),
        m.image.as_deref(),
    ]
}

fn put_len(buf: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf.push(byte);
            return;
        }
        buf.push(byte | 0x80);
    }
}

fn len_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

fn get_len(buf: &[u8], pos: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let byte = buf[*pos];
        *pos += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn get_i64(buf: &[u8], pos: &mut usize) -> i64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[*pos..*pos + 8]);
    *pos += 8;
    i64::from_le_bytes(bytes)
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_len(buf, pos);
    let bytes = &buf[*pos..*pos + len];
    *pos += len;
    bytes
}

/// Bytes back to a `String`. The bytes were a `String` when packed, so this never
/// replaces anything; the lossy form just keeps a panic path out of the code.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl PackedMember {
    pub(crate) fn pack(state: &MemberState) -> Self {
        let m = &state.member;
        Self::pack_parts(
            m,
            m.is_org_admin,
            state.inactive,
            state.first_seen_ms,
            state.last_changed_ms,
        )
    }

    /// The packing of the [`MemberState`] of `m` with `is_org_admin` replaced by
    /// `admin` and the derived facts given, without building that state first (the
    /// diff packs a listed member straight from the listing).
    pub(crate) fn pack_parts(
        m: &Member,
        admin: Option<bool>,
        inactive: bool,
        first_seen_ms: i64,
        last_changed_ms: i64,
    ) -> Self {
        Self::from_parts(&MemberParts {
            key: &m.key,
            strs: profile_fields(m),
            is_org_admin: admin,
            last_seen_ms: m.last_seen_ms,
            creation_ms: m.creation_ms,
            inactive,
            first_seen_ms,
            last_changed_ms,
        })
    }

    /// The packing of a member state given as borrowed parts: the restore decodes
    /// a state record's strings as slices of the record and packs them here, with
    /// no `String` in between.
    pub(crate) fn from_parts(p: &MemberParts<'_>) -> Self {
        let mut flags = 0u16;
        if p.inactive {
            flags |= FLAG_INACTIVE;
        }
        if let Some(admin) = p.is_org_admin {
            flags |= FLAG_ADMIN_KNOWN;
            if admin {
                flags |= FLAG_ADMIN;
            }
        }
        let mut size = len_size(p.key.len()) + p.key.len() + 2 + 16;
        if p.last_seen_ms.is_some() {
            flags |= FLAG_LAST_SEEN;
            size += 8;
        }
        if p.creation_ms.is_some() {
            flags |= FLAG_CREATION;
            size += 8;
        }
        for (i, s) in p.strs.iter().enumerate() {
            if let Some(s) = s {
                flags |= 1 << (FLAG_FIRST_STR + i as u32);
                size += len_size(s.len()) + s.len();
            }
        }
        // Sized exactly, so `into_boxed_slice` does not reallocate.
        let mut buf = Vec::with_capacity(size);
        put_len(&mut buf, p.key.len());
        buf.extend_from_slice(p.key.as_bytes());
        buf.extend_from_slice(&flags.to_le_bytes());
        buf.extend_from_slice(&p.first_seen_ms.to_le_bytes());
        buf.extend_from_slice(&p.last_changed_ms.to_le_bytes());
        if let Some(t) = p.last_seen_ms {
            buf.extend_from_slice(&t.to_le_bytes());
        }
        if let Some(t) = p.creation_ms {
            buf.extend_from_slice(&t.to_le_bytes());
        }
        for s in p.strs.into_iter().flatten() {
            put_len(&mut buf, s.len());
            buf.extend_from_slice(s.as_bytes());
        }
        debug_assert_eq!(buf.len(), size);
        PackedMember(buf.into_boxed_slice())
    }

    /// The member's key, as bytes (UTF-8: it was a `String`).
    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        let mut pos = 0;
        get_bytes(&self.0, &mut pos)
    }

    /// The member's key as text. The bytes were a `String` when packed, so the
    /// empty fallback is never taken; it keeps a panic path out of the code.
    pub(crate) fn key_str(&self) -> &str {
        std::str::from_utf8(self.key()).unwrap_or_default()
    }

    /// Read one byte per cache line of the packing and return their sum: a
    /// prefetch, so that the diff's later parsing finds the member in the cache.
    #[inline]
    pub(crate) fn touch(&self) -> u8 {
        let mut sum = self.0.last().copied().unwrap_or(0);
        for i in (0..self.0.len()).step_by(64) {
            sum = sum.wrapping_add(self.0[i]);
        }
        sum
    }

    /// Bytes this member holds on the heap (the allocator may round it up).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn view(&self) -> View<'_> {
        let buf = &self.0;
        let mut pos = 0;
        let key = get_bytes(buf, &mut pos);
        let flags = u16::from_le_bytes([buf[pos], buf[pos + 1]]);
        pos += 2;
        let first_seen_ms = get_i64(buf, &mut pos);
        let last_changed_ms = get_i64(buf, &mut pos);
        let last_seen_ms = (flags & FLAG_LAST_SEEN != 0).then(|| get_i64(buf, &mut pos));
        let creation_ms = (flags & FLAG_CREATION != 0).then(|| get_i64(buf, &mut pos));
        let mut strs = [None; STR_FIELDS];
        for (i, slot) in strs.iter_mut().enumerate() {
            if flags & (1 << (FLAG_FIRST_STR + i as u32)) != 0 {
                *slot = Some(get_bytes(buf, &mut pos));
            }
        }
        View {
            key,
            flags,
            first_seen_ms,
            last_changed_ms,
            last_seen_ms,
            creation_ms,
            strs,
        }
    }

    pub(crate) fn unpack(&self) -> MemberState {
        self.view().to_state()
    }
}

impl View<'_> {
    pub(crate) fn inactive(&self) -> bool {
        self.flags & FLAG_INACTIVE != 0
    }

    pub(crate) fn is_org_admin(&self) -> Option<bool> {
        (self.flags & FLAG_ADMIN_KNOWN != 0).then_some(self.flags & FLAG_ADMIN != 0)
    }

    /// Whether email, display name, first name, last name and image all equal the
    /// fresh member's.
    pub(crate) fn profile_eq(&self, m: &Member) -> bool {
        self.strs
            .iter()
            .zip(profile_fields(m))
            .all(|(old, new)| *old == new.map(str::as_bytes))
    }

    pub(crate) fn to_state(self) -> MemberState {
        let s = |i: usize| self.strs[i].map(text);
        MemberState {
            member: Member {
                key: text(self.key),
                email: s(0),
                display_name: s(1),
                first_name: s(2),
                last_name: s(3),
                image: s(4),
                is_org_admin: self.is_org_admin(),
                last_seen_ms: self.last_seen_ms,
                creation_ms: self.creation_ms,
            },
            inactive: self.inactive(),
            first_seen_ms: self.first_seen_ms,
            last_changed_ms: self.last_changed_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member_state() -> impl Strategy<Value = MemberState> {
        let opt_str = || proptest::option::of(".{0,200}");
        (
            ".{0,300}",
            (opt_str(), opt_str(), opt_str(), opt_str(), opt_str()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            (any::<bool>(), any::<i64>(), any::<i64>()),
        )
            .prop_map(
                |(
                    key,
                    (email, display, first, last, image),
                    admin,
                    seen,
                    created,
                    (inactive, fs, lc),
                )| {
                    MemberState {
                        member: Member {
                            key,
                            email,
                            display_name: display,
                            first_name: first,
                            last_name: last,
                            image,
                            is_org_admin: admin,
                            last_seen_ms: seen,
                            creation_ms: created,
                        },
                        inactive,
                        first_seen_ms: fs,
                        last_changed_ms: lc,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trips(state in member_state()) {
            let packed = PackedMember::pack(&state);
            prop_assert_eq!(packed.key(), state.member.key.as_bytes());
            prop_assert!(packed.view().profile_eq(&state.member));
            prop_assert_eq!(packed.unpack(), state);
        }
    }

    #[test]
    fn long_strings_use_multi_byte_lengths() {
        let state = MemberState {
            member: Member {
                key: "k".repeat(70_000),
                image: Some("i".repeat(200)),
                ..Member::default()
            },
            inactive: false,
            first_seen_ms: 1,
            last_changed_ms: 2,
        };
        let packed = PackedMember::pack(&state);
        // 3-byte key length, 2-byte image length.
        assert_eq!(packed.heap_bytes(), 3 + 70_000 + 2 + 16 + 2 + 200);
        assert_eq!(packed.unpack(), state);
    }

    #[test]
    fn profile_eq_sees_each_field() {
        let base = Member {
            key: "k".into(),
            email: Some("a@x.io".into()),
            display_name: Some("A".into()),
            first_name: Some("F".into()),
            last_name: Some("L".into()),
            image: Some("https://i".into()),
            ..Member::default()
        };
        let packed = PackedMember::pack(&MemberState {
            member: base.clone(),
            inactive: false,
            first_seen_ms: 0,
            last_changed_ms: 0,
        });
        let view = packed.view();
        assert!(view.profile_eq(&base));
        let edits: [fn(&mut Member); 6] = [
            |m| m.email = None,
            |m| m.display_name = Some("B".into()),
            |m| m.first_name = Some(String::new()),
            |m| m.last_name = None,
            |m| m.image = Some("https://j".into()),
            |m| m.email = Some("A@x.io".into()),
        ];
        for edit in edits {
            let mut m = base.clone();
            edit(&mut m);
            assert!(!view.profile_eq(&m), "{m:?}");
        }
        // Fields outside the profile do not count.
        let mut m = base.clone();
        m.is_org_admin = Some(true);
        m.last_seen_ms = Some(5);
        assert!(view.profile_eq(&m));
    }
}
