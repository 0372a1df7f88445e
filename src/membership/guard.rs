//! The departure guard: the safety net that refuses to publish a mass departure
//! that is more likely an API or permission fault than people leaving (identity
//! sync tools do the same: Entra Connect's export threshold, Okta's import
//! safeguard).
//!
//! This module owns the rule and the operator's one-shot release. It must not
//! count, log or remember anything: the verdict is returned to the runtime, which
//! raises the metric, logs the reason and holds the organization.

use std::fmt;

use super::settings::Settings;

/// An operator's release of one held poll of one organization: lets through the
/// poll whose departure count is exactly `expected_departures`, and nothing else.
///
/// The count makes the release an informed decision: the operator read the held
/// verdict ("would remove 412 of 1030 members") and confirms that number. If the
/// listing changes before the next poll so that the count differs, the release
/// does not apply and the organization stays held, with the mismatch in the
/// verdict. A release never affects other organizations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuardRelease {
    pub org_key: String,
    pub expected_departures: usize,
}

/// Why the guard holds an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldReason {
    /// At least `min_departures` members would leave, and more than
    /// `max_departure_fraction` of the known members.
    TooManyDepartures,
    /// The organization has known members and the listing holds none.
    EmptyListing,
}

impl HoldReason {
    /// A fixed code for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::TooManyDepartures => "too_many_departures",
            HoldReason::EmptyListing => "empty_listing",
        }
    }
}

/// Why a release that was passed in did not let the poll through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReleaseRefused {
    /// The release names another organization.
    OtherOrganization { org_key: String },
    /// The poll would remove a different number of members than the release says.
    DepartureCountMismatch { expected_departures: usize },
}

/// The guard's decision for one poll.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GuardVerdict {
    /// Within limits: the outcome carries the poll's events and writes.
    Proceed,
    /// Over the limits, let through by a matching [`GuardRelease`]: the outcome
    /// carries the poll's events and writes; the runtime should now discard the
    /// release once the poll committed.
    Released { departures: usize, known: usize },
    /// Over the limits: the outcome has no events and no writes, and the
    /// organization's state and poll sequence stay as they are.
    Held {
        /// LEFT events the poll would have emitted.
        departures: usize,
        /// Members known before the poll.
        known: usize,
        reason: HoldReason,
        /// Set when a release was given but did not match.
        release_refused: Option<ReleaseRefused>,
    },
}

impl GuardVerdict {
    pub(crate) fn is_held(&self) -> bool {
        matches!(self, GuardVerdict::Held { .. })
    }
}

impl fmt::Display for GuardVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardVerdict::Proceed => f.write_str("proceed"),
            GuardVerdict::Released { departures, known } => write!(
                f,
                "released by operator: {departures} of {known} known members leave"
            ),
            GuardVerdict::Held {
                departures,
                known,
                reason,
                release_refused,
            } => {
                match reason {
                    HoldReason::EmptyListing => write!(
                        f,
                        "held: the listing is empty but {known} members are known \
                         ({departures} departures)"
                    )?,
                    HoldReason::TooManyDepartures => {
                        write!(f, "held: {departures} of {known} known members would leave")?
                    }
                }
                match release_refused {
                    None => Ok(()),
                    Some(ReleaseRefused::OtherOrganization { org_key }) => {
                        write!(f, "; the release given names organization {org_key}")
                    }
                    Some(ReleaseRefused::DepartureCountMismatch {
                        expected_departures,
                    }) => write!(
                        f,
                        "; the release given expects {expected_departures} departures, \
                         not {departures}: still held"
                    ),
                }
            }
        }
    }
}

