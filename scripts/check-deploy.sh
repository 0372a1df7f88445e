#!/usr/bin/env bash
# Checks the shipping assets with the real tools (CI runs it; see docs/operations.md,
# "How the shipping assets are checked"):
#
# 1. the Helm chart's copies of the dashboard and the alert rules equal deploy/;
# 2. promtool: the alert rules are valid, their unit tests pass (each alert fires and
#    clears), the compose Prometheus configuration is valid;
# 3. Python's jsonschema validates the chart values, where python3 has it;
# 4. helm lint --strict and helm template with the chart's ci/ values files, and the
#    rendered PrometheusRule through promtool, where a helm binary exists.
#
# Installs nothing. promtool is required (Debian's prometheus package; ci-setup.sh
# installs it); python3's jsonschema and helm are optional, and their checks say so
# when they are skipped. The rest of the checks run in `cargo test --test deploy_assets`.
#
# Usage: scripts/check-deploy.sh           check
#        scripts/check-deploy.sh --sync    first copy the dashboard and the rules from
#                                          deploy/ into the chart, then check
set -euo pipefail
cd "$(dirname "$0")/.."

chart=helm/streak-connector
pairs=(
  "deploy/grafana/streak-connector-dashboard.json:$chart/files/streak-connector-dashboard.json"
  "deploy/prometheus/alerts.yml:$chart/files/alerts.yml"
)
fail() {
  echo "check-deploy: FAILED: $*" >&2
  exit 1
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

echo "== chart copies of deploy/"
for p in "${pairs[@]}"; do
  cmp -s "${p%%:*}" "${p##*:}" || fail "${p##*:} differs from ${p%%:*}: run $0 --sync"
done
echo "identical"

echo "== promtool"
command -v promtool >/dev/null 2>&1 ||
  fail "promtool not found. Install Debian's prometheus package (apt-get install prometheus; scripts/ci-setup.sh does it); this script installs nothing."
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml
promtool check config deploy/prometheus/prometheus.yml

echo "== values.yaml against values.schema.json (python jsonschema)"
if command -v python3 >/dev/null 2>&1 && python3 -c 'import jsonschema, yaml' 2>/dev/null; then
  python3 - "$chart" <<'EOF'
import json, sys
import jsonschema, yaml
chart = sys.argv[1]
schema = json.load(open(f"{chart}/values.schema.json"))
jsonschema.Draft7Validator.check_schema(schema)
for f in ["values.yaml", "ci/default-values.yaml", "ci/full-values.yaml"]:
    values = yaml.safe_load(open(f"{chart}/values.yaml"))
    if f != "values.yaml":
        # Helm merges a values file over the defaults; a shallow-enough merge for ours.
        def merge(a, b):
            for k, v in b.items():
                a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
            return a
        values = merge(values, yaml.safe_load(open(f"{chart}/{f}")))
    jsonschema.validate(values, schema)
    print(f"{f}: valid")
EOF
else
  echo "SKIPPED: python3 with jsonschema and yaml not available (cargo test still validates with its own checker)"
fi

echo "== helm"
helm_bin="${HELM:-helm}"
if command -v "$helm_bin" >/dev/null 2>&1 && "$helm_bin" version >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  for values in "$chart"/ci/*-values.yaml; do
    "$helm_bin" lint --strict "$chart" -f "$values"
    "$helm_bin" template ci "$chart" -f "$values" --kube-version 1.29.0 >"$tmp/$(basename "$values" .yaml).rendered.yaml"
  done
  "$helm_bin" template ci "$chart" -f "$chart/ci/full-values.yaml" --kube-version 1.29.0 \
    --show-only templates/prometheusrule.yaml >"$tmp/prometheusrule.yaml"
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$tmp/prometheusrule.yaml" "$tmp/rules.yml" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
yaml.safe_dump({"groups": doc["spec"]["groups"]}, open(sys.argv[2], "w"))
EOF
    promtool check rules "$tmp/rules.yml"
  else
    echo "SKIPPED: promtool on the rendered PrometheusRule (python3 with yaml not available)"
  fi
else
  echo "SKIPPED: helm lint and helm template: no helm binary (set HELM or put helm on PATH)"
fi

echo "check-deploy: OK"
