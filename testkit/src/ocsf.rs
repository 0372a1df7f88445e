//! The OCSF topic against the events topic (issue 14): with `ocsf_topic` set, every
//! committed event has exactly one committed OCSF record, under the same key bytes,
//! with `metadata.uid` its `event_id`, in the same order per key. [`one_to_one`]
//! checks that on what [`crate::topic::read_to_end`] read; it asserts nothing
//! itself, the tests do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use streak_connector::avro::{Decoder, Schemas};

use crate::topic::Raw;

/// What [`one_to_one`] matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcsfMatch {
    /// Events (and OCSF records) matched.
    pub records: usize,
    /// OCSF records per `class_uid`.
    pub by_class: BTreeMap<u64, usize>,
}

/// One event as the check needs it.
#[derive(Debug)]
struct Seen {
    partition: i32,
    key: Vec<u8>,
    org_key: String,
    user_key: String,
}

/// Checks that `ocsf` (the OCSF topic, read committed) holds exactly one record per
/// event of `events` (the events topic, read committed): same key bytes, same
/// partition, `metadata.uid` = `event_id`, `metadata.version` 1.8.0,
/// `metadata.tenant_uid` the organization, `user.uid` (or `entity.uid`) the member,
/// and per key the same order of event ids. Every problem found is in the error.
pub async fn one_to_one(events: &[Raw], ocsf: &[Raw]) -> Result<OcsfMatch, String> {
    let decoder = Decoder::new(Arc::new(
        Schemas::load().map_err(|e| format!("schemas: {e}"))?,
    ));
    let mut by_id: HashMap<String, Seen> = HashMap::new();
    let mut event_order: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for r in events {
        let key = r.key.clone().unwrap_or_default();
        let value = r
            .value
            .as_deref()
            .ok_or_else(|| format!("events p{}@{}: no value", r.partition, r.offset))?;
        let d = decoder
            .decode_event(&key, value)
            .await
            .map_err(|e| format!("events p{}@{}: {e}", r.partition, r.offset))?;
        let id = d.event.event_id.to_string();
        event_order.entry(key.clone()).or_default().push(id.clone());
        let seen = Seen {
            partition: r.partition,
            key,
            org_key: d.event.org_key,
            user_key: d.event.user_key,
        };
        if by_id.insert(id.clone(), seen).is_some() {
            return Err(format!("event {id} is twice on the events topic"));
        }
    }

    let mut problems = Vec::new();
    let mut matched: HashMap<String, (i32, i64)> = HashMap::new();
    let mut ocsf_order: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    let mut by_class: BTreeMap<u64, usize> = BTreeMap::new();
    for r in ocsf {
        let at = format!("OCSF p{}@{}", r.partition, r.offset);
        let Some(value) = r.value.as_deref() else {
            problems.push(format!("{at}: no value"));
            continue;
        };
        let record: serde_json::Value = match serde_json::from_slice(value) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{at}: not JSON: {e}"));
                continue;
            }
        };
        let text = |path: &[&str]| {
            path.iter()
                .try_fold(&record, |v, p| v.get(*p))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let Some(uid) = text(&["metadata", "uid"]) else {
            problems.push(format!("{at}: no metadata.uid"));
            continue;
        };
        *by_class
            .entry(record["class_uid"].as_u64().unwrap_or(0))
            .or_default() += 1;
        let key = r.key.clone().unwrap_or_default();
        ocsf_order.entry(key.clone()).or_default().push(uid.clone());
        if let Some((p, o)) = matched.insert(uid.clone(), (r.partition, r.offset)) {
            problems.push(format!(
                "{at}: event {uid} is twice on the OCSF topic (also p{p}@{o})"
            ));
        }
        let Some(event) = by_id.get(&uid) else {
            problems.push(format!("{at}: metadata.uid {uid} is no committed event"));
            continue;
        };
        if key != event.key {
            problems.push(format!("{at}: key differs from event {uid}'s"));
        }
        if r.partition != event.partition {
            problems.push(format!(
                "{at}: partition differs from event {uid}'s ({})",
                event.partition
            ));
        }
        if text(&["metadata", "version"]).as_deref() != Some("1.8.0") {
            problems.push(format!("{at}: metadata.version is not 1.8.0"));
        }
        if text(&["metadata", "tenant_uid"]).as_deref() != Some(event.org_key.as_str()) {
            problems.push(format!(
                "{at}: metadata.tenant_uid is not {}",
                event.org_key
            ));
        }
        let member = text(&["user", "uid"]).or_else(|| text(&["entity", "uid"]));
        if member.as_deref() != Some(event.user_key.as_str()) {
            problems.push(format!("{at}: the member is not {}", event.user_key));
        }
    }
    for id in by_id.keys() {
        if !matched.contains_key(id) {
            problems.push(format!("event {id} has no OCSF record"));
        }
    }
    if problems.is_empty() && ocsf_order != event_order {
        problems.push("the order of event ids per key differs between the topics".into());
    }
    if problems.is_empty() {
        Ok(OcsfMatch {
            records: ocsf.len(),
            by_class,
        })
    } else {
        Err(format!(
            "{} events, {} OCSF records; {} problem(s):\n{}",
            events.len(),
            ocsf.len(),
            problems.len(),
            problems.join("\n")
        ))
    }
}

/// The interpreter for `scripts/ocsf-validate.py`: `STREAK_OCSF_PYTHON`, else the
/// venv that `scripts/ci-setup.sh` makes, else `python3`.
fn validator_python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("STREAK_OCSF_PYTHON") {
        return p.into();
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = std::path::Path::new(&home).join(".cache/streak-connector/ocsf-venv/bin/python");
        if venv.exists() {
            return venv;
        }
    }
    "python3".into()
}

/// Runs `scripts/ocsf-validate.py` over `lines` (one OCSF record each, as `tail
/// --format ocsf` prints them) and returns its report when every record is valid.
/// `Ok(None)` when the validator's Python packages are missing and
/// `STREAK_REQUIRE_OCSF` is not set (scripts/test.sh sets it: then that is an
/// `Err`); `Err` with the report when a record is invalid.
pub fn validate(lines: &[String]) -> Result<Option<String>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let file = dir.path().join("records.jsonl");
    std::fs::write(&file, lines.join("\n")).map_err(|e| format!("writing records: {e}"))?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts/ocsf-validate.py");
    let required = std::env::var_os("STREAK_REQUIRE_OCSF").is_some();
    let python = validator_python();
    let out = match std::process::Command::new(&python)
        .arg(&script)
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(e) if !required => {
            eprintln!(
                "skipped OCSF validation: cannot run {}: {e}",
                python.display()
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(format!(
                "STREAK_REQUIRE_OCSF is set but {} cannot run: {e}",
                python.display()
            ))
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(3) if !required => {
            eprintln!("skipped OCSF validation: {text}");
            Ok(None)
        }
        Some(0) => {
            let n = lines.iter().filter(|l| !l.trim().is_empty()).count();
            if text.contains(&format!("{n} of {n} records valid")) {
                Ok(Some(text))
            } else {
                Err(format!(
                    "the validator did not count {n} valid records:\n{text}"
                ))
            }
        }
        _ => Err(format!("OCSF validation failed:\n{text}")),
    }
}
