//! The three jobs of issue 17 through the built binary: `audit` (state topic and
//! `--live`), `audit --inactive`, `reconcile --directory` (clean and messy files),
//! and the continuous reconciliation of `once`/`run` across restarts (findings
//! neither repeated nor lost), against the simulator and a real broker.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use testkit::broker::real_broker_for;
use testkit::e2e::{api_key, start_simulator, wait_for, Setup};
use testkit::metrics::scrape;
use testkit::process::{Cmd, Spawned};
use testkit::topic::{
    create_topic, last_checkpoints, members_in_state, read_state, read_topic, TopicContents,
};
use testkit::unique;

const RUN: Duration = Duration::from_secs(90);

/// One organization: an admin active, a member idle 90 days, one idle 40 days and
/// an admin never seen (created 200 days ago), plus a contractor with an outside
/// email.
fn scenario(org: &str, key: &str) -> String {
    let member = |k: &str, email: &str, admin: bool, seen: Option<&str>| {
        let seen = seen.map_or(String::new(), |s| format!("lastSeenTimestamp = \"{s}\"\n"));
        format!(
            "[[organizations.members]]\nkey = \"{k}\"\nemail = \"{email}\"\n\
             displayName = \"{k} Example\"\nisOrgAdmin = {admin}\n{seen}\
             creationTimestamp = \"now-200d\"\n"
        )
    };
    format!(
        "[[organizations]]\nkey = \"{org}\"\nname = \"{org} Inc\"\napi_keys = [\"{key}\"]\n\n{}{}{}{}{}",
        member("k-ada", "Ada@Corp.example", true, Some("now-1h")),
        member("k-ben", "ben@corp.example", false, Some("now-90d")),
        member("k-cy", "cy@corp.example", false, Some("now-40d")),
        member("k-dee", "dee@corp.example", true, None),
        member("k-eve", "eve@contractor.example", false, Some("now-2h")),
    )
}

fn write(setup: &Setup, name: &str, text: &str) -> String {
    let path = setup.dir.path().join(name);
    std::fs::write(&path, text).expect("file written");
    path.display().to_string()
}

