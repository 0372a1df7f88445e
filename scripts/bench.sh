#!/usr/bin/env bash
# Benchmarks through the binary (issue 15): whole `streak-connector once` processes of
# the release build, against a real Apache Kafka broker and the Streak simulator
# serving generated members. Prints one table of medians of RUNS runs; every run uses
# fresh topics and a fresh connector name (random, so parallel runs do not collide)
# and a fresh simulator. Method and recorded figures: docs/benchmarks.md, "Through
# the binary (scripts/bench.sh)".
#
#   scripts/bench.sh                          # starts a broker with scripts/kafka.sh
#   KAFKA_BOOTSTRAP_SERVERS=host:port scripts/bench.sh
#
# Environment:
#   RUNS=3                 runs per row (the median is printed, all values beside it)
#   BENCH_SIZES="10000 100000"   organization sizes of the single-organization rows
#                          (empty: none)
#   BENCH_MANY=1           0 skips the 1,000 organizations of 50 members
#   BENCH_MANY_ORGS=1000   BENCH_MANY_MEMBERS=50
#   BENCH_HUGE=0           1 adds a 1M-member organization (about 4 minutes a
#                          run; several GB of RAM, connector and simulator): first
#                          poll, no-change `once`, and three cycles of `run`
#   BENCH_HUGE_MEMBERS=1000000
#   BENCH_MAX_BODY_BYTES   streak.max_body_bytes for every run (default: the
#                          connector's 512 MiB, which fits the 1M organization)
#   BENCH_MAX_CONCURRENT_POLLS   max_concurrent_polls for every run (default: the
#                          connector's 4), which is also the number of producers
#   BENCH_RESTORE_READER   kafka.restore_reader for every run (default: the
#                          connector's `auto`, its own reader on this plaintext
#                          broker; `librdkafka` for the consumer it falls back to)
#   BENCH_BIN=PATH         measure this binary instead of building the release one
#   BENCH_KEEP=1           keep the work directory (logs, scenarios) and print it
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
SIZES="${BENCH_SIZES-10000 100000}"
MANY_ORGS="${BENCH_MANY_ORGS:-1000}"
MANY_MEMBERS="${BENCH_MANY_MEMBERS:-50}"
HUGE_MEMBERS="${BENCH_HUGE_MEMBERS:-1000000}"

if [[ -n "${BENCH_BIN:-}" ]]; then
  bin="$BENCH_BIN"
else
  nice cargo build --release --quiet --bin streak-connector
  bin="${CARGO_TARGET_DIR:-target}/release/streak-connector"
fi

work="$(mktemp -d -t streak-bench-XXXXXX)"
sim_pid=""
own_kafka=""
cleanup() {
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  [[ -n "$own_kafka" ]] && { scripts/kafka.sh stop >/dev/null 2>&1 || true; rm -rf "$own_kafka"; }
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  own_kafka="$(mktemp -d -t streak-bench-kafka-XXXXXX)"
  export STREAK_KAFKA_RUN_DIR="$own_kafka"
  scripts/kafka.sh start >&2
  eval "$(scripts/kafka.sh env)"
fi

cfg="$work/connector.toml"
{
  [[ -n "${BENCH_MAX_CONCURRENT_POLLS:-}" ]] && printf 'max_concurrent_polls = %s\n' "$BENCH_MAX_CONCURRENT_POLLS"
  printf '[kafka]\npartitions = 6\nreplication_factor = 1\n'
  [[ -n "${BENCH_RESTORE_READER:-}" ]] && printf 'restore_reader = "%s"\n' "$BENCH_RESTORE_READER"
  [[ -n "${BENCH_MAX_BODY_BYTES:-}" ]] && printf '[streak]\nmax_body_bytes = %s\n' "$BENCH_MAX_BODY_BYTES"
} >"$cfg"
results="$work/results.tsv" # row <TAB> value (a number, or "FAILED: why")
notes="$work/notes.txt"
: >"$results"
: >"$notes"
record() { printf '%s\t%s\n' "$1" "$2" >>"$results"; }
note() { echo "$*" >>"$notes"; echo "bench: $*" >&2; }

# start_sim SCENARIO: a fresh simulator on a free port; sets sim_pid and sim_url.
start_sim() {
  "$bin" simulate --scenario "$1" --listen 127.0.0.1:0 >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 600); do
    sim_url="$(sed -n 's/^simulator listening on //p' "$work/sim.out" | head -1)"
    [[ -n "$sim_url" ]] && return 0
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: the simulator did not start:" >&2
  cat "$work/sim.err" >&2
  exit 1
}
stop_sim() {
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=""
}

