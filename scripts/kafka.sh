#!/usr/bin/env bash
# A real, single-node Apache Kafka broker for tests and local development, run from
# the official jars on Maven Central. Needs only Java 17+ and Maven.
#
#   scripts/kafka.sh start    resolve the jars (cached), format KRaft storage, start a
#                             combined broker+controller on 127.0.0.1, wait until it
#                             answers, print the bootstrap address
#   scripts/kafka.sh stop     stop it by its pid (SIGTERM, SIGKILL after 30 s); data kept
#   scripts/kafka.sh restart  stop then start again on the same ports with the same data
#   scripts/kafka.sh status   running or not, and where
#   scripts/kafka.sh env      print `export KAFKA_BOOTSTRAP_SERVERS=...` and
#                             `export STREAK_KAFKA_PROFILE=...` (eval it)
#   scripts/kafka.sh clean    stop, then delete the data (the jar cache is kept)
#   scripts/kafka.sh fetch    only resolve the jars into the cache (CI set-up)
#
# Profiles (STREAK_KAFKA_PROFILE, read by `start` on fresh data, kept in the run dir):
#   locked  (default) like a production cluster: topics are created on purpose
#           (auto.create.topics.enable=false), small internal topics, quick
#           clean-up of aborted transactions: fast tests.
#   stock   Kafka's stock settings on one node, what
#           `bin/kafka-server-start.sh config/server.properties` gives: topic
#           auto-creation ON and every other setting at Kafka's default; only
#           what a random-port, single-node KRaft run needs is written.
#
# Jars:  ${STREAK_KAFKA_CACHE:-$HOME/.cache/streak-connector}/kafka-<version>/libs
# Run:   ${STREAK_KAFKA_RUN_DIR:-<repo>/.kafka/broker}: server.properties, data/,
#        broker.log, broker.pid, bootstrap (the address), ports
#        (scripts/test.sh uses its own run dir, <repo>/.kafka/test)
#
# A `start` while a run dir with formatted data exists reuses its ports and data (so a
# test can stop and restart the broker under a client's feet); `clean` starts afresh.
set -euo pipefail

KAFKA_VERSION="${STREAK_KAFKA_VERSION:-4.1.1}"
SCALA_VERSION="2.13"
SLF4J_SIMPLE_VERSION="1.7.36"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${STREAK_KAFKA_CACHE:-$HOME/.cache/streak-connector}/kafka-${KAFKA_VERSION}"
run="${STREAK_KAFKA_RUN_DIR:-$repo/.kafka/broker}"
heap="${STREAK_KAFKA_HEAP:-512m}"
profile="${STREAK_KAFKA_PROFILE:-locked}"

log() { echo "kafka.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- jars -------------------------------------------------------------------------

resolve_jars() {
  if [[ -f "$cache/libs/.complete" ]]; then
    return
  fi
  command -v mvn >/dev/null || die "maven (mvn) is needed to fetch the Kafka jars; scripts/ci-setup.sh installs it"
  log "resolving org.apache.kafka:kafka_${SCALA_VERSION}:${KAFKA_VERSION} and its runtime dependencies into $cache (first run only)"
  mkdir -p "$cache"
  # The broker's pom declares its runtime dependencies; slf4j-simple gives it a log
  # (the official distribution ships log4j, which the pom leaves out).
  cat >"$cache/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streak-connector</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>${SLF4J_SIMPLE_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$cache/libs.tmp"
  mvn -B -q -Dstyle.color=never -f "$cache/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$cache/libs.tmp" >&2 ||
    die "maven could not resolve the Kafka jars (is Maven Central reachable?)"
  rm -rf "$cache/libs"
  mv "$cache/libs.tmp" "$cache/libs"
  touch "$cache/libs/.complete"
}

java_cp() {
  command -v java >/dev/null || die "java 17+ is needed to run the broker; scripts/ci-setup.sh installs it"
  java -Xmx"$heap" -Xms128m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn \
    -cp "$cache/libs/*" "$@"
}

# --- ports ------------------------------------------------------------------------

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Below the kernel's ephemeral range (where outgoing connections take their local
# ports, so a port free when checked can be taken before the broker binds it).
ephemeral_low() {
  local low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  echo "$low"
}

free_port() {
  local p low
  low="$(ephemeral_low)"
  ((low > 21000)) || low=60000
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % (low - 20000)))
    if ! port_in_use "$p"; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# --- state ------------------------------------------------------------------------

pid() { [[ -f "$run/broker.pid" ]] && cat "$run/broker.pid"; }

running() {
  local p
  p="$(pid)" || return 1
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null
}

write_config() {
  local port="$1" cport="$2"
  # What every profile needs: one combined broker+controller on random local ports.
  cat >"$run/server.properties" <<EOF
# Single combined broker+controller for tests (written by scripts/kafka.sh,
# profile ${profile}).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${run}/data
EOF
  case "$profile" in
  locked)
    cat >>"$run/server.properties" <<EOF
# One node: every internal topic at replication factor 1, few partitions (fast start).
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Like a production cluster: topics are created on purpose, by the connector or a test.
auto.create.topics.enable=false
# Aborted transactions of killed producers are rolled back quickly.
transaction.abort.timed.out.transaction.cleanup.interval.ms=5000
log.cleaner.backoff.ms=1000
EOF
    ;;
  stock)
    # The rest of Kafka's config/server.properties (4.x); everything it does not set
    # (auto.create.topics.enable=true, default.replication.factor=1, 50 partitions
    # of the internal topics, ...) stays at Kafka's default.
    cat >>"$run/server.properties" <<EOF
