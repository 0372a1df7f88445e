#!/usr/bin/env bash
# The project's test command (README.md): runs the whole suite.
#
# 1. Every test against in-memory twins, the in-process simulator and librdkafka's
#    in-process mock cluster (zero set-up).
# 2. The Kafka suite again against a real Apache Kafka broker (started here from the
#    official jars by scripts/kafka.sh, cached in ~/.cache/streak-connector), which is
#    where exactly-once, fencing and compaction checks run, plus the broker-outage
#    test (it stops and restarts that broker).
#
# With KAFKA_BOOTSTRAP_SERVERS already set, step 2 uses that broker instead and
# skips the outage test (it cannot restart a broker it did not start).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test.sh: all targets (in-memory twins, mock Kafka cluster)"
KAFKA_BOOTSTRAP_SERVERS= cargo test --all-targets

if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  echo "== test.sh: Kafka suite against $KAFKA_BOOTSTRAP_SERVERS"
  cargo test --test 'kafka*'
  exit 0
fi

# A broker of our own, in its own run dir, removed on exit whatever happens.
export STREAK_KAFKA_RUN_DIR="$PWD/.kafka/test"
scripts/kafka.sh clean >/dev/null 2>&1 || true
trap 'scripts/kafka.sh clean >/dev/null 2>&1 || true' EXIT
echo "== test.sh: starting a real Apache Kafka broker"
scripts/kafka.sh start >/dev/null
eval "$(scripts/kafka.sh env)"
echo "== test.sh: Kafka suite against the real broker at $KAFKA_BOOTSTRAP_SERVERS"
STREAK_KAFKA_OUTAGE_TEST=1 cargo test --test 'kafka*'
