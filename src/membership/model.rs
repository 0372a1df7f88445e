//! The domain types of membership change detection: what a member is, what the
//! connector remembers about one, an organization's state and checkpoint, and the
//! change events it emits. Pure data: no I/O, no clock. The organization's state,
//! [`super::OrgState`], has its own compact representation in `state.rs`.

/// One member of a Streak organization, normalized from the API's lenient JSON.
///
/// Only `key` is certain: Streak's membership endpoints are thinly documented, so
/// every other field may be absent. Timestamps are already normalized to epoch
/// milliseconds by the client (seconds were scaled, absurd values dropped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Member {
    /// Streak's stable user key: the identity of a member across polls.
    pub key: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Avatar URL.
    pub image: Option<String>,
    /// `None` when the API omitted the field (or sent a wrong type): unknown, which
    /// is not the same as "not an admin".
    pub is_org_admin: Option<bool>,
    /// Last activity, epoch milliseconds.
    pub last_seen_ms: Option<i64>,
    /// Account creation, epoch milliseconds: the activity fallback when
    /// `last_seen_ms` is missing.
    pub creation_ms: Option<i64>,
}

/// One organization's listing as fetched in one poll.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The members that parsed, one per key (duplicates already merged).
    pub members: Vec<Member>,
    /// False when at least one entry could not be read (no usable `key`): the
    /// unreadable entry may be a known member, so such a poll emits no LEFT.
    pub complete: bool,
}

/// What the connector knows about one member: the last member it saw, plus the
/// facts it derived. This is the value of a member's record in the state topic and
/// the `before`/`after` of change events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberState {
    pub member: Member,
    /// Whether the member was judged inactive at the last evaluation.
    pub inactive: bool,
    /// When the connector first saw this member (connector clock, epoch ms).
    pub first_seen_ms: i64,
    /// When the connector last emitted an event for this member (epoch ms).
    pub last_changed_ms: i64,
}

/// An organization's progress marker, stored in the state topic beside its members
/// and committed in the same transaction as the events of the poll it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub org_key: String,
    /// Per-organization poll sequence: the number of the last committed poll. It
    /// feeds deterministic event ids.
    pub poll_seq: u64,
    /// Connector clock at the last committed poll, epoch ms.
    pub last_poll_ms: i64,
    /// Members known after that poll.
    pub member_count: u64,
    /// The state incarnation: a random id created with the organization's first
    /// checkpoint and carried by every later one, mixed into event ids so that a
    /// recreated state topic (poll sequence back at 1) never repeats an id. `None`
    /// for checkpoints restored from records written before it existed: their
    /// organization keeps the event id formula without it.
    pub incarnation: Option<uuid::Uuid>,
}

/// The kinds of change, in the order they are emitted for one member in one poll
/// (the declaration order is that order: `ALL` and `Ord` follow it).
///
/// SNAPSHOT, JOINED and LEFT never combine with another type. The others can
/// co-occur and come security-first: an admin grant or revocation before a profile
/// edit, and inactivity last, since it is derived by the connector rather than
/// reported by Streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    Snapshot,
    Joined,
    Left,
    AdminChanged,
    ProfileChanged,
    WentInactive,
    Reactivated,
}

impl EventType {
    /// The wire name (Avro enum symbol, metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Snapshot => "SNAPSHOT",
            EventType::Joined => "JOINED",
            EventType::Left => "LEFT",
            EventType::AdminChanged => "ADMIN_CHANGED",
            EventType::ProfileChanged => "PROFILE_CHANGED",
            EventType::WentInactive => "WENT_INACTIVE",
            EventType::Reactivated => "REACTIVATED",
        }
    }

    /// Every type, in emission order.
    pub const ALL: [EventType; 7] = [
        EventType::Snapshot,
        EventType::Joined,
        EventType::Left,
        EventType::AdminChanged,
        EventType::ProfileChanged,
        EventType::WentInactive,
        EventType::Reactivated,
    ];
}

/// One change of one member, Debezium-style: the member as known before and as
/// seen now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// Deterministic (UUIDv5 of organization, member, type and poll sequence), so
    /// consumers can drop duplicates.
    pub event_id: uuid::Uuid,
    pub event_type: EventType,
    pub org_key: String,
    pub user_key: String,
    /// The member's email (from `after`, else `before`), for consumers that key on it.
    pub email: Option<String>,
    /// Connector clock at detection, epoch ms.
    pub detected_at_ms: i64,
    /// The organization's poll sequence of the poll that detected it.
    pub poll_seq: u64,
    pub before: Option<MemberState>,
    pub after: Option<MemberState>,
}

/// A write to the state topic produced by one poll.
// Records live only for one poll and most are `Member`: boxing would cost an
// allocation per record for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRecord {
    /// A member's new state; `state: None` is a tombstone (the member left).
    Member {
        org_key: String,
        user_key: String,
        state: Option<MemberState>,
    },
    /// The organization's checkpoint after the poll.
    Checkpoint(Checkpoint),
}

/// Where an event came from: the `source` record of every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The connector's name (also the root of its transactional id).
    pub connector: String,
    /// The product version that produced the event.
    pub version: String,
    /// This process's instance id (host name or pod name, plus a start nonce).
    pub instance: String,
}
