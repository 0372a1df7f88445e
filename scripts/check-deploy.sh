#!/usr/bin/env bash
# Checks the shipping assets with the real tools (CI runs it; see docs/operations.md,
# "How the shipping assets are checked"):
#
# 1. the Helm chart's copies of the dashboard and the alert rules equal deploy/;
# 2. promtool: the alert rules are valid, their unit tests pass (each alert fires and
#    clears), the compose Prometheus configuration is valid, and every PromQL query
#    of the Grafana dashboard parses;
# 3. Python's jsonschema: the chart's values (values.yaml and each ci/ values file)
#    against values.schema.json, docker-compose.yml against the Compose
#    specification's schema;
# 4. helm lint --strict and helm template with every helm/streak-connector/ci/*.yaml
#    values file; every rendered object strict-decoded into its Kubernetes API type
#    (deploy/k8s-validate); the rendered PrometheusRules through promtool;
# 5. deploy/k8s-validate refuses each broken manifest of its testdata/.
#
# The tools come from deploy/tools.sh (pinned, cached in ~/.cache/streak-connector;
# scripts/ci-setup.sh installs them) and promtool from Debian's prometheus package.
# In CI (CI set to anything but "", "0" or "false", or STREAK_REQUIRE_DEPLOY_TOOLS=1)
# a missing tool fails the run: a skip is a failure. Elsewhere a check whose tool is
# missing says SKIPPED. STREAK_REQUIRE_DEPLOY_TOOLS=0 allows skips even under CI.
# The rest of the checks run in `cargo test --test deploy_assets`.
#
# Usage: scripts/check-deploy.sh           check
#        scripts/check-deploy.sh --sync    first copy the dashboard and the rules from
#                                          deploy/ into the chart, then check
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../deploy/tools.sh
source deploy/tools.sh

chart=helm/streak-connector
pairs=(
  "deploy/grafana/streak-connector-dashboard.json:$chart/files/streak-connector-dashboard.json"
  "deploy/prometheus/alerts.yml:$chart/files/alerts.yml"
)
fail() {
  echo "check-deploy: FAILED: $*" >&2
  exit 1
}

require="${STREAK_REQUIRE_DEPLOY_TOOLS:-}"
if [[ -z "$require" ]]; then
  case "${CI:-}" in "" | 0 | false) require=0 ;; *) require=1 ;; esac
fi
# A check that cannot run: a failure in CI, a visible skip elsewhere.
skip() {
  if [[ "$require" == 1 ]]; then
    fail "$* (CI requires every deploy check: run scripts/ci-setup.sh, or deploy/tools.sh install)"
  fi
  echo "SKIPPED: $*"
}

case "${1:-}" in
  "") ;;
  --sync)
    for p in "${pairs[@]}"; do
      cp "${p%%:*}" "${p##*:}"
      echo "check-deploy: copied ${p%%:*} to ${p##*:}"
    done
    ;;
  *) fail "unknown argument $1 (usage: $0 [--sync])" ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== chart copies of deploy/"
for p in "${pairs[@]}"; do
  cmp -s "${p%%:*}" "${p##*:}" || fail "${p##*:} differs from ${p%%:*}: run $0 --sync"
done
echo "identical"

# Python with jsonschema and yaml: the pinned venv, else a python3 that has both.
python=""
if [[ -x "$DEPLOY_PYTHON" ]] && "$DEPLOY_PYTHON" -c 'import jsonschema, yaml' 2>/dev/null; then
  python="$DEPLOY_PYTHON"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import jsonschema, yaml' 2>/dev/null; then
  python=python3
fi

echo "== promtool"
command -v promtool >/dev/null 2>&1 ||
  fail "promtool not found. Install Debian's prometheus package (apt-get install prometheus; scripts/ci-setup.sh does it)."
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml
promtool check config deploy/prometheus/prometheus.yml

echo "== dashboard PromQL (promtool)"
if [[ -n "$python" ]]; then
  # Each panel query becomes a recording rule, so promtool's PromQL parser reads it.
  # Grafana's variables: label values ($job, $org, ...) sit inside quotes and parse
  # as they are; the range variable becomes a real duration.
  "$python" - deploy/grafana/streak-connector-dashboard.json "$tmp/dashboard-rules.yml" <<'EOF'
import json, sys, yaml
dashboard = json.load(open(sys.argv[1]))
rules = []
for panel in dashboard["panels"]:
    for i, target in enumerate(panel.get("targets", [])):
        expr = target.get("expr")
        if expr:
            expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
            rules.append({"record": f"dashboard:panel_{panel['id']}_{i}", "expr": expr})
if len(rules) < 20:
    sys.exit(f"only {len(rules)} dashboard queries found")
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
print(f"{len(rules)} dashboard queries")
EOF
  promtool check rules "$tmp/dashboard-rules.yml"