/// Judge one poll. `departures` counts the LEFT events the poll would emit (zero
/// for an incomplete listing), `known` the members known before it.
pub(crate) fn evaluate(
    org_key: &str,
    known: usize,
    listing_empty: bool,
    departures: usize,
    settings: &Settings,
    release: Option<&GuardRelease>,
) -> GuardVerdict {
    let reason = if known > 0 && listing_empty {
        HoldReason::EmptyListing
    } else if departures >= settings.min_departures
        && departures as f64 > settings.max_departure_fraction * known as f64
    {
        HoldReason::TooManyDepartures
    } else {
        return GuardVerdict::Proceed;
    };
    let release_refused = match release {
        None => None,
        Some(r) if r.org_key != org_key => Some(ReleaseRefused::OtherOrganization {
            org_key: r.org_key.clone(),
        }),
        Some(r) if r.expected_departures != departures => {
            Some(ReleaseRefused::DepartureCountMismatch {
                expected_departures: r.expected_departures,
            })
        }
        Some(_) => return GuardVerdict::Released { departures, known },
    };
    GuardVerdict::Held {
        departures,
        known,
        reason,
        release_refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(known: usize, departures: usize) -> GuardVerdict {
        evaluate("o", known, false, departures, &Settings::default(), None)
    }

    #[test]
    fn min_departures_edge() {
        // 9 of 20 is 45% but under the absolute minimum; 10 of 20 is both.
        assert_eq!(judge(20, 9), GuardVerdict::Proceed);
        assert!(judge(20, 10).is_held());
    }

    #[test]
    fn fraction_edge() {
        // Strictly more than 20%.
        assert_eq!(judge(100, 20), GuardVerdict::Proceed);
        assert!(judge(100, 21).is_held());
        assert_eq!(judge(50, 10), GuardVerdict::Proceed);
        assert!(judge(50, 11).is_held());
        // A large org: many departures, small fraction.
        assert_eq!(judge(100_000, 20_000), GuardVerdict::Proceed);
        assert!(judge(100_000, 20_001).is_held());
    }

    #[test]
    fn empty_listing_holds_whatever_the_count() {
        let s = Settings::default();
        let v = evaluate("o", 1, true, 1, &s, None);
        assert_eq!(
            v,
            GuardVerdict::Held {
                departures: 1,
                known: 1,
                reason: HoldReason::EmptyListing,
                release_refused: None
            }
        );
        // Nothing known, nothing listed: a first poll of an empty org.
        assert_eq!(evaluate("o", 0, true, 0, &s, None), GuardVerdict::Proceed);
    }

    #[test]
    fn release_lets_exactly_the_matching_poll_through() {
        let s = Settings::default();
        let ok = GuardRelease {
            org_key: "o".into(),
            expected_departures: 30,
        };
        assert_eq!(
            evaluate("o", 100, false, 30, &s, Some(&ok)),
            GuardVerdict::Released {
                departures: 30,
                known: 100
            }
        );
        let v = evaluate("o", 100, false, 31, &s, Some(&ok));
        assert_eq!(
            v,
            GuardVerdict::Held {
                departures: 31,
                known: 100,
                reason: HoldReason::TooManyDepartures,
                release_refused: Some(ReleaseRefused::DepartureCountMismatch {
                    expected_departures: 30
                }),
            }
        );
        assert!(
            v.to_string().contains("expects 30 departures, not 31"),
            "{v}"
        );
        let other = GuardRelease {
            org_key: "p".into(),
            expected_departures: 30,
        };
        assert!(matches!(
            evaluate("o", 100, false, 30, &s, Some(&other)),
            GuardVerdict::Held {
                release_refused: Some(ReleaseRefused::OtherOrganization { .. }),
                ..
            }
        ));
        // Not needed, not used.
        assert_eq!(
            evaluate("o", 100, false, 3, &s, Some(&ok)),
            GuardVerdict::Proceed
        );
    }

    #[test]
    fn settings_are_honoured() {
        let s = Settings {
            min_departures: 1,
            max_departure_fraction: 0.5,
            ..Settings::default()
        };
        assert_eq!(evaluate("o", 4, false, 2, &s, None), GuardVerdict::Proceed);
        assert!(evaluate("o", 4, false, 3, &s, None).is_held());
    }
}
