//! Running helm on the chart: finding the pinned helm, rendering, reading the output.
//!
//! helm is the one scripts/ci-setup.sh builds (`deploy/tools.sh`: its version is read
//! from there), else `$HELM`, else `helm` on the `PATH`. Without one the helm tests
//! skip with a message, except in CI (the rule of `scripts/check-deploy.sh`: `CI` set
//! to anything but "", "0" or "false", or `STREAK_REQUIRE_DEPLOY_TOOLS=1`), where a
//! missing helm fails them.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{read, repo, CHART};

/// Whether a missing tool must fail the test rather than skip it.
fn tools_required() -> bool {
    match std::env::var("STREAK_REQUIRE_DEPLOY_TOOLS").ok().as_deref() {
        Some("1") => true,
        Some("0") => false,
        _ => !matches!(
            std::env::var("CI").ok().as_deref(),
            None | Some("") | Some("0") | Some("false")
        ),
    }
}

/// The pinned helm of `deploy/tools.sh`, in its cache.
fn pinned_helm() -> Option<PathBuf> {
    let tools = read("deploy/tools.sh");
    let version = tools
        .lines()
        .find_map(|l| l.strip_prefix("HELM_VERSION="))?
        .trim();
    let dir = match std::env::var_os("STREAK_TOOLS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/streak-connector"),
    };
    Some(dir.join("bin").join(format!("helm-{version}")))
}

/// A helm that runs, or `None` (after saying so) where the test may skip.
pub(crate) fn helm_or_skip(test: &str) -> Option<String> {
    let mut candidates = Vec::new();
    if let Ok(h) = std::env::var("HELM") {
        candidates.push(h);
    }
    if let Some(p) = pinned_helm() {
        candidates.push(p.to_string_lossy().into_owned());
    }
    candidates.push("helm".to_string());
    let found = candidates.into_iter().find(|bin| {
        Command::new(bin)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            !tools_required(),
            "{test}: no helm binary, and CI requires it (run scripts/ci-setup.sh or deploy/tools.sh install)"
        );
        eprintln!(
            "SKIPPED {test}: no helm binary (deploy/tools.sh install, $HELM or helm on PATH)"
        );
    }
    found
}

/// Runs helm in the repository; success and stdout+stderr.
pub(crate) fn run_helm(helm: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(helm)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {helm}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `helm template` of the chart with a ci/ values file (or none) and `--set`s: the
/// rendered objects, or helm's complaint.
pub(crate) fn render(
    helm: &str,
    values: Option<&str>,
    sets: &[&str],
) -> Result<Vec<Value>, String> {
    let file = values.map(|v| format!("{CHART}/ci/{v}"));
    let mut args = vec!["template", "rel", CHART, "--kube-version", "1.29.0"];
    if let Some(f) = &file {
        args.extend(["-f", f.as_str()]);
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = run_helm(helm, &args);
    if !ok {
        return Err(out);
    }
    Ok(documents(&out))
}

/// The YAML documents of helm's output, empty ones dropped.
pub(crate) fn documents(rendered: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(rendered)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or(Value::Null))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// The one object of `kind` (the first, if several).
pub(crate) fn object<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
}

/// The connector container of the rendered Deployment.
pub(crate) fn container(docs: &[Value]) -> &Value {
    &object(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}
