//! The mappings against golden files and against the OCSF 1.8.0 schema.
//!
//! Golden files: `tests/golden/{ocsf,ecs}/<fixture>.json`, pretty JSON. After a
//! deliberate change of a mapping, rewrite them with
//! `STREAK_UPDATE_GOLDEN=1 cargo test --lib siem` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::fixtures;
use super::{ecs, ocsf, Change, Severity};
use crate::membership::EventType;

fn golden_dir(format: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format)
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a JSON value serializes");
    s.push('\n');
    s
}

fn check_golden(
    format: &str,
    record: fn(&crate::membership::ChangeEvent, &super::SiemOptions) -> Value,
) {
    let options = fixtures::options();
    let dir = golden_dir(format);
    let update = std::env::var_os("STREAK_UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for (name, event) in fixtures::all() {
        let path = dir.join(format!("{name}.json"));
        let actual = pretty(&record(&event, &options));
        if update {
            std::fs::create_dir_all(&dir).expect("create the golden directory");
            std::fs::write(&path, &actual).expect("write a golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (STREAK_UPDATE_GOLDEN=1 writes it)", path.display())
        });
        if expected != actual {
            mismatches.push(format!("{}:\n{actual}", path.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "output differs from the golden files:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn ocsf_records_match_the_golden_files() {
    check_golden("ocsf", ocsf::record);
}

#[test]
fn ecs_documents_match_the_golden_files() {
    check_golden("ecs", ecs::record);
}

/// The example records in docs/siem.md are the golden files, verbatim.
#[test]
fn docs_examples_are_the_golden_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/siem.md")).expect("docs/siem.md");
    let marker = "<!-- golden: ";
    let mut seen = 0;
    for part in doc.split(marker).skip(1) {
        let (name, rest) = part
            .split_once(" -->\n```json\n")
            .expect("a json block after the marker");
        let (block, _) = rest.split_once("```").expect("a closed block");
        let golden =
            std::fs::read_to_string(root.join("tests/golden").join(format!("{name}.json")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            block, golden,
            "docs/siem.md's {name} example differs from its golden file"
        );
        seen += 1;
    }
    assert!(seen >= 4, "docs/siem.md shows {seen} examples");
}

#[test]
fn fixtures_cover_every_event_type_and_direction() {
    let events = fixtures::all();
    for t in EventType::ALL {
        assert!(
            events.iter().any(|(_, e)| e.event_type == t),
            "no fixture for {t:?}"
        );
    }
    let changes: Vec<Change> = events.iter().map(|(_, e)| Change::of(e)).collect();
    for c in [
        Change::AdminGranted,
        Change::AdminRevoked,
        Change::AdminReported,
        Change::WentInactive,
        Change::Reactivated,
    ] {
        assert!(changes.contains(&c), "no fixture for {c:?}");
    }
    // The fixtures reuse the demo's event ids where docs/events.md quotes them.
    let ids: Vec<String> = events.iter().map(|(_, e)| e.event_id.to_string()).collect();
    for quoted in [
        "17f2a0d0-068c-5ba3-a2b2-553bdabb5735",
        "bee0f0fe-9147-5ff6-8a13-7069970edbf5",
        "1e4ecb30-0cf8-5081-8d07-0ced97a300f8",
        "f927be32-a494-5d30-85fc-b1a2fc0878e4",
    ] {
        assert!(
            ids.iter().any(|i| i == quoted),
            "{quoted} is not a fixture's id"
        );
    }
}

#[test]
fn ocsf_core_attributes_hold_for_every_event() {
    let options = fixtures::options();
    for (name, event) in fixtures::all() {
        let r = ocsf::record(&event, &options);
        let class_uid = r["class_uid"].as_u64().expect("class_uid");
        let activity_id = r["activity_id"].as_u64().expect("activity_id");
        assert_eq!(
            r["type_uid"].as_u64(),
            Some(class_uid * 100 + activity_id),
            "{name}"
        );
        assert_eq!(class_uid, u64::from(ocsf::class_of(&event).uid), "{name}");
        assert_eq!(r["metadata"]["uid"], event.event_id.to_string(), "{name}");
        assert_eq!(r["metadata"]["version"], "1.8.0", "{name}");
        assert_eq!(r["metadata"]["tenant_uid"], "org-lively", "{name}");
        assert_eq!(
            r["metadata"]["product"]["name"], "streak-connector",
            "{name}"
        );
        assert_eq!(r["metadata"]["product"]["version"], "0.1.0", "{name}");
        assert_eq!(r["time"].as_i64(), Some(event.detected_at_ms), "{name}");
        assert!(r.get("actor").is_none(), "{name}: an actor was invented");
        let says_no_audit_log = r["message"]
            .as_str()
            .expect("message")
            .contains("no audit log");
        assert_eq!(
            says_no_audit_log,
            event.event_type != EventType::Snapshot,
            "{name}"
        );
        assert!(r["unmapped"]["streak"]["actor"]
            .as_str()
            .expect("actor note")
            .contains("no audit log"));
        let user = r
            .get("user")
            .or_else(|| r["entity"].get("user"))
            .expect("a user");
        assert_eq!(user["uid"], event.user_key, "{name}");
    }
}

#[test]
fn ocsf_admin_changes_follow_the_direction() {
    let options = fixtures::options();
    let by_name = |wanted: &str| {
        let (_, e) = fixtures::all()
            .into_iter()
            .find(|(n, _)| *n == wanted)
            .expect("fixture");
        ocsf::record(&e, &options)
    };
    let grant = by_name("admin_granted");
    assert_eq!(
        (grant["class_uid"].as_u64(), grant["activity_id"].as_u64()),
        (Some(3005), Some(1))
    );
    assert_eq!(grant["user"]["type_id"], 2);
    assert_eq!(grant["privileges"][0], "Streak organization admin");
    assert!(grant["severity_id"].as_u64() > Some(u64::from(Severity::Informational.id())));
    let revoke = by_name("admin_revoked");
    assert_eq!(revoke["activity_id"], 2);
    assert_eq!(revoke["user"]["type_id"], 1);
    let reported = by_name("admin_reported");
    assert_eq!(
        (
            reported["activity_id"].as_u64(),
            reported["activity_name"].as_str()
        ),
        (Some(99), Some("Admin Status Reported"))
    );
    let profile = by_name("profile_changed");
    assert_eq!(
        profile["unmapped"]["streak"]["changed_fields"],
        serde_json::json!(["email", "display_name"])
    );
    assert_eq!(profile["user"]["email_addr"], "bob@lively.example.com");
    assert_eq!(
        profile["user_result"]["email_addr"],
        "robert@lively.example.com"
    );
    let odd = by_name("profile_changed_unusual_email");
    assert!(odd["user_result"].get("email_addr").is_none());
    assert_eq!(odd["user_result"]["name"], "robert@localhost");
    assert_eq!(odd["unmapped"]["streak"]["email"], "robert@localhost");
}

#[test]
fn bytes_are_the_record_as_compact_json() {
    let options = fixtures::options();
    for (name, event) in fixtures::all() {
        let o: Value = serde_json::from_slice(&ocsf::record_bytes(&event, &options)).expect("JSON");
        assert_eq!(o, ocsf::record(&event, &options), "{name}");
        let e: Value = serde_json::from_slice(&ecs::record_bytes(&event, &options)).expect("JSON");
        assert_eq!(e, ecs::record(&event, &options), "{name}");
        assert!(
            !ocsf::record_bytes(&event, &options).contains(&b'\n'),
            "{name}"
        );
    }
}

#[test]
fn severities_are_configurable() {
    let mut options = fixtures::options();
    options.severities.admin_granted = Severity::Critical;
    let (_, grant) = fixtures::all()
        .into_iter()
        .find(|(n, _)| *n == "admin_granted")
        .expect("fixture");
    assert_eq!(ocsf::record(&grant, &options)["severity_id"], 5);
    assert_eq!(ocsf::record(&grant, &options)["severity"], "Critical");
    assert_eq!(ecs::record(&grant, &options)["event"]["severity"], 5);
}

#[test]
fn ecs_never_names_the_member_as_the_actor() {
    let options = fixtures::options();
    for (name, event) in fixtures::all() {
        let d = ecs::record(&event, &options);
        assert_eq!(d["event"]["category"], serde_json::json!(["iam"]), "{name}");
        assert_eq!(d["event"]["id"], event.event_id.to_string(), "{name}");
        assert_eq!(d["related"]["user"][0], event.user_key, "{name}");
        if event.event_type == EventType::Snapshot {
            assert_eq!(d["event"]["kind"], "state");
            assert_eq!(d["user"]["id"], event.user_key);
        } else {
            assert_eq!(d["event"]["kind"], "event", "{name}");
            let user = d["user"].as_object().expect("user");
            assert!(
                user.keys().all(|k| k == "target" || k == "changes"),
                "{name}: user.* is an actor"
            );
            assert_eq!(d["user"]["target"]["id"], event.user_key, "{name}");
        }
    }
}

#[test]
fn ocsf_email_pattern() {
    for ok in [
        "a@b.c",
        "first.last+tag@sub.example.com",
        "o'neil@x-y.io",
        "a/b@c.d.",
    ] {
        assert!(ocsf::is_ocsf_email(ok), "{ok}");
    }
    for bad in [
        "", "a@b", "@b.c", "a@.c", "a@b.", "a b@c.d", "a@b@c.d", "ü@b.c", "a@b_c.d", "a@b.c\n",
    ] {
        assert!(!ocsf::is_ocsf_email(bad), "{bad:?}");
    }
}

/// The interpreter for `scripts/ocsf-validate.py`: `STREAK_OCSF_PYTHON`, else the
/// venv that scripts/ci-setup.sh makes, else `python3`.
fn validator_python() -> PathBuf {
    if let Some(p) = std::env::var_os("STREAK_OCSF_PYTHON") {
        return p.into();
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = Path::new(&home).join(".cache/streak-connector/ocsf-venv/bin/python");
        if venv.exists() {
            return venv;
        }
    }
    "python3".into()
}

/// Every fixture's OCSF record validates against the 1.8.0 schema of its class.
/// Skips when the validator's packages are missing, unless STREAK_REQUIRE_OCSF is set
/// (scripts/test.sh sets it), where that is a failure.
#[test]
fn ocsf_records_validate_against_the_1_8_0_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = fixtures::options();
    for (name, event) in fixtures::all() {
        std::fs::write(
            dir.path().join(format!("{name}.json")),
            pretty(&ocsf::record(&event, &options)),
        )
        .expect("write a record");
    }
    let variants = fixtures::variants(300);
    let lines: Vec<String> = variants
        .iter()
        .map(|e| ocsf::record(e, &options).to_string())
        .collect();
    std::fs::write(dir.path().join("variants.jsonl"), lines.join("\n")).expect("write variants");
    assert!(
        lines.iter().any(|l| l.contains("\"email\":\"a b@c.d\"")),
        "no variant with a rejected email"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ocsf-validate.py");
    let python = validator_python();
    let required = std::env::var_os("STREAK_REQUIRE_OCSF").is_some();
    let out = match Command::new(&python).arg(&script).arg(dir.path()).output() {
        Ok(out) => out,
        Err(e) if !required => {
            eprintln!(
                "skipped: cannot run {}: {e} (scripts/ci-setup.sh installs the validator)",
                python.display()
            );
            return;
        }
        Err(e) => panic!(
            "STREAK_REQUIRE_OCSF is set but {} cannot run: {e}",
            python.display()
        ),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(3) {
        assert!(
            !required,
            "STREAK_REQUIRE_OCSF is set but the validator cannot run:\n{text}"
        );
        eprintln!("skipped: {text}");
        return;
    }
    assert!(out.status.success(), "OCSF validation failed:\n{text}");
    let n = fixtures::all().len() + variants.len();
    assert!(
        text.contains(&format!("{n} of {n} records valid")),
        "{text}"
    );
}

/// The validator is not a rubber stamp: it rejects a record with a wrong type_uid, an
/// activity its class lacks, a missing required attribute and an attribute that is
/// not in the class.
#[test]
fn the_validator_rejects_broken_records() {
    let (_, event) = fixtures::all()
        .into_iter()
        .find(|(n, _)| *n == "admin_granted")
        .expect("fixture");
    let good = ocsf::record(&event, &fixtures::options());
    let mut broken = Vec::new();
    let mut r = good.clone();
    r["type_uid"] = 300_502.into();
    broken.push(("type_uid", r));
    let mut r = good.clone();
    r["activity_id"] = 7.into();
    broken.push(("activity", r));
    let mut r = good.clone();
    r.as_object_mut().expect("object").remove("privileges");
    broken.push(("required", r));
    let mut r = good.clone();
    r["group"] = serde_json::json!({"uid": "org-lively"});
    broken.push(("extra", r));
    let mut r = good;
    r["user"]["email_addr"] = "not an email".into();
    broken.push(("pattern", r));

    let dir = tempfile::tempdir().expect("temp dir");
    for (name, record) in &broken {
        std::fs::write(dir.path().join(format!("{name}.json")), pretty(record)).expect("write");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ocsf-validate.py");
    let required = std::env::var_os("STREAK_REQUIRE_OCSF").is_some();
    let Ok(out) = Command::new(validator_python())
        .arg(&script)
        .arg(dir.path())
        .output()
    else {
        assert!(
            !required,
            "STREAK_REQUIRE_OCSF is set but the validator cannot run"
        );
        return;
    };
    if out.status.code() == Some(3) {
        assert!(
            !required,
            "STREAK_REQUIRE_OCSF is set but the validator's packages are missing"
        );
        return;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("0 of 5 records valid"), "{text}");
    for (name, _) in &broken {
        assert!(
            text.contains(&format!("{name}.json: ")),
            "{name} not reported:\n{text}"
        );
    }
}
