#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine (idempotent):
# - a C toolchain, make, perl and cmake for librdkafka and OpenSSL (built from source
#   by rdkafka-sys, statically linked),
# - Java 17 and Maven (the real Apache Kafka broker runs from the official jars),
# - promtool (Debian's prometheus package) for metrics and alert-rule checks,
# - the deploy-asset tools of scripts/check-deploy.sh (deploy/tools.sh: helm, the
#   manifest validator, the Compose schema, a Python venv), cached in
#   ~/.cache/streak-connector.
set -euo pipefail

need=()
command -v cc >/dev/null || need+=(build-essential)
command -v make >/dev/null || need+=(make)
command -v perl >/dev/null || need+=(perl)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
command -v npm >/dev/null || need+=(npm)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  echo "ci-setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "ci-setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
# The Apache Kafka broker jars for the real-broker test run (Maven Central, cached in
# ~/.cache/streak-connector; a no-op once there).
"$(dirname "$0")/kafka.sh" fetch

# --- OCSF validator (scripts/ocsf-validate.py, run by the siem tests) ------------------
# The ocsf-json-schema package ships the OCSF 1.8.0 schema and builds a JSON Schema per
# class; jsonschema checks records against it. Pinned, in a venv cached under
# ~/.cache/streak-connector (a no-op once there). scripts/test.sh sets
# STREAK_REQUIRE_OCSF=1, so the validation test fails instead of skipping without it.
ocsf_venv="${HOME}/.cache/streak-connector/ocsf-venv"
ocsf_pins=(ocsf-json-schema==1.2.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0 typing_extensions==4.16.0)
if ! "$ocsf_venv/bin/python" -c 'import ocsf_json_schema, jsonschema' 2>/dev/null; then
  echo "ci-setup: installing the OCSF validator into $ocsf_venv"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  fi
  rm -rf "$ocsf_venv"
  python3 -m venv "$ocsf_venv"
  "$ocsf_venv/bin/pip" install -q --disable-pip-version-check "${ocsf_pins[@]}"
fi

# The deploy-asset tools (scripts/check-deploy.sh): helm built from the Go module proxy,
# deploy/k8s-validate, the Compose specification's schema, a Python venv with
# jsonschema; pinned in deploy/tools.sh, a no-op once cached.
"$(dirname "$0")/../deploy/tools.sh" install
