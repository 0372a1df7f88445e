//! Directory files and topic records: every problem named by its line, nothing
//! dropped silently; and one-off reconciliation over a parsed directory.

use crate::audit::directory::DirectoryEntry;
use crate::audit::error::Problem;
use crate::audit::status::DirectoryStatus;
use crate::audit::*;
use crate::membership::Member;

/// Mixed case, a duplicate (by case), a conflicting duplicate, a missing email,
/// an invalid email, an unknown status, a stray quote, a short row, a quoted
/// field with a comma and one spanning two lines.
const MESSY_CSV: &str = "\
Email,Status,Name
Ann.Lee@Corp.com,Active,Ann Lee
bob@corp.com,SUSPENDED,Bob
ANN.LEE@corp.com,active,Ann again
,active,No Email
carol@corp.com,on-leave,Carol
dave@corp.com,active,Dave \"the\" Man
eve@corp.com,active
frank@corp.com,Deleted,\"Frank, Jr.\"
not-an-email,active,Nobody
BOB@corp.com,deleted,Bob twice
gina@corp.com,disabled,\"Gina
Two Lines\"
";

fn strict() -> DirectoryOptions {
    DirectoryOptions::default()
}

fn lenient() -> DirectoryOptions {
    DirectoryOptions {
        lenient: true,
        ..DirectoryOptions::default()
    }
}

#[test]
fn a_strict_load_fails_naming_every_bad_line() {
    let err = parse_directory(MESSY_CSV.as_bytes(), DirectoryFormat::Csv, &strict()).unwrap_err();
    let DirectoryError::Invalid(problems) = &err else {
        panic!("{err}");
    };
    let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8, 10, 11]);
    assert_eq!(
        problems[0].problem,
        Problem::Duplicate {
            email: "ann.lee@corp.com".into(),
            first_line: 2,
            kept: DirectoryStatus::Active
        }
    );
    assert_eq!(problems[1].problem, Problem::MissingEmail);
    assert_eq!(
        problems[2].problem,
        Problem::UnknownStatus("on-leave".into())
    );
    assert!(matches!(problems[3].problem, Problem::Syntax(_)));
    assert_eq!(
        problems[4].problem,
        Problem::FieldCount {
            expected: 3,
            found: 2
        }
    );
    assert_eq!(
        problems[5].problem,
        Problem::InvalidEmail("not-an-email".into())
    );
    let message = err.to_string();
    for needle in [
        "7 unusable line(s)",
        "line 4: duplicate of line 2 (ann.lee@corp.com)",
        "line 5: no email",
        "line 6: unknown status \"on-leave\"",
        "line 7: malformed: a quote inside an unquoted field",
        "line 8: malformed: 2 field(s) where the header has 3",
        "line 10: not an email: \"not-an-email\"",
        "line 11: duplicate of line 3 (bob@corp.com); kept status deleted",
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
}

#[test]
fn a_lenient_load_keeps_the_good_rows_and_returns_the_problems() {
    let loaded = parse_directory(MESSY_CSV.as_bytes(), DirectoryFormat::Csv, &lenient()).unwrap();
    assert_eq!(loaded.problems.len(), 7);
    let d = &loaded.directory;
    let got: Vec<(&str, DirectoryStatus, Option<u64>)> =
        d.iter().map(|(k, e)| (k, e.status, e.line)).collect();
    assert_eq!(
        got,
        [
            ("ann.lee@corp.com", DirectoryStatus::Active, Some(2)),
            // The conflicting duplicate keeps the most severe status.
            ("bob@corp.com", DirectoryStatus::Deleted, Some(3)),
            ("frank@corp.com", DirectoryStatus::Deleted, Some(9)),
            ("gina@corp.com", DirectoryStatus::Suspended, Some(12)),
        ]
    );
    assert_eq!(
        d.lookup("  ANN.lee@CORP.COM").map(|e| e.email.as_str()),
        Some("Ann.Lee@Corp.com")
    );
}

#[test]
fn header_problems_fail_the_whole_file() {
    let opts = strict();
    let err = |text: &str| {
        parse_directory(text.as_bytes(), DirectoryFormat::Csv, &opts)
            .unwrap_err()
            .to_string()
    };
    assert!(err("").contains("empty"));
    assert!(
        err("mail,status\n").contains("no column \"email\" in the header (found: mail, status)")
    );
    assert!(err("email,status,EMAIL\n").contains("names column \"email\" 2 times"));
    assert!(err("\"email,status\n").contains("line 1"));
}