# Kafka's stock config/server.properties for one node.
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
EOF
    ;;
  *) die "unknown STREAK_KAFKA_PROFILE '$profile' (locked or stock)" ;;
  esac
}

format_storage() {
  local id
  id="$(java_cp kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  [[ -n "$id" ]] || die "could not generate a cluster id (kafka.tools.StorageTool random-uuid)"
  java_cp kafka.tools.StorageTool format -t "$id" -c "$run/server.properties" >>"$run/broker.log" 2>&1 ||
    die "formatting the KRaft storage failed; see $run/broker.log"
}

wait_ready() {
  local p="$1" port="$2" deadline=$((SECONDS + ${STREAK_KAFKA_START_TIMEOUT:-120}))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$p" 2>/dev/null; then
      if [[ "${retry_bind:-0}" == 1 ]] && grep -q "Address already in use" "$run/broker.log" 2>/dev/null; then
        return 2 # a port was taken after it was checked: the caller picks others
      fi
      tail -n 30 "$run/broker.log" >&2 || true
      die "the broker exited during start-up; see $run/broker.log"
    fi
    if grep -q "Kafka Server started" "$run/broker.log" 2>/dev/null && port_in_use "$port"; then
      return
    fi
    sleep 0.2
  done
  die "the broker did not answer within the start timeout; see $run/broker.log"
}

launch() {
  local port="$1"
  # setsid: the broker outlives this script and ignores the caller's Ctrl-C.
  setsid bash -c 'exec "$@"' _ \
    java -Xmx"$heap" -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS" \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn \
    -Dorg.slf4j.simpleLogger.log.kafka.log.LogCleaner=warn \
    -cp "$cache/libs/*" kafka.Kafka "$run/server.properties" \
    >>"$run/broker.log" 2>&1 </dev/null &
  echo $! >"$run/broker.pid"
  wait_ready "$!" "$port" || return $?
}

cmd_start() {
  if running; then
    log "already running (pid $(pid)) at $(cat "$run/bootstrap")"
    cat "$run/bootstrap"
    return
  fi
  local t0=$SECONDS
  resolve_jars
  mkdir -p "$run"
  local port cport
  if [[ -f "$run/ports" && -f "$run/data/meta.properties" ]]; then
    read -r port cport <"$run/ports"
    profile="$(cat "$run/profile" 2>/dev/null || echo locked)"
    if port_in_use "$port" || port_in_use "$cport"; then
      die "port $port or $cport (kept from the last run in $run) is taken; run 'scripts/kafka.sh clean' first"
    fi
    log "restarting on 127.0.0.1:$port with the data in $run/data"
    launch "$port"
  else
    # Fresh data on fresh ports; a port taken between the check and the bind
    # (another process's) gets new ports, up to three times.
    local attempt rc
    for attempt in 1 2 3; do
      rm -rf "$run/data"
      port="$(free_port)"
      cport="$(free_port)"
      [[ "$port" != "$cport" ]] || cport="$(free_port)"
      echo "$port $cport" >"$run/ports"
      echo "$profile" >"$run/profile"
      : >"$run/broker.log"
      write_config "$port" "$cport"
      format_storage
      rc=0
      retry_bind=$((attempt < 3 ? 1 : 0)) launch "$port" || rc=$?
      [[ $rc -eq 0 ]] && break
      log "port $port or $cport was taken as the broker bound it; trying other ports"
    done
  fi
  echo "127.0.0.1:$port" >"$run/bootstrap"
  log "broker up at 127.0.0.1:$port (profile $profile, pid $(pid), $((SECONDS - t0)) s; log $run/broker.log)"
  echo "127.0.0.1:$port"
}

cmd_stop() {
  if ! running; then
    log "not running"
    rm -f "$run/broker.pid"
    return
  fi
  local p
  p="$(pid)"
  kill -TERM "$p"
  for _ in $(seq 1 150); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$p" 2>/dev/null; then
    log "pid $p did not stop within 30 s; killing it"
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$run/broker.pid"
  log "stopped (pid $p)"
}

cmd_status() {
  if running; then
    echo "running: pid $(pid), bootstrap $(cat "$run/bootstrap"), Kafka $KAFKA_VERSION, profile $(cat "$run/profile" 2>/dev/null || echo locked), run dir $run"
  else
    echo "stopped (run dir $run)"
    return 3
  fi
}

cmd_env() {
  running || die "no broker running; run 'scripts/kafka.sh start' first"
  echo "export KAFKA_BOOTSTRAP_SERVERS=$(cat "$run/bootstrap")"
  echo "export STREAK_KAFKA_PROFILE=$(cat "$run/profile" 2>/dev/null || echo locked)"
}

cmd_clean() {
  cmd_stop
  rm -rf "$run"
  log "removed $run"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
restart)
  cmd_stop
  cmd_start
  ;;
status) cmd_status ;;
env) cmd_env ;;
clean) cmd_clean ;;
fetch) resolve_jars ;;
*)
  sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