# new_topics: fresh topic and connector names for the next run.
new_topics() {
  local id
  id="$(date +%s)-$$-$RANDOM$RANDOM"
  export STREAK_CONNECTOR_EVENTS_TOPIC="bench.events.$id"
  export STREAK_CONNECTOR_STATE_TOPIC="bench.state.$id"
  export STREAK_CONNECTOR_CONNECTOR_NAME="bench-$id"
}

# run_once LABEL: one whole `once` process against the current simulator and topics.
# Leaves LABEL.log (JSON log), sets wall_s, rss_mib, cpu_s (the process's user + system
# CPU seconds: on two cores shared with the broker and the simulator, the connector's
# own cost, less noisy than its wall time) and once_rc.
run_once() {
  local log="$work/$1.log" start end
  start="$(date +%s.%N)"
  once_rc=0
  STREAK_CONNECTOR_STREAK_BASE_URL="$sim_url" STREAK_CONNECTOR_CONFIG="$cfg" \
    STREAK_CONNECTOR_LOG_FORMAT=json STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
    /usr/bin/time -f '%M %U %S' -o "$log.rss" "$bin" once 2>"$log" >/dev/null || once_rc=$?
  end="$(date +%s.%N)"
  wall_s="$(printf %.3f "$(echo "$end - $start" | bc)")"
  local usage
  usage="$(tail -1 "$log.rss")"
  rss_mib="$(( $(echo "$usage" | awk '{print $1}' | tr -dc 0-9) / 1024 ))"
  cpu_s="$(echo "$usage" | awk '{printf "%.2f", $2 + $3}')"
}

# field LABEL MESSAGE FIELD: FIELD of the log lines with that message, one a line.
field() {
  jq -R -r --arg m "$2" --arg f "$3" 'fromjson? | select(.message == $m) | .[$f] // empty' "$work/$1.log"
}
# failure LABEL: why the run failed, for the table: the first failed poll's error,
# else the first error logged.
failure() {
  local why
  why="$(jq -R -r 'fromjson? | select(.message == "Poll failed") | "\(.error_code): \(.error)"' \
    "$work/$1.log" | head -1)"
  [[ -n "$why" ]] || why="$(jq -R -r 'fromjson? | select(.level == "ERROR") | .message' "$work/$1.log" | head -1)"
  echo "FAILED (exit $once_rc): ${why:-$(tail -1 "$work/$1.log")}" | cut -c1-300
}
# check_events LABEL EXPECTED: the run published what the scenario implies.
check_events() {
  local got
  got="$(field "$1" "Poll committed" events | awk '{s += $1} END {print s + 0}')"
  [[ "$got" == "$2" ]] || note "$1: published $got events, expected $2 (the figures of this run measure something else)"
}

# size_label N: 10k, 100k, 1M.
size_label() {
  if (( $1 >= 1000000 && $1 % 1000000 == 0 )); then echo "$(( $1 / 1000000 ))M"
  elif (( $1 >= 1000 && $1 % 1000 == 0 )); then echo "$(( $1 / 1000 ))k"
  else echo "$1"; fi
}

# One simulator and one pair of topics per run: first poll, no change, 1% churn.
bench_size() {
  local n="$1" k base churn
  k="$(size_label "$n")" base="$work/base-$n.toml" churn="$work/churn-$n.toml"
  printf '[[organizations]]\nkey = "org-bench"\napi_keys = ["sim-bench-key"]\ngenerate = { count = %s, seed = 7 }\n' "$n" >"$base"
  start_sim "$base"
  curl -sf -u sim-bench-key: "$sim_url/organizations/org-bench/users" >"$work/listing-$n.json"
  stop_sim
  local churn_events
  churn_events="$(python3 benches/first-poll/churn.py "$work/listing-$n.json" "$n" "$churn")"
  export STREAK_CONNECTOR_API_KEYS=sim-bench-key
  for r in $(seq 1 "$RUNS"); do
    echo "bench: $k members, run $r/$RUNS" >&2
    start_sim "$churn"
    new_topics
    run_once "first-$n-$r"
    if [[ $once_rc -ne 0 ]]; then
      record "first poll $k: wall s" "$(failure "first-$n-$r")"
      stop_sim
      continue
    fi
    check_events "first-$n-$r" "$n"
    record "first poll $k: wall s" "$wall_s"
    record "first poll $k: peak RSS MiB" "$rss_mib"
    record "first poll $k: connector CPU s (user+sys)" "$cpu_s"
    local poll_ms
    poll_ms="$(field "first-$n-$r" "Poll committed" duration_ms | head -1)"
    record "first poll $k: poll (diff+encode+commit) ms" "${poll_ms:-0}"
    record "first poll $k: events/s of the poll" "$(( n * 1000 / (${poll_ms:-0} > 0 ? poll_ms : 1) ))"
    record "restore of an empty state topic (every first poll): ms" "$(field "first-$n-$r" "Organizations restored" duration_ms | head -1)"
    for kind in nochange churn; do
      run_once "$kind-$n-$r"
      local row="no change"
      [[ $kind == churn ]] && row="1% churn"
      if [[ $once_rc -ne 0 ]]; then
        record "$row $k: wall s" "$(failure "$kind-$n-$r")"
        continue
      fi
      record "$row $k: wall s" "$wall_s"
      if [[ $kind == nochange ]]; then
        check_events "$kind-$n-$r" 0
        record "no change $k: poll ms" "$(field "$kind-$n-$r" "Poll committed" duration_ms | head -1)"
        record "no change $k: peak RSS MiB" "$rss_mib"
        record "no change $k: connector CPU s (user+sys)" "$cpu_s"
        bench_restore "$kind-$n-$r" "$k"
      else
        check_events "$kind-$n-$r" "$churn_events"
      fi
    done
    stop_sim
  done
}