#[test]
fn column_names_and_status_aliases_are_configurable() {
    let opts = DirectoryOptions {
        email_column: "Work Email".into(),
        status_column: "state".into(),
        status_aliases: vec![("on leave".into(), DirectoryStatus::Active)],
        ..DirectoryOptions::default()
    };
    let text = "id,work email,STATE\n1,a@corp.com,On-Leave\n2,b@corp.com,terminated\n";
    let d = parse_directory(text.as_bytes(), DirectoryFormat::Csv, &opts)
        .unwrap()
        .directory;
    assert_eq!(
        d.get("a@corp.com").map(|e| e.status),
        Some(DirectoryStatus::Active)
    );
    assert_eq!(
        d.get("b@corp.com").map(|e| e.status),
        Some(DirectoryStatus::Deleted)
    );
    for (name, status) in DirectoryStatus::SYNONYMS {
        assert_eq!(
            opts.status(&name.to_uppercase().replace('_', "-")),
            Some(status)
        );
    }
}

#[test]
fn plus_tags_collapse_only_when_asked_and_then_duplicates_are_reported() {
    let text = "email,status\nann@corp.com,active\nAnn+CRM@corp.com,suspended\n";
    let keep = parse_directory(text.as_bytes(), DirectoryFormat::Csv, &strict()).unwrap();
    assert_eq!(keep.directory.len(), 2);
    let opts = DirectoryOptions {
        normalisation: EmailNormalisation {
            strip_plus_tag: true,
        },
        ..lenient()
    };
    let strip = parse_directory(text.as_bytes(), DirectoryFormat::Csv, &opts).unwrap();
    assert_eq!(strip.directory.len(), 1);
    assert_eq!(strip.problems[0].line, 3);
    assert!(matches!(
        strip.problems[0].problem,
        Problem::Duplicate { first_line: 2, .. }
    ));
}

#[test]
fn json_lines_report_their_lines_too() {
    let text = concat!(
        "{\"email\":\"Ann@Corp.com\",\"status\":\"active\"}\n",
        "\n",
        "{\"email\":\"bob@corp.com\",\"status\":\"suspended\",\"extra\":1}\n",
        "{\"email\":\"ann@corp.com\",\"status\":\"active\"}\n",
        "{\"status\":\"active\"}\n",
        "{\"email\":\"carol@corp.com\",\"status\":7}\n",
        "[1,2]\n",
        "{\"email\":\"dave@corp.com\",\n",
        "{\"EMAIL\":\"erin@corp.com\",\"Status\":\"deleted\"}\n",
    );
    let err = parse_directory(text.as_bytes(), DirectoryFormat::JsonLines, &strict()).unwrap_err();
    let DirectoryError::Invalid(problems) = err else {
        panic!("not Invalid");
    };
    let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8]);
    assert_eq!(problems[1].problem, Problem::MissingEmail);
    assert!(problems[2]
        .to_string()
        .contains("field \"status\": a string was expected, found a number"));
    assert!(problems[3]
        .to_string()
        .contains("a JSON object was expected, found an array"));
    assert!(problems[4]
        .to_string()
        .contains("line 8: malformed: not JSON"));
    let loaded = parse_directory(text.as_bytes(), DirectoryFormat::JsonLines, &lenient()).unwrap();
    let emails: Vec<&str> = loaded.directory.iter().map(|(k, _)| k).collect();
    assert_eq!(emails, ["ann@corp.com", "bob@corp.com", "erin@corp.com"]);
}

#[test]
fn formats_are_known_by_extension_or_content() {
    assert_eq!(
        DirectoryFormat::from_path("hr/Export.CSV"),
        Some(DirectoryFormat::Csv)
    );
    assert_eq!(
        DirectoryFormat::from_path("x.ndjson"),
        Some(DirectoryFormat::JsonLines)
    );
    assert_eq!(DirectoryFormat::from_path("x.txt"), None);
    assert_eq!(
        DirectoryFormat::sniff("\u{feff}  {\"email\":1}"),
        DirectoryFormat::JsonLines
    );
    assert_eq!(DirectoryFormat::sniff("email,status"), DirectoryFormat::Csv);
}

