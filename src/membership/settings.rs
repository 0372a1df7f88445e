//! The tunables of change detection: the inactivity threshold of the diff and the
//! limits of the departure guard. Read by both; owned by neither.

/// 30 days, the default inactivity threshold.
pub const DEFAULT_INACTIVE_AFTER_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The tunables of change detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// A member whose last activity is more than this long before `now` is inactive.
    pub inactive_after_ms: i64,
    /// The guard holds only when at least this many members would leave...
    pub min_departures: usize,
    /// ...and they are more than this fraction of the known members.
    pub max_departure_fraction: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            inactive_after_ms: DEFAULT_INACTIVE_AFTER_MS,
            min_departures: 10,
            max_departure_fraction: 0.2,
        }
    }
}