else
  skip "dashboard PromQL: no Python with jsonschema and yaml"
fi

echo "== chart values against values.schema.json (python jsonschema)"
if [[ -n "$python" ]]; then
  "$python" - "$chart" <<'EOF'
import glob, json, os, sys
import jsonschema, yaml
chart = sys.argv[1]
schema = json.load(open(f"{chart}/values.schema.json"))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
def merge(a, b):
    # Helm merges a values file over the defaults: maps deeply, anything else replaced.
    for k, v in b.items():
        a[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a
files = ["values.yaml"] + sorted(os.path.relpath(f, chart) for f in glob.glob(f"{chart}/ci/*.yaml"))
for f in files:
    values = yaml.safe_load(open(f"{chart}/values.yaml"))
    if f != "values.yaml":
        values = merge(values, yaml.safe_load(open(f"{chart}/{f}")) or {})
    errors = sorted(validator.iter_errors(values), key=str)
    for e in errors:
        print(f"{f}: {e.json_path}: {e.message}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"{f}: valid")
EOF
else
  skip "chart values: no Python with jsonschema and yaml"
fi

echo "== docker-compose.yml against the Compose specification schema"
if [[ -n "$python" && -s "$COMPOSE_SCHEMA" ]]; then
  "$python" - "$COMPOSE_SCHEMA" docker-compose.yml <<'EOF'
import json, sys
import jsonschema, yaml
schema = json.load(open(sys.argv[1]))
# The file names draft-07 by an https URL that jsonschema does not map: say it.
validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
errors = sorted(validator.iter_errors(yaml.safe_load(open(sys.argv[2]))), key=str)
for e in errors:
    print(f"{sys.argv[2]}: {e.json_path}: {e.message}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"{sys.argv[2]}: valid")
EOF
else
  skip "docker-compose.yml schema: needs Python with jsonschema and yaml, and $COMPOSE_SCHEMA"
fi

echo "== k8s-validate refuses broken manifests"
if [[ ! -x "$K8S_VALIDATE_BIN" ]] && command -v go >/dev/null 2>&1; then
  build_validator
fi
if [[ -x "$K8S_VALIDATE_BIN" ]]; then
  for bad in deploy/k8s-validate/testdata/bad-*.yaml; do
    expect="$(sed -n '1s/^# expect: //p' "$bad")"
    [[ -n "$expect" ]] || fail "$bad: no '# expect: ...' first line"
    if out="$("$K8S_VALIDATE_BIN" "$bad" 2>&1)"; then
      fail "k8s-validate accepted $bad"
    fi
    grep -qF -- "$expect" <<<"$out" || fail "k8s-validate refused $bad, but not with \"$expect\": $out"
    echo "$bad: refused as expected"
  done
else
  skip "k8s-validate: not built and no go to build it"
fi

echo "== helm"
helm_bin="${HELM:-}"
if [[ -z "$helm_bin" ]]; then
  if [[ -x "$HELM_BIN" ]]; then helm_bin="$HELM_BIN"; else helm_bin=helm; fi
fi
if command -v "$helm_bin" >/dev/null 2>&1 && "$helm_bin" version >/dev/null 2>&1; then
  "$helm_bin" version --short
  shopt -s nullglob
  value_files=("$chart"/ci/*.yaml)
  rule_renders=0
  ((${#value_files[@]})) || fail "no values files in $chart/ci/"
  for values in "${value_files[@]}"; do
    name="$(basename "$values" .yaml)"
    echo "-- $values"
    "$helm_bin" lint --strict "$chart" -f "$values"
    "$helm_bin" template ci "$chart" -f "$values" --kube-version 1.29.0 >"$tmp/$name.rendered.yaml"
    if [[ -x "$K8S_VALIDATE_BIN" ]]; then
      "$K8S_VALIDATE_BIN" "$tmp/$name.rendered.yaml"
    else
      skip "k8s-validate of $values: not built"
    fi
    if "$helm_bin" template ci "$chart" -f "$values" --kube-version 1.29.0 \
      --show-only templates/prometheusrule.yaml >"$tmp/$name.prometheusrule.yaml" 2>/dev/null; then
      if [[ -n "$python" ]]; then
        "$python" - "$tmp/$name.prometheusrule.yaml" "$tmp/$name.rules.yml" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
yaml.safe_dump({"groups": doc["spec"]["groups"]}, open(sys.argv[2], "w"))
EOF
        promtool check rules "$tmp/$name.rules.yml"
        rule_renders=$((rule_renders + 1))
      else
        skip "promtool on the rendered PrometheusRule: no Python with yaml"
      fi
    fi
  done
  ((rule_renders > 0)) || [[ -z "$python" ]] || fail "no ci/ values file renders the PrometheusRule"
else
  skip "helm lint and helm template: no helm binary ($HELM_BIN, \$HELM or helm on PATH)"
fi

echo "check-deploy: OK"
