#!/usr/bin/env bash
# Benchmark: the first poll of a 100k-member organization through the release binary
# against a real broker: 100k SNAPSHOT events plus 100k state records and the
# checkpoint in one transaction. Prints wall time, events per second, the poll's own
# duration (from the log) and peak resident memory (GNU time).
#
#   scripts/bench-first-poll.sh            # starts a broker with scripts/kafka.sh
#   KAFKA_BOOTSTRAP_SERVERS=... scripts/bench-first-poll.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
bin=target/release/streak-connector
[[ -n "${CARGO_TARGET_DIR:-}" ]] && bin="$CARGO_TARGET_DIR/release/streak-connector"

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  STREAK_KAFKA_RUN_DIR="$(mktemp -d -t streak-kafka-XXXXXX)"
  export STREAK_KAFKA_RUN_DIR
  trap 'scripts/kafka.sh stop || true; rm -rf "$STREAK_KAFKA_RUN_DIR"' EXIT
  scripts/kafka.sh start
  eval "$(scripts/kafka.sh env)"
fi

port=$((20000 + RANDOM % 20000))
"$bin" simulate --scenario benches/first-poll/scenario-100k.toml --listen "127.0.0.1:$port" >/dev/null 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' RETURN
sleep 2

suffix="$(date +%s)-$RANDOM"
cfg="$(mktemp)"
printf '[kafka]\npartitions = 6\nreplication_factor = 1\n' >"$cfg"
log="$(mktemp)"
export STREAK_CONNECTOR_API_KEYS=sim-bench-key
export STREAK_CONNECTOR_STREAK_BASE_URL="http://127.0.0.1:$port/api/v1"
export STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS"
export STREAK_CONNECTOR_EVENTS_TOPIC="bench.events.$suffix"
export STREAK_CONNECTOR_STATE_TOPIC="bench.state.$suffix"
export STREAK_CONNECTOR_CONNECTOR_NAME="bench-$suffix"
export STREAK_CONNECTOR_CONFIG="$cfg"
export STREAK_CONNECTOR_LOG_FORMAT=json

runs="${RUNS:-1}"
for i in $(seq 1 "$runs"); do
  export STREAK_CONNECTOR_EVENTS_TOPIC="bench.events.$suffix.$i" STREAK_CONNECTOR_STATE_TOPIC="bench.state.$suffix.$i" STREAK_CONNECTOR_CONNECTOR_NAME="bench-$suffix-$i"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$log.rss" "$bin" once 2>"$log"
  end=$(date +%s.%N)
  rss_kb="$(tail -1 "$log.rss")"
  poll_ms="$(grep -o '"message":"Poll committed"[^}]*' "$log" | grep -o '"duration_ms":[0-9]*' | cut -d: -f2 | head -1)"
  events="$(grep -o '"message":"Poll committed"[^}]*' "$log" | grep -o '"events":[0-9]*' | cut -d: -f2 | head -1)"
  wall="$(echo "$end - $start" | bc)"
  echo "run $i: events=$events wall_s=$wall poll_ms=$poll_ms events_per_s_poll=$(echo "$events * 1000 / $poll_ms" | bc) peak_rss_mib=$((rss_kb / 1024))"
done
kill $sim 2>/dev/null || true
