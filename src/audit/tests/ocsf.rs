//! Finding records as OCSF: every change and kind validates against the 1.8.0
//! schema of Detection Finding (scripts/ocsf-validate.py), and the mapping says
//! what the docs say.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::audit::continuous::FindingChange;
use crate::audit::ocsf::{finding_record, FINDING_CLASS_UID};
use crate::audit::*;
use crate::membership::{diff_changes, Listing, Member, OrgState, Settings};

const T0: i64 = 1_800_000_000_000;

fn member(key: &str, email: &str, admin: Option<bool>) -> Member {
    Member {
        key: key.into(),
        email: Some(email.into()),
        display_name: Some(format!("{key} name")),
        is_org_admin: admin,
        last_seen_ms: Some(T0),
        ..Member::default()
    }
}

/// Records of every change (appeared, changed, cleared) and kind, from the real
/// engine: a directory that suspends, then re-activates, then forgets people.
fn records() -> Vec<FindingRecord> {
    let opts = ReconcileOptions {
        directory_only: true,
    };
    let mut r = Reconciler::new(Directory::default(), opts);
    let mut state = OrgState::new("org");
    let mut out = Vec::new();
    let set = |r: &mut Reconciler, email: &str, status: Option<&str>| {
        let value = status.map(|s| format!("{{\"status\":\"{s}\"}}"));
        let update = parse_directory_record(
            Some(email.as_bytes()),
            value.as_deref().map(str::as_bytes),
            &DirectoryOptions::default(),
        )
        .expect("a valid directory record");
        r.apply_directory(update);
    };
    set(&mut r, "ann@corp.example", Some("active"));
    set(&mut r, "bob@corp.example", Some("suspended"));
    set(&mut r, "eve@corp.example", Some("suspended"));
    set(&mut r, "fay@corp.example", Some("active"));
    r.set_directory_loaded();
    let members = [
        member("k-ann", "ann@corp.example", Some(true)),
        member("k-bob", "bob@corp.example", Some(false)),
        member("k-cy", "not an email", None),
        member("k-dee", "Dee@Elsewhere.example", Some(true)),
        member("k-eve", "eve@corp.example", Some(false)),
    ];
    let mut now = T0;
    let mut step = |r: &mut Reconciler, state: &mut OrgState| {
        now += 60_000;
        let listing = Listing {
            members: members.to_vec(),
            complete: true,
        };
        let changes = diff_changes(state, &listing, now, &Settings::default(), None);
        let pending = r.poll(state, &changes);
        out.extend(pending.records.iter().cloned());
        r.commit(pending);
        state.apply_changes(changes);
    };
    step(&mut r, &mut state);
    set(&mut r, "ann@corp.example", Some("deleted"));
    set(&mut r, "bob@corp.example", Some("deleted"));
    set(&mut r, "eve@corp.example", Some("active"));
    set(&mut r, "fay@corp.example", None);
    step(&mut r, &mut state);
    out
}

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

#[test]
fn the_records_cover_every_change_and_kind() {
    let all = records();
    for change in [
        FindingChange::Appeared,
        FindingChange::Changed,
        FindingChange::Cleared,
    ] {
        assert!(all.iter().any(|r| r.change == change), "{change:?}");
    }
    for kind in FindingKind::ALL {
        assert!(
            all.iter()
                .any(|r| r.after.as_ref().or(r.before.as_ref()).map(|f| f.kind) == Some(kind)),
            "{kind:?}"
        );
    }
}

#[test]
fn the_mapping_is_detection_finding_with_a_lifecycle() {
    let all = records();
    for r in &all {
        let v = finding_record(r, "1.2.3");
        assert_eq!(v["class_uid"], FINDING_CLASS_UID);
        assert_eq!(v["metadata"]["uid"], r.finding_id.as_str());
        assert_eq!(v["metadata"]["tenant_uid"], "org");
        let (activity, status) = match r.change {
            FindingChange::Appeared => (1, 1),
            FindingChange::Changed => (2, 1),
            FindingChange::Cleared => (3, 4),
        };
        assert_eq!(
            (v["activity_id"].clone(), v["status_id"].clone()),
            (activity.into(), status.into())
        );
        assert_eq!(v["type_uid"], 200_400 + activity);
    }
    // One finding's life keeps one finding_info.uid.
    let ann: Vec<_> = all
        .iter()
        .filter(|r| r.user_key.as_deref() == Some("k-ann"))
        .map(|r| finding_record(r, "1")["finding_info"]["uid"].clone())
        .collect();
    assert_eq!(ann, ["org/member:k-ann"]);
    // An admin who left is High; an email OCSF rejects stays out of email_addr.
    let dee = all
        .iter()
        .find(|r| r.user_key.as_deref() == Some("k-dee"))
        .map(|r| finding_record(r, "1"))
        .expect("dee's finding");
    assert_eq!(dee["severity_id"], 4);
    let cy = all
        .iter()
        .find(|r| r.user_key.as_deref() == Some("k-cy"))
        .map(|r| finding_record(r, "1"))
        .expect("cy's finding");
    assert!(cy["resources"][0]["owner"].get("email_addr").is_none());
    assert_eq!(cy["unmapped"]["streak"]["email"], "not an email");
}

/// Every record validates against OCSF 1.8.0's Detection Finding. Skips when the
/// validator's packages are missing, unless STREAK_REQUIRE_OCSF is set.
#[test]
fn finding_records_validate_against_the_1_8_0_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all = records();
    let lines: Vec<String> = all
        .iter()
        .map(|r| finding_record(r, "0.1.0").to_string())
        .collect();
    std::fs::write(dir.path().join("findings.jsonl"), lines.join("\n")).expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ocsf-validate.py");
    let python = validator_python();
    let required = std::env::var_os("STREAK_REQUIRE_OCSF").is_some();
    let out = match Command::new(&python).arg(&script).arg(dir.path()).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(
                !required,
                "STREAK_REQUIRE_OCSF is set but {python:?} cannot run: {e}"
            );
            eprintln!("skipped: cannot run {python:?}: {e}");
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(3) {
        assert!(!required, "STREAK_REQUIRE_OCSF is set but:\n{text}");
        eprintln!("skipped: {text}");
        return;
    }
    assert!(out.status.success(), "OCSF validation failed:\n{text}");
    let n = all.len();
    assert!(
        text.contains(&format!("{n} of {n} records valid")),
        "{text}"
    );
}
