#!/usr/bin/env bash
# The project's test command (README.md): runs the whole suite, starting what it needs.
#
# 1. Every test against in-memory twins, the in-process simulator and librdkafka's
#    in-process mock cluster (zero set-up). Tests that need a real broker say
#    "skipped: needs a real broker" here.
# 2. The real-broker suite against a real Apache Kafka broker set up like a production
#    cluster (scripts/kafka.sh profile `locked`: no topic auto-creation): the Kafka
#    tests (`--test kafka`), the end-to-end tests of the binary with exactly-once
#    under SIGKILL and fencing (`--test e2e`), and the connector-cycle tests; with
#    STREAK_E2E_REQUIRE_REAL_BROKER=1 nothing may skip. The broker is the one named by
#    KAFKA_BOOTSTRAP_SERVERS if set; otherwise one started here from the official jars
#    by scripts/kafka.sh (cached in ~/.cache/streak-connector, fresh data each run,
#    removed on exit).
# 3. The same real-broker suite against a broker with Kafka's STOCK settings
#    (profile `stock`: topic auto-creation on, what `kafka-server-start.sh
#    config/server.properties` gives on one node), always started here; it includes
#    the first runs of `once` with no config file at all (tests/e2e/stock.rs).
# 4. The broker-outage test (`--test outage`), alone, against a broker of its own
#    that it stops and restarts under the connector.
set -euo pipefail
cd "$(dirname "$0")/.."
export STREAK_REQUIRE_OCSF=1 # the OCSF schema validation test (src/siem) must run, not skip

scripts/ci-setup.sh

# Brokers started here: one run dir each, all removed on exit.
started=()
cleanup() {
  for dir in "${started[@]}"; do
    STREAK_KAFKA_RUN_DIR="$dir" scripts/kafka.sh clean >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# start_broker NAME PROFILE: a fresh broker in .kafka/NAME (the one started before
# is removed first: one JVM at a time); exports its address.
start_broker() {
  cleanup
  started=()
  export STREAK_KAFKA_RUN_DIR="$PWD/.kafka/$1"
  scripts/kafka.sh clean >/dev/null 2>&1 || true
  started+=("$STREAK_KAFKA_RUN_DIR")
  echo "== test.sh: starting a real Apache Kafka broker (profile $2)"
  STREAK_KAFKA_PROFILE="$2" scripts/kafka.sh start >/dev/null
  eval "$(scripts/kafka.sh env)"
}

# The real-broker suite against the broker at KAFKA_BOOTSTRAP_SERVERS.
real_broker_suite() {
  echo "== test.sh: pass $1: real-broker suite against $KAFKA_BOOTSTRAP_SERVERS (profile ${STREAK_KAFKA_PROFILE:-unknown})"
  STREAK_E2E_REQUIRE_REAL_BROKER=1 cargo test --test kafka --test e2e
  STREAK_E2E_REQUIRE_REAL_BROKER=1 cargo test --test inproc connector_cycle::
}

echo "== test.sh: pass 1: all targets (in-memory twins, simulator, mock Kafka cluster)"
env -u KAFKA_BOOTSTRAP_SERVERS cargo test --all-targets

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  start_broker test locked
fi
real_broker_suite 2

start_broker stock stock
real_broker_suite 3

start_broker outage locked
echo "== test.sh: pass 4: broker outage against its own broker at $KAFKA_BOOTSTRAP_SERVERS"
STREAK_KAFKA_OUTAGE_TEST=1 cargo test --test outage
