//! Scenario files: the examples are valid, TOML and JSON agree, parse errors and
//! validation problems are reported (all at once).

use streak_connector::simulator::{Scenario, SimError};

use super::problems;

#[test]
fn example_files_and_the_lively_scenario_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let reference = Scenario::from_path(format!("{dir}/scenario.toml")).unwrap();
    let orgs = reference.organizations();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0].key, "org-acme");
    assert_eq!(orgs[0].api_keys, ["sim-acme-admin", "sim-acme-bob"]);
    assert_eq!(orgs[0].initial_members, 3 + 50);

    let from_json = Scenario::from_path(format!("{dir}/scenario.json")).unwrap();
    assert_eq!(from_json.name(), Some("reference-json"));
    assert_eq!(from_json.organizations()[0].initial_members, 11);

    let lively = Scenario::from_path(format!("{dir}/scenario-lively.toml")).unwrap();
    assert_eq!(lively.organizations(), Scenario::lively().organizations());
    assert_eq!(
        Scenario::lively()
            .organizations()
            .iter()
            .map(|o| o.api_keys[0].as_str())
            .collect::<Vec<_>>(),
        ["sim-lively-key", "sim-steady-key"]
    );
}

#[test]
fn toml_and_json_describe_the_same_scenario() {
    let toml = r#"
        [[organizations]]
        key = "o"
        api_keys = [{ key = "k", owner = "m" }]
        members = [{ key = "m", isOrgAdmin = true, lastSeenTimestamp = "now-2d" }]
        [[faults]]
        kind = "http_error"
        status = 503
        requests = [1, 3]
    "#;
    let json = r#"{
        "organizations": [{"key": "o", "api_keys": [{"key": "k", "owner": "m"}],
                           "members": [{"key": "m", "isOrgAdmin": true, "lastSeenTimestamp": "now-2d"}]}],
        "faults": [{"kind": "http_error", "status": 503, "requests": [1, 3]}]
    }"#;
    let a = Scenario::from_toml_str(toml).unwrap();
    let b = Scenario::from_json_str(json).unwrap();
    assert_eq!(a.organizations(), b.organizations());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn syntax_errors_and_unknown_fields_are_parse_errors() {
    let err = Scenario::from_toml_str("[[organizations]]\nkey = ").unwrap_err();
    assert!(
        matches!(err, SimError::Parse(ref m) if m.starts_with("TOML")),
        "{err}"
    );

    let err = Scenario::from_toml_str(
        "[[organizations]]\nkey = \"o\"\napi_keys = [\"k\"]\nmembrs = []\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("membrs"), "{err}");

    let err = Scenario::from_json_str("{\"organizations\": 3}").unwrap_err();
    assert!(
        matches!(err, SimError::Parse(ref m) if m.starts_with("JSON")),
        "{err}"
    );

    let err = Scenario::from_path("/nonexistent/scenario.toml").unwrap_err();
    assert!(matches!(err, SimError::Read { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/scenario.toml"));
}

#[test]
fn validation_reports_every_problem_at_once() {
    let bad = r#"
        [settings]
        foreign_org_status = 500

        [[organizations]]
        key = "o"
        api_keys = [{ key = "k", owner = "ghost" }, "k"]
        members = [{ key = "m" }, { key = "m" }]

        [[organizations]]
        key = "empty"

        [timeline]
        repeat_every = "10s"

        [[timeline.changes]]
        at = "20s"
        org = "o"
        leave = "m"

        [[timeline.changes]]
        at = "1s"
        org = "nowhere"
        leave = "m"

        [[timeline.changes]]
        after_requests = 1
        org = "o"
        leave = "typo"

        [[timeline.changes]]
        at = "1s"
        org = "o"
        leave = "m"
        touch = "m"

        [[timeline.changes]]
        org = "o"
        leave = "m"

        [[faults]]
        kind = "teapot"

        [[faults]]
        kind = "empty_listing"
        endpoint = "users_me"

        [[faults]]
        kind = "http_error"
        status = 200

        [[faults]]
        kind = "delay"
        delay = "2s"
        status = 500

        [[faults]]
        kind = "http_error"
        status = 503
        probability = 1.5
    "#;
    let p = problems(Scenario::from_toml_str(bad).unwrap_err());
    let expect = [
        "foreign_org_status: 500",
        "owner `ghost` is not a member",
        "the API key is used twice",
        "member key `m` is listed twice",
        "organizations[1] (empty).api_keys: at least one API key",
        "at = 20s is not before repeat_every = 10s",
        "org `nowhere` is not an organization",
        "member `typo` is never a member of `o`",
        "give exactly one action",
        "give exactly one of `at`",
        "unknown kind `teapot`",
        "does not apply to endpoint `users_me`",
        "status 200 is outside 400..=599",
        "`status` does not apply to this kind",
        "probability 1.5 is not between 0 and 1",
    ];
    for e in expect {
        assert!(p.iter().any(|x| x.contains(e)), "missing `{e}` in {p:#?}");
    }
    assert_eq!(p.len(), expect.len(), "{p:#?}");
}
