#!/usr/bin/env bash
# The project's test command (README.md): runs the whole suite, starting what it needs.
#
# 1. Every test against in-memory twins, the in-process simulator and librdkafka's
#    in-process mock cluster (zero set-up). Tests that need a real broker say
#    "skipped: needs a real broker" here.
# 2. The Kafka suite again against a real Apache Kafka broker: exactly-once under
#    SIGKILL, fencing, aborted-transaction visibility, compaction checks and the
#    end-to-end tests of the binary run there and must not skip. The broker is the one
#    named by KAFKA_BOOTSTRAP_SERVERS if set; otherwise one started here from the
#    official jars by scripts/kafka.sh (cached in ~/.cache/streak-connector, fresh data
#    each run, removed on exit), and then the broker-outage test runs too (it stops and
#    restarts that broker under the connector).
set -euo pipefail
cd "$(dirname "$0")/.."
export STREAK_REQUIRE_OCSF=1 # the OCSF schema validation test (src/siem) must run, not skip

scripts/ci-setup.sh

echo "== test.sh: pass 1: all targets (in-memory twins, simulator, mock Kafka cluster)"
env -u KAFKA_BOOTSTRAP_SERVERS cargo test --all-targets

outage=0
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  export STREAK_KAFKA_RUN_DIR="$PWD/.kafka/test"
  scripts/kafka.sh clean >/dev/null 2>&1 || true
  trap 'scripts/kafka.sh clean >/dev/null 2>&1 || true' EXIT
  echo "== test.sh: starting a real Apache Kafka broker"
  scripts/kafka.sh start >/dev/null
  eval "$(scripts/kafka.sh env)"
  outage=1
fi
echo "== test.sh: pass 2: Kafka suite against the real broker at $KAFKA_BOOTSTRAP_SERVERS"
STREAK_KAFKA_OUTAGE_TEST="$outage" STREAK_E2E_REQUIRE_REAL_BROKER=1 cargo test \
  --test 'kafka*' --test exactly_once --test fencing --test 'e2e_*' --test connector_cycle
