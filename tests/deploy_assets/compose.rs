//! Checks of `docker-compose.yml` that need no Docker engine: the images are the
//! official ones (pinned) or the product's own build, every host file or directory it
//! mounts or names exists in the repository, container paths given to the programs
//! map onto mounted files, and the start-up order rests on real health checks.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// Images the stack may pull: the official images named by issue 7.
pub(crate) const OFFICIAL_IMAGES: [&str; 4] = [
    "apache/kafka",
    "confluentinc/cp-schema-registry",
    "prom/prometheus",
    "grafana/grafana",
];

/// The image the stack builds from the repository's Dockerfile.
pub(crate) const PRODUCT_IMAGE: &str = "streak-connector";

/// A bind mount: host path (relative to the repository) and container path.
#[derive(Debug, Clone)]
pub(crate) struct Mount {
    pub(crate) host: String,
    pub(crate) container: String,
}

fn services(compose: &Value) -> Vec<(&String, &Value)> {
    compose
        .get("services")
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

/// The bind mounts of one service (short and long volume syntax, and its secrets,
/// which compose mounts at `/run/secrets/<name>`).
pub(crate) fn mounts(compose: &Value, service: &Value) -> Vec<Mount> {
    let mut out = Vec::new();
    for v in service
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match v {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                if parts.len() >= 2 && (parts[0].starts_with('.') || parts[0].starts_with('/')) {
                    out.push(Mount {
                        host: parts[0].to_string(),
                        container: parts[1].to_string(),
                    });
                }
            }
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("bind") => {
                if let (Some(h), Some(c)) = (
                    o.get("source").and_then(Value::as_str),
                    o.get("target").and_then(Value::as_str),
                ) {
                    out.push(Mount {
                        host: h.to_string(),
                        container: c.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    for s in service
        .get("secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s
            .as_str()
            .or_else(|| s.get("source").and_then(Value::as_str))
            .unwrap_or_default();
        let target = s
            .get("target")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("/run/secrets/{name}"));
        if let Some(file) = compose
            .pointer(&format!("/secrets/{name}/file"))
            .and_then(Value::as_str)
        {
            out.push(Mount {
                host: file.to_string(),
                container: target,
            });
        }
    }
    out
}

/// The host path behind a container path, through the service's bind mounts.
pub(crate) fn host_path_of(mounts: &[Mount], container_path: &str) -> Option<String> {
    mounts.iter().find_map(|m| {
        let rest = container_path.strip_prefix(m.container.trim_end_matches('/'))?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{}{rest}", m.host))
    })
}

/// Reports `host` (relative to the repository) unless it exists.
fn exists(out: &mut Vec<String>, repo: &Path, origin: &str, host: &str) {
    if host.starts_with('/') {
        out.push(format!("{origin}: {host} is outside the repository"));
    } else if !repo.join(host.trim_start_matches("./")).exists() {
        out.push(format!("{origin}: {host} does not exist in the repository"));
    }
}

/// Everything wrong with the compose file, `repo` being the repository root.
pub(crate) fn problems(compose: &Value, repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = services(compose).into_iter().map(|(n, _)| n).collect();
    for (name, svc) in services(compose) {
        let origin = format!("service {name}");
        image_problems(&mut out, repo, &origin, svc);
        host_file_problems(&mut out, repo, compose, &origin, svc);
        start_up_problems(&mut out, compose, &names, &origin, svc);
    }
    top_level_file_problems(&mut out, repo, compose, "secrets", "secret");
    top_level_file_problems(&mut out, repo, compose, "configs", "config");
    out
}

/// Images: official and pinned, or the product built here (from a context and a
/// Dockerfile that exist).
fn image_problems(out: &mut Vec<String>, repo: &Path, origin: &str, svc: &Value) {
    let image = svc.get("image").and_then(Value::as_str).unwrap_or_default();
    let (repo_name, tag) = image.rsplit_once(':').unwrap_or((image, ""));
    if svc.get("build").is_some() {
        if repo_name != PRODUCT_IMAGE {
            out.push(format!(
                "{origin}: builds an image named {image:?}, not {PRODUCT_IMAGE}"
            ));
        }
        let ctx = svc
            .pointer("/build/context")
            .and_then(Value::as_str)
            .unwrap_or(".");
        let dockerfile = svc
            .pointer("/build/dockerfile")
            .and_then(Value::as_str)
            .unwrap_or("Dockerfile");
        exists(out, repo, origin, ctx);
        exists(
            out,
            repo,
            origin,
            &format!("{}/{dockerfile}", ctx.trim_end_matches('/')),
        );
    } else if !OFFICIAL_IMAGES.contains(&repo_name) {
        out.push(format!(
            "{origin}: image {image:?} is not one of the official images {OFFICIAL_IMAGES:?}"
        ));
    } else if tag.is_empty() || tag == "latest" {
        out.push(format!(
            "{origin}: image {image:?} is not pinned to a version"
        ));
    }
}

/// Host files: every mount and env file exists; container paths handed to the
/// program (arguments, environment values) that fall inside a bind mount exist on
/// the host side.
fn host_file_problems(
    out: &mut Vec<String>,
    repo: &Path,
    compose: &Value,
    origin: &str,
    svc: &Value,
) {
    let mounts = mounts(compose, svc);
    for m in &mounts {
        exists(out, repo, origin, &m.host);
    }
    for f in svc
        .get("env_file")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        exists(out, repo, origin, f.as_str().unwrap_or_default());
    }
    let mut strings: Vec<String> = svc
        .get("command")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(env) = svc.get("environment").and_then(Value::as_object) {
        strings.extend(env.values().filter_map(|v| v.as_str().map(str::to_string)));
    }
    for s in strings.iter().filter(|s| s.starts_with('/')) {
        if let Some(host) = host_path_of(&mounts, s) {
            exists(out, repo, &format!("{origin} ({s})"), &host);
        }
    }
}

/// Start-up order: dependencies on services that exist, waits for health only on
/// services with a healthcheck; `network_mode: service:X` naming a service, without
/// the keys it forbids.
fn start_up_problems(
    out: &mut Vec<String>,
    compose: &Value,
    names: &BTreeSet<&String>,
    origin: &str,
    svc: &Value,
) {
    if let Some(deps) = svc.get("depends_on").and_then(Value::as_object) {
        for (dep, cond) in deps {
            match compose.pointer(&format!("/services/{dep}")) {
                None => out.push(format!("{origin}: depends on unknown service {dep}")),
                Some(target) => {
                    let condition = cond.get("condition").and_then(Value::as_str);
                    if condition == Some("service_healthy") && target.get("healthcheck").is_none() {
                        out.push(format!(
                            "{origin}: waits for {dep} to be healthy, but {dep} has no healthcheck"
                        ));
                    }
                }
            }
        }
    }
    if let Some(mode) = svc.get("network_mode").and_then(Value::as_str) {
        if let Some(owner) = mode.strip_prefix("service:") {
            if !names.iter().any(|n| n.as_str() == owner) {
                out.push(format!(
                    "{origin}: network_mode names unknown service {owner}"
                ));
            }
            for key in ["ports", "networks", "hostname"] {
                if svc.get(key).is_some() {
                    out.push(format!(
                        "{origin}: {key} is not allowed with network_mode {mode}"
                    ));
                }
            }
        }
    }
}

/// The files behind the top-level `section` (`secrets`, `configs`) exist; `what`
/// names one in a problem.
fn top_level_file_problems(
    out: &mut Vec<String>,
    repo: &Path,
    compose: &Value,
    section: &str,
    what: &str,
) {
    for (name, def) in compose
        .get(section)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(f) = def.get("file").and_then(Value::as_str) {
            exists(out, repo, &format!("{what} {name}"), f);
        }
    }
}

/// Host names other containers can reach: service names and network aliases.
pub(crate) fn reachable_names(compose: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (name, svc) in services(compose) {
        names.insert(name.clone());
        if let Some(nets) = svc.get("networks").and_then(Value::as_object) {
            for net in nets.values() {
                for a in net
                    .get("aliases")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    names.extend(a.as_str().map(str::to_string));
                }
            }
        }
    }
    names
}