#[test]
fn topic_records_are_upserts_or_tombstones_keyed_by_email() {
    let opts = strict();
    let rec = |k: Option<&str>, v: Option<&str>| {
        parse_directory_record(k.map(str::as_bytes), v.map(str::as_bytes), &opts)
    };
    let upsert = |email: &str, status| DirectoryUpdate::Upsert {
        normalised: email.to_lowercase(),
        entry: DirectoryEntry {
            email: email.into(),
            status,
            line: None,
        },
    };
    // The key alone names the person; a raw key, a JSON string key, a JSON object.
    assert_eq!(
        rec(Some("Ann@corp.com"), Some("{\"status\":\"active\"}")),
        Ok(upsert("Ann@corp.com", DirectoryStatus::Active))
    );
    assert_eq!(
        rec(
            Some("\"ann@corp.com\""),
            Some("{\"email\":\"ANN@corp.com\",\"status\":\"disabled\"}")
        ),
        Ok(upsert("ANN@corp.com", DirectoryStatus::Suspended))
    );
    assert_eq!(
        rec(Some("{\"email\":\"Ann@corp.com\"}"), None),
        Ok(DirectoryUpdate::Remove {
            normalised: "ann@corp.com".into()
        })
    );
    let mismatch = rec(
        Some("ann@corp.com"),
        Some("{\"email\":\"bob@corp.com\",\"status\":\"active\"}"),
    );
    assert!(matches!(
        mismatch,
        Err(DirectoryError::Record(Problem::KeyMismatch { .. }))
    ));
    assert_eq!(
        rec(None, None),
        Err(DirectoryError::Record(Problem::MissingEmail))
    );
    assert_eq!(
        rec(Some("ann@corp.com"), Some("{}")),
        Err(DirectoryError::Record(Problem::MissingStatus))
    );
    assert!(rec(Some("ann@corp.com"), Some("nope")).is_err());
}

fn member(key: &str, email: Option<&str>, admin: Option<bool>) -> Member {
    Member {
        key: key.into(),
        email: email.map(Into::into),
        display_name: Some(format!("User {key}")),
        is_org_admin: admin,
        ..Member::default()
    }
}

#[test]
fn reconcile_reports_each_kind_admins_first_then_by_email() {
    let loaded = parse_directory(MESSY_CSV.as_bytes(), DirectoryFormat::Csv, &lenient()).unwrap();
    let members = [
        member("k-frank", Some("Frank@corp.com"), Some(false)),
        member("k-ann", Some(" ann.lee@CORP.com "), Some(false)),
        member("k-zed", Some("zed@corp.com"), Some(true)),
        member("k-none", None, None),
        member("k-bob", Some("bob@corp.com"), Some(true)),
        member("k-gina", Some("gina@corp.com"), Some(false)),
    ];
    let opts = ReconcileOptions {
        directory_only: true,
    };
    let findings = reconcile("org", &members, &loaded.directory, opts);
    let got: Vec<(FindingKind, Option<&str>, Option<DirectoryStatus>)> = findings
        .iter()
        .map(|f| (f.kind, f.normalised_email.as_deref(), f.directory_status))
        .collect();
    use DirectoryStatus::*;
    use FindingKind::*;
    assert_eq!(
        got,
        [
            (InactiveInDirectory, Some("bob@corp.com"), Some(Deleted)),
            (NotInDirectory, Some("zed@corp.com"), None),
            (InactiveInDirectory, Some("frank@corp.com"), Some(Deleted)),
            (InactiveInDirectory, Some("gina@corp.com"), Some(Suspended)),
            (NotInDirectory, None, None),
        ]
    );
    // Everyone in the directory is a member: no directory_only. Without Ann: one.
    let fewer: Vec<Member> = members
        .iter()
        .filter(|m| m.key != "k-ann")
        .cloned()
        .collect();
    let again = reconcile("org", &fewer, &loaded.directory, opts);
    let only: Vec<&Finding> = again.iter().filter(|f| f.kind == DirectoryOnly).collect();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].email.as_deref(), Some("Ann.Lee@Corp.com"));
    assert_eq!(
        only[0].subject(),
        Subject::Directory("ann.lee@corp.com".into())
    );
    // Off by default.
    let plain = reconcile(
        "org",
        &fewer,
        &loaded.directory,
        ReconcileOptions::default(),
    );
    assert!(plain.iter().all(|f| f.kind != DirectoryOnly));
    // Deterministic whatever the member order.
    let mut reversed = members.to_vec();
    reversed.reverse();
    assert_eq!(
        reconcile("org", &reversed, &loaded.directory, opts),
        findings
    );
}
