//! Validation of `[[faults]]` entries into typed [`Fault`]s: targeting, request
//! selection, and the parameters each kind takes (and refuses).

use std::collections::HashSet;

use axum::http::StatusCode;

use super::file::FaultFile;
use super::validate::parse_duration;
use crate::simulator::faults::{self, Fault, FaultKind, KeyValue, RetryAfter, When, KIND_NAMES};
use crate::simulator::model::Endpoint;

pub(super) fn fault(f: &FaultFile, org_keys: &HashSet<&str>) -> Result<Fault, String> {
    if let Some(org) = &f.org {
        if !org_keys.contains(org.as_str()) {
            return Err(format!(
                "org `{org}` is not an organization of the scenario"
            ));
        }
    }
    let endpoint = match &f.endpoint {
        None => None,
        Some(name) => Some(Endpoint::from_name(name).ok_or_else(|| {
            format!("endpoint `{name}`: use users_me, organization or organization_users")
        })?),
    };
    if f.requests.as_ref().is_some_and(|r| r.contains(&0))
        || f.from_request == Some(0)
        || f.until_request == Some(0)
    {
        return Err("request numbers start at 1".into());
    }
    let probability = match (f.probability, f.seed) {
        (Some(p), seed) if (0.0..=1.0).contains(&p) => Some((p, seed.unwrap_or(0))),
        (Some(p), _) => return Err(format!("probability {p} is not between 0 and 1")),
        (None, Some(_)) => return Err("`seed` only goes with `probability`".into()),
        (None, None) => None,
    };
    let when = When {
        requests: f.requests.clone(),
        from: f.from_request,
        until: f.until_request,
        probability,
    };
    let kind = fault_kind(f)?;
    if let Some(e) = endpoint {
        if !kind.endpoints().contains(&e) {
            return Err(format!("this kind does not apply to endpoint `{e}`"));
        }
    }
    Ok(Fault {
        org: f.org.clone(),
        endpoint,
        when,
        kind,
    })
}

/// Refuses a parameter the kind does not take (and an unknown kind).
fn check_parameters(f: &FaultFile) -> Result<(), String> {
    // Parameters each kind accepts; any other one given is a mistake worth reporting.
    let given: Vec<&str> = [
        ("status", f.status.is_some()),
        ("message", f.message.is_some()),
        ("retry_after", f.retry_after.is_some()),
        ("retry_after_format", f.retry_after_format.is_some()),
        ("delay", f.delay.is_some()),
        ("fraction", f.fraction.is_some()),
        ("abort_connection", f.abort_connection.is_some()),
        ("count", f.count.is_some()),
        ("key_value", f.key_value.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    let allowed: &[&str] = match f.kind.as_str() {
        "http_error" => &["status", "message", "retry_after", "retry_after_format"],
        "html_error" => &["status"],
        "delay" => &["delay"],
        "truncated_body" => &["fraction", "abort_connection"],
        "duplicate_entries"
        | "timestamps_in_seconds"
        | "wrong_field_types"
        | "unknown_fields"
        | "null_fields"
        | "absurd_timestamps" => &["count"],
        "entry_without_key" => &["count", "key_value"],
        "malformed_json" | "empty_listing" | "object_body" => &[],
        other => {
            return Err(format!(
                "unknown kind `{other}`; kinds are: {}",
                KIND_NAMES.join(", ")
            ))
        }
    };
    match given.iter().find(|g| !allowed.contains(g)) {
        Some(bad) => Err(format!("`{bad}` does not apply to this kind")),
        None => Ok(()),
    }
}

fn status_of(
    f: &FaultFile,
    default: u16,
    range: std::ops::RangeInclusive<u16>,
) -> Result<StatusCode, String> {
    let s = f.status.unwrap_or(default);
    if !range.contains(&s) {
        return Err(format!(
            "status {s} is outside {}..={}",
            range.start(),
            range.end()
        ));
    }
    StatusCode::from_u16(s).map_err(|e| format!("status {s}: {e}"))
}

fn http_error(f: &FaultFile) -> Result<FaultKind, String> {
    let Some(_) = f.status else {
        return Err("`status` is required (e.g. 429, 500, 503, 401)".into());
    };
    let status = status_of(f, 500, 400..=599)?;
    let retry_after = match (f.retry_after, f.retry_after_format.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => return Err("`retry_after_format` needs `retry_after`".into()),
        (Some(s), None | Some("seconds")) => Some(RetryAfter::Seconds(s)),
        (Some(s), Some("http_date")) => Some(RetryAfter::HttpDate(s)),
        (Some(_), Some(other)) => {
            return Err(format!(
                "retry_after_format `{other}`: use \"seconds\" or \"http_date\""
            ))
        }
    };
    Ok(FaultKind::HttpError {
        status,
        message: f
            .message
            .clone()
            .unwrap_or_else(|| faults::default_message(status)),
        retry_after,
    })
}

fn fault_kind(f: &FaultFile) -> Result<FaultKind, String> {
    check_parameters(f)?;
    Ok(match f.kind.as_str() {
        "http_error" => http_error(f)?,
        "html_error" => FaultKind::HtmlError {
            status: status_of(f, 502, 200..=599)?,
        },
        "delay" => {
            let Some(d) = &f.delay else {
                return Err("`delay` is required (e.g. \"2s\")".into());
            };
            FaultKind::Delay(parse_duration(d)?)
        }
        "malformed_json" => FaultKind::MalformedJson,
        "truncated_body" => {
            let fraction = f.fraction.unwrap_or(0.5);
            if !(0.0..=1.0).contains(&fraction) {
                return Err(format!("fraction {fraction} is not between 0 and 1"));
            }
            FaultKind::TruncatedBody {
                fraction,
                abort_connection: f.abort_connection.unwrap_or(false),
            }
        }
        "empty_listing" => FaultKind::EmptyListing,
        "object_body" => FaultKind::ObjectBody,
        "duplicate_entries" => FaultKind::DuplicateEntries {
            count: f.count.unwrap_or(1),
        },
        "timestamps_in_seconds" => FaultKind::TimestampsInSeconds { count: f.count },
        "wrong_field_types" => FaultKind::WrongFieldTypes {
            count: Some(f.count.unwrap_or(1)),
        },
        "entry_without_key" => FaultKind::EntryWithoutKey {
            count: Some(f.count.unwrap_or(1)),
            key_value: match f.key_value.as_deref().unwrap_or("missing") {
                "missing" => KeyValue::Missing,
                "null" => KeyValue::Null,
                "empty" => KeyValue::Empty,
                "number" => KeyValue::Number,
                other => {
                    return Err(format!(
                        "key_value `{other}`: use missing, null, empty or number"
                    ))
                }
            },
        },
        "unknown_fields" => FaultKind::UnknownFields { count: f.count },
        "null_fields" => FaultKind::NullFields { count: f.count },
        "absurd_timestamps" => FaultKind::AbsurdTimestamps { count: f.count },
        _ => unreachable!("kind checked above"),
    })
}
