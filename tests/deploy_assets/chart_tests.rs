//! The Helm chart read as files, without helm: its templates, values, schema and README.

use serde_json::Value;

use super::{helm_values, json, read, repo, schema, yaml, ALERTS, CHART, DASHBOARD};

#[test]
fn chart_copies_of_dashboard_and_rules_match_deploy() {
    for (source, copy) in [
        (
            DASHBOARD,
            "helm/streak-connector/files/streak-connector-dashboard.json",
        ),
        (ALERTS, "helm/streak-connector/files/alerts.yml"),
    ] {
        assert!(
            read(source) == read(copy),
            "{copy} differs from {source}: run scripts/check-deploy.sh --sync after editing {source}"
        );
    }
}

fn chart_templates() -> Vec<(String, String)> {
    let dir = repo().join(CHART).join("templates");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                text,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn chart_templates_reference_only_values_that_exist() {
    let values = yaml(&format!("{CHART}/values.yaml"));
    let mut refs = 0;
    let mut missing = Vec::new();
    for (file, text) in chart_templates() {
        for path in helm_values::value_refs(&text) {
            refs += 1;
            if !helm_values::resolves(&values, &path) {
                missing.push(format!("{file}: .Values.{path}"));
            }
        }
    }
    assert!(
        refs > 50,
        "found only {refs} value references: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "templates use values absent from values.yaml:\n{}",
        missing.join("\n")
    );
    assert_eq!(
        helm_values::value_refs("{{ $.Values.a.b }} {{ .Values.c }}. x.Valuesy.z"),
        ["a.b", "c"]
    );
    assert!(!helm_values::resolves(&values, "image.tga"));
}

#[test]
fn values_validate_against_the_schema_and_the_schema_bites() {
    let schema = json(&format!("{CHART}/values.schema.json"));
    let values = yaml(&format!("{CHART}/values.yaml"));
    let errors = schema::validate(&schema, &values);
    assert!(
        errors.is_empty(),
        "values.yaml does not match values.schema.json:\n{}",
        errors.join("\n")
    );

    // Every value of values.yaml is described, so a typo cannot slip through.
    for (k, v) in values.as_object().into_iter().flatten() {
        assert!(
            schema["properties"].get(k).is_some(),
            "values.schema.json does not describe {k}"
        );
        if let (Some(obj), Some(props)) = (
            v.as_object(),
            schema["properties"][k]["properties"].as_object(),
        ) {
            for sub in obj.keys() {
                assert!(
                    props.contains_key(sub),
                    "values.schema.json does not describe {k}.{sub}"
                );
            }
        }
    }

    // What helm would refuse, this validator refuses too.
    let bad = |pointer: &str, v: Value| {
        let mut broken = values.clone();
        *broken
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}")) = v;
        schema::validate(&schema, &broken)
    };
    assert!(!bad("/config/logFormat", "xml".into()).is_empty());
    assert!(!bad("/service/port", 70000.into()).is_empty());
    assert!(!bad("/probes/readiness/enabled", "yes".into()).is_empty());
    assert!(!bad("/apiKeys/keys", serde_json::json!(["", "k"])).is_empty());
    assert!(!bad("/apiKeys/secretKeys", serde_json::json!([""])).is_empty());
    // The admin token: off (empty) or at least 16 characters, as the binary requires.
    assert!(!bad("/adminToken/value", "fifteen-chars!!".into()).is_empty());
    assert!(bad("/adminToken/value", "sixteen-chars!!!".into()).is_empty());
    assert!(bad("/adminToken/value", "".into()).is_empty());
    assert!(!bad("/admin/port", 0.into()).is_empty());
    // The grace margin: at least the drain's 10 s after the transaction timeout plus
    // the runtime's 2 s exit bound (src/app/run.rs DRAIN_MARGIN).
    assert!(!bad("/terminationGraceMarginSeconds", 11.into()).is_empty());
    assert!(bad("/terminationGraceMarginSeconds", 12.into()).is_empty());
    assert!(bad("/terminationGracePeriodSeconds", 120.into()).is_empty());
    assert!(!bad("/terminationGracePeriodSeconds", "120".into()).is_empty());
    let mut typo = values.clone();
    typo["image"]["tga"] = "1".into();
    assert_eq!(
        schema::validate(&schema, &typo),
        ["image.tga: additional property not allowed"]
    );
}

#[test]
fn chart_readme_lists_every_value() {
    let readme = read(&format!("{CHART}/README.md"));
    let mut paths = Vec::new();
    schema::documented_paths(
        &json(&format!("{CHART}/values.schema.json")),
        "",
        &mut paths,
    );
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| p.as_str() != "global")
        .filter(|p| !readme.contains(&format!("| `{p}` |")))
        .collect();
    assert!(
        paths.len() > 40 && missing.is_empty(),
        "values missing from the README's table: {missing:?}"
    );
}

#[test]
fn chart_runs_one_restricted_pod_and_no_disruption_budget() {
    let templates = chart_templates();
    let all: String = templates.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        !all.contains("PodDisruptionBudget"),
        "no PDB: it would block node drains"
    );
    let deployment = &templates
        .iter()
        .find(|(f, _)| f == "deployment.yaml")
        .expect("deployment.yaml")
        .1;
    for needle in [
        "replicas: 1\n",
        "type: Recreate",
        "automountServiceAccountToken: false",
        "path: /healthz",
        "path: /readyz",
        "include \"streak-connector.gracePeriod\"",
        "name: http-admin",
        "items:",
    ] {
        assert!(
            deployment.contains(needle),
            "deployment.yaml lacks {needle:?}"
        );
    }
    // Start-up ends when the connector is ready, not when it merely answers.
    let startup = deployment
        .split("startupProbe:")
        .nth(1)
        .and_then(|rest| rest.lines().find(|l| l.trim_start().starts_with("path:")))
        .expect("a startup probe with a path");
    assert_eq!(startup.trim(), "path: /readyz");
    let values = yaml(&format!("{CHART}/values.yaml"));
    assert!(
        values["terminationGracePeriodSeconds"].is_null(),
        "the grace period is derived from the transaction timeout by default"
    );
    assert_eq!(values["admin"]["exposeOnService"], false);
    assert_eq!(values["networkPolicy"]["enabled"], false);
    let sc = &values["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        values["podSecurityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(
        values.get("replicaCount").is_none(),
        "one replica, not a value"
    );
}
