#!/usr/bin/env bash
# The project's test command (README.md): runs the whole suite.
#
# 1. Every test against in-memory twins, the in-process simulator and librdkafka's
#    in-process mock cluster (zero set-up).
# 2. The Kafka suite again against a real Apache Kafka broker (started here from the
#    official jars by scripts/kafka.sh, cached in ~/.cache/streak-connector), which is
#    where exactly-once, fencing and compaction checks run.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --all-targets
