#!/usr/bin/env bash
# The project's test command (README.md): runs the whole suite, starting what it needs.
#
# 1. Every test against in-memory twins, the in-process simulator and librdkafka's
#    in-process mock cluster (zero set-up). Tests that need a real broker say
#    "skipped: needs a real broker" here.
# 2. The Kafka suite again against a real Apache Kafka broker: the one named by
#    KAFKA_BOOTSTRAP_SERVERS if set, else one started here from the official jars by
#    scripts/kafka.sh (cached in ~/.cache/streak-connector, fresh data each run).
#    Exactly-once under SIGKILL, fencing, aborted-transaction visibility and
#    compaction checks run there, and must not skip.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ci-setup.sh

echo "== pass 1: whole suite (in-memory twins, simulator, librdkafka mock cluster)"
env -u KAFKA_BOOTSTRAP_SERVERS cargo test --all-targets

echo "== pass 2: Kafka suite against a real Apache Kafka broker"
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  STREAK_KAFKA_RUN_DIR="$(mktemp -d -t streak-kafka-XXXXXX)"
  export STREAK_KAFKA_RUN_DIR
  cleanup() {
    scripts/kafka.sh stop || true
    rm -rf "$STREAK_KAFKA_RUN_DIR"
  }
  trap cleanup EXIT
  scripts/kafka.sh start
  eval "$(scripts/kafka.sh env)"
fi
echo "broker: $KAFKA_BOOTSTRAP_SERVERS"
STREAK_E2E_REQUIRE_REAL_BROKER=1 cargo test \
  --test 'kafka_*' --test exactly_once --test fencing --test 'e2e_*' --test connector_cycle