# bench_restore LABEL K: the restore of a state topic holding the organization.
bench_restore() {
  local records read_ms total_ms
  records="$(field "$1" "Restored state" records | head -1)"
  read_ms="$(field "$1" "Restored state" duration_ms | head -1)"
  total_ms="$(field "$1" "Organizations restored" duration_ms | head -1)"
  records="${records:-0}" read_ms="${read_ms:-0}" total_ms="${total_ms:-0}"
  record "restore at $2 (no-change run): records" "$records"
  record "restore at $2: read+decode ms" "$read_ms"
  record "restore at $2: read+decode records/s" "$(( records * 1000 / (read_ms > 0 ? read_ms : 1) ))"
  record "restore at $2: fold into organizations ms" "$(( total_ms - read_ms ))"
}

# Many small organizations, one API key each: a populating `once`, then a timed
# no-change `once`.
bench_many() {
  local scen="$work/many.toml" keys=""
  : >"$scen"
  for i in $(seq 1 "$MANY_ORGS"); do
    printf '[[organizations]]\nkey = "org-%05d"\napi_keys = ["sim-key-%05d"]\ngenerate = { count = %s, seed = %s }\n\n' \
      "$i" "$i" "$MANY_MEMBERS" "$i" >>"$scen"
    keys+="${keys:+,}sim-key-$(printf %05d "$i")"
  done
  export STREAK_CONNECTOR_API_KEYS="$keys"
  local row="$MANY_ORGS orgs x $MANY_MEMBERS, no change"
  for r in $(seq 1 "$RUNS"); do
    echo "bench: $MANY_ORGS organizations, run $r/$RUNS" >&2
    start_sim "$scen"
    new_topics
    run_once "many-first-$r"
    if [[ $once_rc -ne 0 ]]; then
      record "$row: wall s" "$(failure "many-first-$r") (in the populating first poll)"
      stop_sim
      continue
    fi
    record "$MANY_ORGS orgs x $MANY_MEMBERS, first poll: wall s" "$wall_s"
    run_once "many-$r"
    if [[ $once_rc -ne 0 ]]; then
      record "$row: wall s" "$(failure "many-$r")"
    else
      check_events "many-$r" 0
      local polls
      polls="$(field "many-$r" "Poll committed" events | wc -l)"
      [[ "$polls" == "$MANY_ORGS" ]] || note "many-$r: $polls organization polls committed, expected $MANY_ORGS"
      record "$row: wall s" "$wall_s"
      record "$row: organization polls/s" "$(printf %.1f "$(echo "scale=3; $polls / $wall_s" | bc)")"
    fi
    stop_sim
  done
}

# The 1M-member organization: first poll, then a no-change poll. A failure (the body
# cap, the transaction timeout, memory) is the figure.
bench_huge() {
  local n="$HUGE_MEMBERS" k scen
  k="$(size_label "$n")" scen="$work/huge.toml"
  printf '[[organizations]]\nkey = "org-bench"\napi_keys = ["sim-bench-key"]\ngenerate = { count = %s, seed = 7 }\n' "$n" >"$scen"
  export STREAK_CONNECTOR_API_KEYS=sim-bench-key
  for r in $(seq 1 "$RUNS"); do
    echo "bench: $k members, run $r/$RUNS" >&2
    start_sim "$scen"
    new_topics
    run_once "huge-first-$r"
    if [[ $once_rc -ne 0 ]]; then
      record "first poll $k: wall s" "$(failure "huge-first-$r")"
      stop_sim
      continue
    fi
    check_events "huge-first-$r" "$n"
    record "first poll $k: wall s" "$wall_s"
    record "first poll $k: peak RSS MiB" "$rss_mib"
    run_once "huge-nochange-$r"
    if [[ $once_rc -ne 0 ]]; then
      record "no change $k: poll ms" "$(failure "huge-nochange-$r")"
    else
      check_events "huge-nochange-$r" 0
      record "no change $k: poll ms" "$(field "huge-nochange-$r" "Poll committed" duration_ms | head -1)"
      record "no change $k: wall s" "$wall_s"
      bench_restore "huge-nochange-$r" "$k"
      run_cycles "huge-run-$r" "$k"
    fi
    stop_sim
  done
}

