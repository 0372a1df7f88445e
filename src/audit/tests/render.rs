//! The renderers on a small organization (the one `docs/audit.md` shows: the
//! examples there are checked against this output, so the docs stay true).

use crate::audit::render::rfc3339;
use crate::audit::*;
use crate::membership::{
    diff_changes, Checkpoint, Listing, Member, MemberState, OrgState, Settings,
};

/// 2026-12-01T12:00:00Z.
const NOW: i64 = 1_796_126_400_000;

fn state() -> OrgState {
    let mut org = OrgState::new("acme");
    let people = [
        (
            "k-ada",
            "ada@acme.example",
            "Ada Admin",
            true,
            Some(2),
            false,
        ),
        (
            "k-ben",
            "Ben@Acme.example",
            "Ben Old",
            false,
            Some(95),
            true,
        ),
        ("k-cy", "cy@acme.example", "Cy Never", false, None, true),
        (
            "k-dee",
            "dee@acme.example",
            "Dee Gone",
            true,
            Some(40),
            true,
        ),
    ];
    for (key, email, name, admin, seen, inactive) in people {
        org.insert(MemberState {
            member: Member {
                key: key.into(),
                email: Some(email.into()),
                display_name: Some(name.into()),
                is_org_admin: Some(admin),
                last_seen_ms: seen.map(|d| NOW - d * DAY_MS),
                creation_ms: Some(NOW - 200 * DAY_MS),
                ..Member::default()
            },
            inactive,
            first_seen_ms: NOW - 120 * DAY_MS,
            last_changed_ms: NOW - 30 * DAY_MS,
        });
    }
    org.set_checkpoint(Checkpoint {
        org_key: "acme".into(),
        poll_seq: 412,
        last_poll_ms: NOW - 60_000,
        member_count: 4,
        incarnation: None,
    });
    org
}

const DIRECTORY: &str = "\
email,status
ada@acme.example,active
ben@acme.example,suspended
dee@acme.example,deleted
fay@acme.example,active
";

fn findings() -> Vec<Finding> {
    let opts = DirectoryOptions::default();
    let directory = parse_directory(DIRECTORY.as_bytes(), DirectoryFormat::Csv, &opts)
        .unwrap()
        .directory;
    let opts = ReconcileOptions {
        directory_only: true,
    };
    reconcile_state(&state(), &directory, opts)
}

fn roster() -> Roster {
    roster_from_state(&state(), NOW, 30 * DAY_MS)
}

/// Print with `cargo test --lib audit::tests::render -- --nocapture` to refresh
/// the docs' examples.
fn outputs() -> [String; 4] {
    let review = inactive_review(&roster());
    [
        render_rosters(&[roster()], Format::Table),
        render_inactive(&[review], Format::Table),
        render_findings(&findings(), Format::Table),
        record_example(),
    ]
}

/// Ben's finding as the continuous mode publishes it, at the next poll.
fn record_example() -> String {
    let org = state();
    let listing = Listing {
        members: org.iter().map(|s| s.member).collect(),
        complete: true,
    };
    let changes = diff_changes(&org, &listing, NOW, &Settings::default(), None);
    let opts = DirectoryOptions::default();
    let loaded = parse_directory(DIRECTORY.as_bytes(), DirectoryFormat::Csv, &opts).unwrap();
    let mut r = Reconciler::new(loaded.directory, ReconcileOptions::default());
    r.set_directory_loaded();
    let pending = r.poll(&org, &changes);
    let ben = pending
        .records
        .iter()
        .find(|r| r.user_key.as_deref() == Some("k-ben"));
    serde_json::to_string_pretty(ben.unwrap()).unwrap()
}

#[test]
fn docs_show_the_real_output() {
    let docs = include_str!("../../../docs/audit.md");
    let outputs = outputs();
    for out in &outputs {
        println!("{out}");
    }
    for out in &outputs {
        assert!(docs.contains(out.as_str()), "docs/audit.md lacks:\n{out}");
    }
}

