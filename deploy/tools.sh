#!/usr/bin/env bash
# The tools that check the shipping assets (scripts/check-deploy.sh), pinned, built or
# fetched once and cached outside the repository in ~/.cache/streak-connector
# ($STREAK_TOOLS_DIR), so that CI and every machine check with the same versions:
#
# - helm, built from the Go module proxy (go install helm.sh/helm/v3/cmd/helm@HELM_VERSION);
# - k8s-validate, this repository's deploy/k8s-validate/ (Go), cached under a name
#   that carries the hash of its sources, so an edit rebuilds it;
# - the Compose specification's JSON schema, as the npm package dclint ships it
#   (schemas/compose.schema.json), its tarball pinned by SHA-256;
# - a Python venv with jsonschema and PyYAML (pinned) for the schema checks.
#
# promtool is not here: Debian's prometheus package brings it (scripts/ci-setup.sh).
#
# Usage: deploy/tools.sh install    fetch or build whatever is missing (idempotent)
#        source deploy/tools.sh     only define the paths (check-deploy.sh does)
set -euo pipefail

HELM_VERSION=v3.22.0
COMPOSE_SCHEMA_PACKAGE=dclint@3.1.0
COMPOSE_SCHEMA_SHA256=73fc6079a0408c80c7ccea9e9e5c21c40551afaf15e8c1ee25a5ad6af1ec0414
PY_REQUIREMENTS=(jsonschema==4.26.0 PyYAML==6.0.3)

deploy_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${STREAK_TOOLS_DIR:-$HOME/.cache/streak-connector}"
tools_bin="$tools_dir/bin"
validator_src="$deploy_repo/deploy/k8s-validate"
validator_hash="$(cd "$validator_src" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)"

HELM_BIN="$tools_bin/helm-$HELM_VERSION"
K8S_VALIDATE_BIN="$tools_bin/k8s-validate-$validator_hash"
COMPOSE_SCHEMA="$tools_dir/compose-spec/${COMPOSE_SCHEMA_PACKAGE/@/-}/compose.schema.json"
DEPLOY_PYTHON="$tools_dir/deploy-venv/bin/python"

# Go may be installed but not on PATH (its default place).
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="$PATH:/usr/local/go/bin"
fi

install_helm() {
  [[ -x "$HELM_BIN" ]] && return 0
  command -v go >/dev/null 2>&1 || { echo "deploy-tools: go not found: cannot build helm" >&2; return 1; }
  echo "deploy-tools: building helm $HELM_VERSION from the Go module proxy (a few minutes, once)"
  local gobin
  gobin="$(mktemp -d)"
  (cd "$gobin" && GOBIN="$gobin" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  mkdir -p "$tools_bin"
  mv "$gobin/helm" "$HELM_BIN"
  rm -rf "$gobin"
}

build_validator() {
  [[ -x "$K8S_VALIDATE_BIN" ]] && return 0
  command -v go >/dev/null 2>&1 || { echo "deploy-tools: go not found: cannot build k8s-validate" >&2; return 1; }
  echo "deploy-tools: building deploy/k8s-validate"
  mkdir -p "$tools_bin"
  (cd "$validator_src" && GOFLAGS="-buildvcs=false -mod=readonly" go build -o "$K8S_VALIDATE_BIN.tmp" .)
  mv "$K8S_VALIDATE_BIN.tmp" "$K8S_VALIDATE_BIN"
}

install_compose_schema() {
  [[ -s "$COMPOSE_SCHEMA" ]] && return 0
  command -v npm >/dev/null 2>&1 || { echo "deploy-tools: npm not found: cannot fetch the Compose schema" >&2; return 1; }
  echo "deploy-tools: fetching the Compose specification schema ($COMPOSE_SCHEMA_PACKAGE)"
  local tmp tgz
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$COMPOSE_SCHEMA_PACKAGE" >/dev/null)
  tgz="$(ls "$tmp"/*.tgz)"
  echo "$COMPOSE_SCHEMA_SHA256  $tgz" | sha256sum -c --quiet - ||
    { echo "deploy-tools: $COMPOSE_SCHEMA_PACKAGE does not have the pinned checksum" >&2; rm -rf "$tmp"; return 1; }
  tar -xzf "$tgz" -C "$tmp" package/schemas/compose.schema.json
  mkdir -p "$(dirname "$COMPOSE_SCHEMA")"
  mv "$tmp/package/schemas/compose.schema.json" "$COMPOSE_SCHEMA"
  rm -rf "$tmp"
}

install_python() {
  if [[ -x "$DEPLOY_PYTHON" ]] && "$DEPLOY_PYTHON" -c 'import jsonschema, yaml' 2>/dev/null; then
    return 0
  fi
  echo "deploy-tools: creating the Python venv for the schema checks"
  python3 -m venv "$tools_dir/deploy-venv"
  "$DEPLOY_PYTHON" -m pip install --quiet --disable-pip-version-check "${PY_REQUIREMENTS[@]}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  case "${1:-}" in
    install)
      install_helm
      build_validator
      install_compose_schema
      install_python
      echo "deploy-tools: helm $HELM_VERSION, k8s-validate, Compose schema and Python venv in $tools_dir"
      ;;
    *)
      echo "usage: $0 install" >&2
      exit 2
      ;;
  esac
fi
