//! Deterministic event ids: the same change detected by the same poll always gets
//! the same id, so a consumer can drop duplicates (a replayed poll, a re-read
//! topic) by `event_id` alone.
//!
//! This module owns the id derivation and must not change it: ids already in
//! Kafka topics were derived this way (the incarnation suffix is only added for
//! checkpoints that carry one).

use uuid::Uuid;

use super::model::EventType;

/// The product's UUIDv5 namespace for membership events:
/// `uuid5(NAMESPACE_URL, "urn:streak-connector:membership-event")`.
pub(crate) const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6e865e93_2cfe_5ce6_a430_359baaae5188);

/// `uuid5(EVENT_ID_NAMESPACE, name)` where `name` is, unambiguously:
/// `u32be(len(org_key)) org_key u32be(len(user_key)) user_key
/// u32be(len(type)) type u64be(poll_seq)`, with `type` the wire name
/// (`JOINED`, ...), followed by the 16 bytes of the state incarnation when the
/// organization's checkpoint has one. Length prefixes keep `("ab", "c")` apart
/// from `("a", "bc")` whatever bytes the keys hold; the incarnation's fixed length
/// keeps names with and without it apart.
///
/// Without an incarnation (checkpoints written before it existed) the formula is
/// exactly the original one, so the ids of an existing deployment do not change.
pub fn event_id(
    org_key: &str,
    user_key: &str,
    event_type: EventType,
    poll_seq: u64,
    incarnation: Option<Uuid>,
) -> Uuid {
    let type_name = event_type.as_str();
    let mut name = Vec::with_capacity(36 + org_key.len() + user_key.len() + type_name.len());
    for part in [org_key, user_key, type_name] {
        // Keys longer than 4 GiB cannot come out of one JSON listing held in memory.
        name.extend_from_slice(&(part.len() as u32).to_be_bytes());
        name.extend_from_slice(part.as_bytes());
    }
    name.extend_from_slice(&poll_seq.to_be_bytes());
    if let Some(incarnation) = incarnation {
        name.extend_from_slice(incarnation.as_bytes());
    }
    Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_the_documented_derivation() {
        assert_eq!(
            EVENT_ID_NAMESPACE,
            Uuid::new_v5(
                &Uuid::NAMESPACE_URL,
                b"urn:streak-connector:membership-event"
            )
        );
    }

    #[test]
    fn id_is_stable_across_releases() {
        // Pinned: a change here would break consumers' deduplication.
        let id = event_id("org1", "user1", EventType::Joined, 7, None);
        assert_eq!(id.get_version_num(), 5);
        let mut name = Vec::new();
        name.extend_from_slice(b"\0\0\0\x04org1\0\0\0\x05user1\0\0\0\x06JOINED");
        name.extend_from_slice(&7u64.to_be_bytes());
        assert_eq!(id, Uuid::new_v5(&EVENT_ID_NAMESPACE, &name));
    }

    #[test]
    fn every_input_matters_and_boundaries_are_unambiguous() {
        let base = event_id("ab", "c", EventType::Left, 1, None);
        assert_ne!(base, event_id("a", "bc", EventType::Left, 1, None));
        assert_ne!(base, event_id("ab", "c", EventType::Joined, 1, None));
        assert_ne!(base, event_id("ab", "c", EventType::Left, 2, None));
        assert_ne!(base, event_id("ab", "d", EventType::Left, 1, None));
        assert_ne!(
            event_id("a\0", "b", EventType::Left, 1, None),
            event_id("a", "\0b", EventType::Left, 1, None)
        );
        assert_eq!(base, event_id("ab", "c", EventType::Left, 1, None));
    }
    #[test]
    fn incarnation_is_a_suffix_and_separates_recreated_state() {
        let inc = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let id = event_id("org1", "user1", EventType::Joined, 7, Some(inc));
        let mut name = Vec::new();
        name.extend_from_slice(b"\0\0\0\x04org1\0\0\0\x05user1\0\0\0\x06JOINED");
        name.extend_from_slice(&7u64.to_be_bytes());
        name.extend_from_slice(inc.as_bytes());
        assert_eq!(id, Uuid::new_v5(&EVENT_ID_NAMESPACE, &name));
        assert_ne!(id, event_id("org1", "user1", EventType::Joined, 7, None));
        let other = Uuid::from_u128(1);
        assert_ne!(
            id,
            event_id("org1", "user1", EventType::Joined, 7, Some(other))
        );
    }
}
