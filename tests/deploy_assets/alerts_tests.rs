//! Each alert has a runbook section, a severity, and promtool tests that fire and
//! clear it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{alert_rules, read, yaml, ALERTS, ALERT_TESTS, OPERATIONS};

/// GitHub's anchor of a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_a_runbook_section_and_a_severity() {
    let ops = read(OPERATIONS);
    let anchors: BTreeSet<String> = ops
        .lines()
        .filter_map(|l| {
            l.strip_prefix('#')
                .map(|h| anchor(h.trim_start_matches('#')))
        })
        .collect();
    let rules = alert_rules(&yaml(ALERTS));
    assert!(rules.len() >= 6, "the issue asks for at least six alerts");
    for r in &rules {
        let name = r["alert"].as_str().unwrap_or_default();
        let url = r["annotations"]["runbook_url"].as_str().unwrap_or_default();
        let section = url.strip_prefix("docs/operations.md#").unwrap_or_else(|| {
            panic!("{name}: runbook_url {url:?} does not point into {OPERATIONS}")
        });
        assert_eq!(
            section,
            name.to_lowercase(),
            "{name}: runbook anchor should be the alert name"
        );
        assert!(
            anchors.contains(section),
            "{name}: {OPERATIONS} has no section #{section}"
        );
        let severity = r["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for a in ["summary", "description"] {
            assert!(
                r["annotations"][a].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: no {a}"
            );
        }
    }
}

#[test]
fn every_alert_has_promtool_tests_that_fire_and_clear_it() {
    let tests = yaml(ALERT_TESTS);
    assert_eq!(tests["rule_files"][0], "alerts.yml");
    let cases: Vec<Value> = tests["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
        .collect();
    for r in alert_rules(&yaml(ALERTS)) {
        let name = r["alert"].as_str().unwrap_or_default();
        let of_alert: Vec<&Value> = cases.iter().filter(|c| c["alertname"] == name).collect();
        let fires = of_alert
            .iter()
            .any(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()));
        let quiet = of_alert
            .iter()
            .filter(|c| c["exp_alerts"].as_array().is_some_and(Vec::is_empty))
            .count();
        assert!(fires, "{name}: no promtool test expects it to fire");
        assert!(
            quiet >= 2,
            "{name}: promtool tests should show it quiet before and cleared after"
        );
    }
}