async fn produce(bootstrap: &str, topic: &str, records: &[(&str, Option<&str>)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("a producer");
    for (key, value) in records {
        let mut r = FutureRecord::<str, str>::to(topic).key(*key);
        if let Some(v) = value {
            r = r.payload(*v);
        }
        producer
            .send(r, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("a directory record is written");
    }
}

/// `audit` and `reconcile` read the state a `once` wrote; `audit --live` needs no
/// Kafka at all.
#[tokio::test(flavor = "multi_thread")]
async fn audit_and_reconcile_through_the_binary() {
    let Some(broker) = real_broker_for("audit_and_reconcile_through_the_binary").await else {
        return;
    };
    let key = api_key("audit");
    let org = unique("org-audit");
    let sim = start_simulator(&scenario(&org, &key)).await;
    let setup = Setup::new("audit", &sim.base_url(), &broker, &[&key], "");
    setup.command(&["once"]).run(RUN).await.assert_success();
    whole_poll_visible(broker.bootstrap(), &setup.state_topic, &org).await;
    roster(&setup, &org).await;
    review(&setup).await;
    reconcile_clean(&setup).await;
    reconcile_messy(&setup).await;
    live(&setup, &key).await;
}

/// Waits until a read-committed reader sees the whole poll of `once` in the state
/// topic (its five members and its checkpoint). `once` exits when the broker has
/// acknowledged its commit; the transaction's markers reach each partition a moment
/// later, and a reader before then sees the partitions whose marker is written and
/// not the others (a CI run's `audit` read 4 of the 6 records).
async fn whole_poll_visible(bootstrap: &str, state_topic: &str, org: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let records = read_state(bootstrap, state_topic).await;
        let members = members_in_state(&records).get(org).map_or(0, Vec::len);
        if members == 5 && last_checkpoints(&records).contains_key(org) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the state of {org}'s first poll is not all visible after 30 s: {members} members, {} records",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The roster, from the state topic, in the three formats; an unknown `--org`.
async fn roster(setup: &Setup, org: &str) {
    // The roster, from the state topic.
    let table = setup.command(&["audit"]).run(RUN).await;
    table.assert_success();
    assert!(
        table
            .stdout
            .contains(&format!("Organization {org} (from the state topic)")),
        "{}",
        table.report()
    );
    assert!(
        table.stdout.contains("5 member(s), 3 inactive"),
        "{}",
        table.report()
    );
    let json = setup
        .command(&["audit", "--format", "json", "--org", org])
        .run(RUN)
        .await;
    json.assert_success();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    let members = doc["organizations"][0]["members"]
        .as_array()
        .expect("members");
    assert_eq!(members.len(), 5);
    let csv = setup.command(&["audit", "--format", "csv"]).run(RUN).await;
    csv.assert_success();
    assert_eq!(csv.stdout.lines().count(), 6, "{}", csv.report());
    let unknown = setup.command(&["audit", "--org", "nope"]).run(RUN).await;
    assert!(!unknown.status.success());
    assert!(unknown.stderr.contains(org), "{}", unknown.report());
}

/// The inactive review: longest idle first, the removal note.
async fn review(setup: &Setup) {
    // The inactive review: longest idle first, the removal note.
    let review = setup.command(&["audit", "--inactive"]).run(RUN).await;
    review.assert_success();
    let order: Vec<usize> = ["dee@corp.example", "ben@corp.example", "cy@corp.example"]
        .iter()
        .map(|e| {
            review
                .stdout
                .find(e)
                .unwrap_or_else(|| panic!("{e}\n{}", review.report()))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", review.report());
    assert!(review.stdout.contains("the Streak API cannot delete users"));
    // Ada is active: neither her key (also in her name) nor her email is listed. Not
    // a bare "ada": the random organization key is hex and can hold those letters.
    let listed = review.stdout.to_lowercase();
    assert!(
        !listed.contains("k-ada") && !listed.contains("ada@corp.example"),
        "{}",
        review.report()
    );
    let review_csv = setup
        .command(&["audit", "--inactive", "--format", "csv"])
        .run(RUN)
        .await;
    assert!(
        review_csv.stderr.contains("Streak UI"),
        "{}",
        review_csv.report()
    );
}

/// A clean directory file: findings, exit 3; `--report-only` exits 0.
async fn reconcile_clean(setup: &Setup) {
    // Reconcile with a clean file: findings, exit 3; --report-only exits 0.
    let clean = write(
        setup,
        "directory.csv",
        "email,status,department\n ada@corp.EXAMPLE ,active,IT\nben@corp.example,suspended,Sales\n\
         cy@corp.example,Active,Sales\ndee@corp.example,deleted,IT\nfay@corp.example,active,HR\n",
    );
    let found = setup
        .command(&["reconcile", "--directory", &clean, "--directory-only"])
        .run(RUN)
        .await;
    assert_eq!(found.status.code(), Some(3), "{}", found.report());
    let rows: Vec<&str> = found.stdout.lines().collect();
    assert!(
        rows[1].starts_with("inactive_in_directory") && rows[1].contains("dee@"),
        "{}",
        found.report()
    );
    for kind in ["not_in_directory", "directory_only", "4 finding(s)"] {
        assert!(found.stdout.contains(kind), "{kind}\n{}", found.report());
    }
    let report = setup
        .command(&[
            "reconcile",
            "--directory",
            &clean,
            "--report-only",
            "--format",
            "json",
        ])
        .run(RUN)
        .await;
    report.assert_success();
    let findings: serde_json::Value = serde_json::from_str(&report.stdout).expect("JSON");
    assert_eq!(
        findings["findings"].as_array().map(Vec::len),
        Some(3),
        "{}",
        report.report()
    );
}

/// Messy files: every bad line named, nothing used; `--lenient` goes on.
async fn reconcile_messy(setup: &Setup) {
    // A messy file: every bad line named, nothing used; --lenient goes on.
    let messy = write(setup, "header.csv", "Mail;State\n");
    let header = setup
        .command(&["reconcile", "--directory", &messy])
        .run(RUN)
        .await;
    assert_eq!(header.status.code(), Some(1), "{}", header.report());
    assert!(header.stderr.contains("email"), "{}", header.report());
    let messy_csv = write(
        setup,
        "messy.csv",
        "\u{feff}Email,Status,Name\r\nAda@corp.example,active,\"Ada, A\"\r\n\
         ada@CORP.example ,deleted,dup\r\n,active,no email\r\n\
         ben@corp.example,active,\"bad \"quote\r\ncy@corp.example,active\r\n\
         dee@corp.example,ACTIVE,\"two\r\nlines\"\r\n",
    );
    let strict = setup
        .command(&["reconcile", "--directory", &messy_csv])
        .run(RUN)
        .await;
    assert_eq!(strict.status.code(), Some(1), "{}", strict.report());
    for line in [
        "4 unusable line(s)",
        "line 3: duplicate of line 2",
        "line 4: no email",
        "line 5: malformed",
        "line 6: malformed: 2 field(s) where the header has 3",
    ] {
        assert!(strict.stderr.contains(line), "{line}\n{}", strict.report());
    }
    let messy = write(
        setup,
        "messy.jsonl",
        "{\"email\":\"ADA@corp.example\",\"status\":\"active\"}\n\
         {\"email\":\"ada@corp.example\",\"status\":\"suspended\"}\n\
         {\"status\":\"active\"}\n\
         {\"email\":\"ben@corp.example\",\"status\":\"on-leave\"}\n\
         not json\n\
         \n\
         {\"email\":\"cy@corp.example\",\"status\":\"active\"}\n",
    );
    let strict = setup
        .command(&["reconcile", "--directory", &messy])
        .run(RUN)
        .await;
    assert_eq!(strict.status.code(), Some(1), "{}", strict.report());
    for line in [
        "line 2: duplicate of line 1",
        "line 3: no email",
        "line 4: unknown status",
        "line 5: malformed",
    ] {
        assert!(strict.stderr.contains(line), "{line}\n{}", strict.report());
    }
    let lenient = setup
        .command(&[
            "reconcile",
            "--directory",
            &messy,
            "--lenient",
            "--report-only",
        ])
        .run(RUN)
        .await;
    lenient.assert_success();
    assert!(lenient.stderr.contains("4 line(s)"), "{}", lenient.report());
    // The duplicate kept the most severe status: Ada is flagged, not hidden.
    assert!(
        lenient.stdout.contains("Ada@Corp.example"),
        "{}",
        lenient.report()
    );
}

/// `--live`: Streak only, Kafka unreachable and never asked.
async fn live(setup: &Setup, key: &str) {
    // --live: Streak only, Kafka unreachable and never asked.
    let live = Cmd::new(&["audit", "--live", "--inactive"])
        .args(["--config", &setup.config_path.display().to_string()])
        .args(["--streak-base-url", &setup.streak_base_url])
        .args(["--kafka-bootstrap-servers", "127.0.0.1:9"])
        .env("STREAK_CONNECTOR_API_KEYS", key)
        .run(RUN)
        .await;
    live.assert_success();
    assert!(
        live.stdout.contains("ben@corp.example"),
        "{}",
        live.report()
    );
}

/// `audit` while `run` polls: no fencing, no transaction, the connector goes on.
#[tokio::test(flavor = "multi_thread")]
async fn audit_does_not_fence_a_running_connector() {
    let Some(broker) = real_broker_for("audit_does_not_fence_a_running_connector").await else {
        return;
    };
    let key = api_key("nofence");
    let org = unique("org-nofence");
    let sim = start_simulator(&scenario(&org, &key)).await;
    let setup = Setup::new("nofence", &sim.base_url(), &broker, &[&key], "");
    let mut run = setup.command(&["run", "--poll-interval", "1s"]).spawn();
    run.wait_line("a committed poll", RUN, |l| l.contains("Poll committed"))
        .await;
    setup.command(&["audit"]).run(RUN).await.assert_success();
    let before = run.stderr().matches("Poll committed").count()
        + run.stdout().matches("Poll committed").count();
    let n = before + 2;
    wait_for("two more polls after the audit", RUN, || {
        let c = run.stderr().matches("Poll committed").count()
            + run.stdout().matches("Poll committed").count();
        (c >= n).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!run.stderr().contains("fenced"), "{}", run.stderr());
}

/// Every finding record of a findings topic as (change, user), sorted: partitions
/// interleave, so only the multiset is stable.
fn published(topic: &TopicContents) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = topic
        .records
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(r.value.as_deref()?).ok())
        .map(|v| {
            (
                v["change"].as_str().unwrap_or("?").to_owned(),
                v["user_key"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The findings topic after each `once`: one record per change, none repeated
/// across restarts, changes made while the connector was down published next time.
#[tokio::test(flavor = "multi_thread")]
async fn continuous_reconciliation_across_restarts() {
    let Some(broker) = real_broker_for("continuous_reconciliation_across_restarts").await else {
        return;
    };
    let key = api_key("continuous");
    let org = unique("org-continuous");
    let sim = start_simulator(&scenario(&org, &key)).await;
    let setup = Setup::new("continuous", &sim.base_url(), &broker, &[&key], "");
    let directory = unique("e2e-directory");
    let findings = unique("e2e-findings");
    let missing = setup
        .command(&[
            "once",
            "--directory-topic",
            &directory,
            "--findings-topic",
            &findings,
        ])
        .run(RUN)
        .await;
    assert!(!missing.status.success(), "{}", missing.report());
    assert!(
        missing
            .stderr
            .contains(&format!("directory topic `{directory}` does not exist")),
        "{}",
        missing.report()
    );
    create_topic(&broker, &directory, &[("cleanup.policy", "compact")]).await;
    produce(
        broker.bootstrap(),
        &directory,
        &[
            ("ada@corp.example", Some("{\"status\":\"active\"}")),
            ("\"ben@corp.example\"", Some("{\"status\":\"suspended\"}")),
            ("cy@corp.example", Some("{\"status\":\"active\"}")),
            (
                "dee@corp.example",
                Some("{\"email\":\"DEE@corp.example\",\"status\":\"active\"}"),
            ),
            (
                "bad@corp.example",
                Some("{\"email\":\"other@corp.example\",\"status\":\"active\"}"),
            ),
        ],
    )
    .await;
    let once = || {
        setup.command(&[
            "once",
            "--directory-topic",
            &directory,
            "--findings-topic",
            &findings,
        ])
    };
    let first = once().run(RUN).await;
    first.assert_success();
    assert!(
        first.all_output().contains("Directory record refused"),
        "{}",
        first.report()
    );
    let topic = read_topic(broker.bootstrap(), &findings, Duration::from_secs(20)).await;
    let after_first = published(&topic);
    assert_eq!(
        after_first,
        [
            ("APPEARED".to_owned(), "k-ben".to_owned()),
            ("APPEARED".to_owned(), "k-eve".to_owned())
        ],
        "{}",
        first.report()
    );

    // A restart with nothing changed publishes nothing.
    once().run(RUN).await.assert_success();
    let topic = read_topic(broker.bootstrap(), &findings, Duration::from_secs(20)).await;
    assert_eq!(published(&topic), after_first);

    // Changed while down: Ben reactivated (cleared), Cy deleted (appeared).
    produce(
        broker.bootstrap(),
        &directory,
        &[
            ("ben@corp.example", Some("{\"status\":\"active\"}")),
            ("cy@corp.example", Some("{\"status\":\"deleted\"}")),
        ],
    )
    .await;
    let third = once().run(RUN).await;
    third.assert_success();
    let topic = read_topic(broker.bootstrap(), &findings, Duration::from_secs(20)).await;
    let mut expected = after_first.clone();
    expected.push(("CLEARED".into(), "k-ben".into()));
    expected.push(("APPEARED".into(), "k-cy".into()));
    expected.sort();
    assert_eq!(published(&topic), expected, "{}", third.report());

    // `run` restores the findings and exports their counts, by kind, zeros too.
    let mut cmd = setup.command(&[
        "run",
        "--directory-topic",
        &directory,
        "--findings-topic",
        &findings,
    ]);
    cmd.args(["--poll-interval", "1s"]);
    let mut run = cmd.spawn();
    run_metrics(&mut run, &org).await;
    // Nothing changed: the run published nothing more.
    let topic = read_topic(broker.bootstrap(), &findings, Duration::from_secs(20)).await;
    assert_eq!(published(&topic), expected);
}

/// The reconciliation's metrics of a running connector, after the restarts above:
/// Cy inactive in the directory, Eve not in it, the refused record counted.
async fn run_metrics(run: &mut Spawned, org: &str) {
    let addr = run.metrics_addr(RUN).await;
    run.wait_line("a committed poll", RUN, |l| l.contains("Poll committed"))
        .await;
    let m = scrape(&addr).await;
    let value = |kind: &str| {
        m.value(
            "streak_connector_reconcile_findings",
            &[("org", org), ("kind", kind)],
        )
    };
    assert_eq!(value("inactive_in_directory"), Some(1.0), "{}", m.text);
    assert_eq!(value("not_in_directory"), Some(1.0), "{}", m.text);
    assert_eq!(value("directory_only"), Some(0.0), "{}", m.text);
    assert_eq!(
        m.value("streak_connector_reconcile_directory_entries", &[]),
        Some(4.0),
        "{}",
        m.text
    );
    assert_eq!(
        m.value("streak_connector_reconcile_directory_refused_total", &[]),
        Some(1.0),
        "{}",
        m.text
    );
}