# run_cycles LABEL K: `run` on the current topics for three cycles, 10 s apart; the
# second and third cycles fetch their own listing (the first takes the one fetched
# during the restore). Records each one's listing request plus its poll: the
# no-change cycle of `run`, from the request to the commit.
run_cycles() {
  local log="$work/$1.log" cfg_run="$work/run.toml" pid n
  { printf 'poll_interval = "10s"
'; cat "$cfg"; } >"$cfg_run"
  STREAK_CONNECTOR_STREAK_BASE_URL="$sim_url" STREAK_CONNECTOR_CONFIG="$cfg_run" \
    STREAK_CONNECTOR_LOG_FORMAT=json STREAK_CONNECTOR_LOG_LEVEL=debug RUST_LOG=streak_connector=debug \
    STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
    "$bin" run 2>"$log" >/dev/null &
  pid=$!
  for _ in $(seq 1 600); do
    n="$(grep -c '"Poll committed"' "$log" || true)"
    [[ "$n" -ge 3 ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local fetches polls
  fetches="$(jq -R -r 'fromjson? | select(.message == "Streak API request completed" and .endpoint == "organization_users") | .duration_ms' "$log")"
  polls="$(field "$1" "Poll committed" duration_ms)"
  if [[ "$(echo "$polls" | wc -l)" -lt 3 ]]; then
    record "no change $2 in run: cycle s" "FAILED: fewer than three cycles committed ($1.log)"
    return
  fi
  # The first fetch ran during the restore; cycles 2 and 3 are fetch i + poll i.
  paste <(echo "$fetches") <(echo "$polls") | sed -n '2,3p' | while IFS=$'\t' read -r f p; do
    record "no change $2 in run: cycle s (listing request + poll)" "$(printf %.3f "$(echo "($f + $p) / 1000" | bc -l)")"
  done
}

# Warm-up, not recorded: a fresh broker creates its transaction-state topic on the
# first transactional producer, which would otherwise land in the first row's run 1.
printf '[[organizations]]\nkey = "org-warm"\napi_keys = ["sim-warm-key"]\ngenerate = { count = 10, seed = 1 }\n' >"$work/warm.toml"
start_sim "$work/warm.toml"
new_topics
STREAK_CONNECTOR_API_KEYS=sim-warm-key run_once warm-up
[[ $once_rc -eq 0 ]] || { echo "bench: the warm-up poll failed: $(failure warm-up)" >&2; exit 1; }
stop_sim

for n in $SIZES; do bench_size "$n"; done
[[ "${BENCH_MANY:-1}" == 1 ]] && bench_many
[[ "${BENCH_HUGE:-0}" == 1 ]] && bench_huge

# One table: each row's median over its runs, and every run's value. A row with a
# failed run shows the failure instead of a median.
echo
what="release build of $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -n "${BENCH_BIN:-}" ]] && what="$BENCH_BIN"
echo "streak-connector $("$bin" --version 2>/dev/null | awk '{print $NF}'), $what, RUNS=$RUNS, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measurement | median | runs |"
echo "| --- | ---: | --- |"
awk -F'\t' '
  !($1 in seen) { seen[$1] = 1; order[++n] = $1 }
  { vals[$1] = vals[$1] (vals[$1] == "" ? "" : ", ") $2; cnt[$1]++; v[$1, cnt[$1]] = $2
    if (!(($1, $2) in uniq)) { uniq[$1, $2] = 1; u[$1] = u[$1] (u[$1] == "" ? "" : "; ") $2 }
    if ($2 !~ /^-?[0-9.]+$/) bad[$1] = 1 }
  END {
    for (i = 1; i <= n; i++) {
      r = order[i]
      if (r in bad) { printf "| %s | FAILED | %s |\n", r, u[r]; continue }
      m = cnt[r]
      for (a = 1; a <= m; a++) s[a] = v[r, a] + 0
      for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
      med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
      printf "| %s | %s | %s |\n", r, med, vals[r]
    }
  }' "$results"
if [[ -s "$notes" ]]; then
  echo
  echo "Notes:"
  sed 's/^/- /' "$notes"
fi