#[test]
fn the_roster_table_is_aligned_and_complete() {
    let out = render_rosters(&[roster()], Format::Table);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0]
        .starts_with("Organization acme (from the state topic): as of 2026-12-01T12:00:00Z"));
    assert!(lines[0].ends_with("last successful poll 2026-12-01T11:59:00Z"));
    let col = lines[1].find("ADMIN").unwrap();
    for row in &lines[2..6] {
        assert!(matches!(&row[col..col + 2], "ye" | "no"), "{row}");
    }
    assert_eq!(lines[6], "4 member(s), 3 inactive");
}

#[test]
fn csv_and_json_carry_the_same_rows() {
    let csv = render_rosters(&[roster()], Format::Csv);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "org_key,user_key,email,display_name,is_org_admin,inactive,last_seen,first_seen,last_changed,org_last_successful_poll"
    );
    assert_eq!(
        lines[1],
        "acme,k-ada,ada@acme.example,Ada Admin,true,false,2026-11-29T12:00:00Z,2026-08-03T12:00:00Z,2026-11-01T12:00:00Z,2026-12-01T11:59:00Z"
    );
    assert_eq!(lines.len(), 6); // header, 4 rows, the empty tail after the last CRLF
    let json: serde_json::Value =
        serde_json::from_str(&render_rosters(&[roster()], Format::Json)).unwrap();
    let members = json["organizations"][0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 4);
    assert_eq!(members[2]["last_seen"], serde_json::Value::Null);
    assert_eq!(
        json["organizations"][0]["last_successful_poll"],
        "2026-12-01T11:59:00Z"
    );
}

#[test]
fn the_inactive_review_carries_the_removal_note_in_every_readable_format() {
    let review = inactive_review(&roster());
    let table = render_inactive(std::slice::from_ref(&review), Format::Table);
    assert!(table.ends_with(&format!("{REMOVAL_NOTE}\n")));
    let json: serde_json::Value = serde_json::from_str(&render_inactive(
        std::slice::from_ref(&review),
        Format::Json,
    ))
    .unwrap();
    assert_eq!(json["note"], REMOVAL_NOTE);
    let rows = json["organizations"][0]["inactive_members"]
        .as_array()
        .unwrap();
    let days: Vec<i64> = rows
        .iter()
        .map(|r| r["days_idle"].as_i64().unwrap())
        .collect();
    assert_eq!(days, [200, 95, 40]);
    let csv = render_inactive(&[review], Format::Csv);
    assert!(
        csv.contains("acme,k-cy,cy@acme.example,Cy Never,false,200,2026-05-15T12:00:00Z,true\r\n")
    );
}

#[test]
fn findings_render_with_their_actions() {
    let f = findings();
    let json: serde_json::Value = serde_json::from_str(&render_findings(&f, Format::Json)).unwrap();
    let kinds: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "inactive_in_directory",
            "inactive_in_directory",
            "not_in_directory",
            "directory_only"
        ]
    );
    assert_eq!(
        json["findings"][0]["action"],
        FindingKind::InactiveInDirectory.action()
    );
    let csv = render_findings(&f, Format::Csv);
    assert!(csv.starts_with("org_key,finding,user_key,email,normalised_email,"));
    assert_eq!(csv.matches("\r\n").count(), 5);
}

#[test]
fn outside_text_cannot_drive_a_terminal_or_a_spreadsheet() {
    let mut r = roster();
    r.rows[0].display_name = Some("\u{1b}[31mRed\u{7}".into());
    r.rows[1].display_name = Some("=HYPERLINK(\"http://x\")".into());
    let table = render_rosters(std::slice::from_ref(&r), Format::Table);
    assert!(!table.contains('\u{1b}') && table.contains("\\u{1b}[31mRed\\u{7}"));
    let csv = render_rosters(&[r], Format::Csv);
    assert!(csv.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","));
}

#[test]
fn formats_parse() {
    assert_eq!("TABLE".parse::<Format>(), Ok(Format::Table));
    assert_eq!("json".parse::<Format>(), Ok(Format::Json));
    assert!("xml".parse::<Format>().is_err());
    assert_eq!(rfc3339(NOW), "2026-12-01T12:00:00Z");
    assert_eq!(rfc3339(-5), "-5");
}
