#!/usr/bin/env bash
# `npm run bench` (not a test): the end-to-end benchmark, on an isolated stack of its own. It starts
# a second stack (a fresh state directory and a block of ports from 18000; the install cache is
# shared), applies the migrations, then bench/end-to-end/main.ts runs the project (its workers and
# bridges) and the seed-style worker (bench/seed-worker) one after the other on the same streams,
# and prints one table per pipeline with both side by side. Everything it started is torn down at
# the end, also after a failure or Ctrl-C. The shared stack on the default ports is never touched.
#
#   npm run bench                        # 2000 bookings, 500 purchases, 10,000 open bookings, then bridge-only
#   BENCH_QUICK=1 npm run bench          # a small smoke run of a few minutes
#   BENCH_ONLY=bridge npm run bench      # only the bridge-only figures (bench/bridge-throughput.ts)
#   STACK_TEMPORAL_PROFILE=server npm run bench   # Temporal's own server on PostgreSQL (default: dev)
#   BENCH_KEEP=1 npm run bench           # keep the state directory (logs of every process, data, results)
#   BENCH_PORT_BASE=18000                # where to look for a free block of ports
# Other knobs (BENCH_BOOKINGS, BENCH_PURCHASES, BENCH_LIGHT_RATE, BENCH_OPEN_BOOKINGS, ...) are
# listed in bench/end-to-end/main.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh

if [ -n "${BENCH_STATE_DIR:-}" ]; then
  mkdir -p "$BENCH_STATE_DIR"
  STACK_STATE_DIR=$(cd "$BENCH_STATE_DIR" && pwd)
else
  STACK_STATE_DIR=$(mktemp -d /tmp/temporal-bench.XXXXXX)
fi
export STACK_STATE_DIR
# Passed on to scripts/stack.sh as is; the results record which one ran.
export STACK_TEMPORAL_PROFILE="${STACK_TEMPORAL_PROFILE:-dev}"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Every port inside one block of a thousand (other agents and runs use the blocks beside it), moved
# up by 10 at a time until all are free. Temporal's gRPC port keeps room above it for the ports a
# full server derives from it.
base=${BENCH_PORT_BASE:-18000}
for ((shift_by = 0; shift_by < 60; shift_by += 10)); do
  b=$((base + shift_by))
  ports=($((b + 233)) $((b + 833)) $((b + 592)) $((b + 593)) $((b + 432)) $((b + 379)) $((b + 10)))
  all_free=1
  for p in "${ports[@]}"; do port_free "$p" || all_free=0; done
  [ "$all_free" = 1 ] && break
done
[ "$all_free" = 1 ] || { echo "bench: no free block of ports from $base" >&2; exit 1; }
export TEMPORAL_PORT=${ports[0]} TEMPORAL_UI_PORT=${ports[1]} KAFKA_PORT=${ports[2]} \
  KAFKA_CONTROLLER_PORT=${ports[3]} PGPORT=${ports[4]} REDIS_PORT=${ports[5]} ADMIN_SERVICE_PORT=${ports[6]}

# What the workers, bridges, the seed-style worker and the benchmark itself read (src/config.ts).
export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" \
  TEMPORAL_UI_URL="http://127.0.0.1:$TEMPORAL_UI_PORT" \
  KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" \
  DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PGPORT/pipelines" \
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
  ADMIN_SERVICE_URL="http://127.0.0.1:$ADMIN_SERVICE_PORT"

echo "==> bench stack ($STACK_TEMPORAL_PROFILE): state $STACK_STATE_DIR; Temporal $TEMPORAL_PORT (UI $TEMPORAL_UI_PORT), Kafka $KAFKA_PORT/$KAFKA_CONTROLLER_PORT, PostgreSQL $PGPORT, Redis $REDIS_PORT, admin service $ADMIN_SERVICE_PORT"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "==> bench: tearing down the isolated stack"
  # Processes the run left behind (it stops them itself unless it was killed), each by the pid it
  # recorded and only if that pid still runs one of our entry points.
  local f pid
  for f in "$STACK_STATE_DIR"/run/bench-*.pid; do
    [ -s "$f" ] || continue
    pid=$(tr -dc '0-9' <"$f")
    if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'src/(workers|bridges)/main\.ts|bench/seed-worker/main\.ts'; then
      kill -TERM "$pid" 2>/dev/null || true
      sleep 2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  bash scripts/stack.sh down >/dev/null 2>&1 || echo "bench: WARNING: stack down failed; check: STACK_STATE_DIR=$STACK_STATE_DIR bash scripts/stack.sh status" >&2
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ -n "${BENCH_STATE_DIR:-}" ]; then
    echo "==> bench: state, logs and results kept in $STACK_STATE_DIR"
  else
    # The results outlive the state directory.
    if [ -f "$STACK_STATE_DIR/results.json" ]; then
      local results="${BENCH_RESULTS_DIR:-/tmp}/bench-results-$(date +%Y%m%d-%H%M%S).json"
      mkdir -p "$(dirname "$results")"
      cp "$STACK_STATE_DIR/results.json" "$results"
      echo "==> bench: results copied to $results"
    fi
    rm -rf "$STACK_STATE_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> bench: starting the isolated stack (log: $STACK_STATE_DIR/logs/bench-stack-up.log)"
mkdir -p "$STACK_STATE_DIR/logs"
bash scripts/stack.sh up >"$STACK_STATE_DIR/logs/bench-stack-up.log" 2>&1 || {
  tail -n 30 "$STACK_STATE_DIR/logs/bench-stack-up.log" >&2
  # The component's own log says why; it would go with the temp dir.
  BENCH_KEEP=1
  exit 1
}
LOG_LEVEL=warn node --import tsx src/migrate.ts
# The workers run as npm start and the image run them: from prebuilt workflow bundles.
export WORKFLOW_BUNDLE_DIR="$STACK_STATE_DIR/workflow-bundles"
node --import tsx scripts/build-workflows.ts "$WORKFLOW_BUNDLE_DIR" >/dev/null

# The run stops itself at every phase's timeout; this is only the last resort.
if [ "${BENCH_ONLY:-}" = bridge ]; then
  LOG_LEVEL=error timeout --foreground -s INT -k 60 "${BENCH_TIMEOUT_S:-1800}" node --import tsx bench/bridge-throughput.ts
else
  LOG_LEVEL=error timeout --foreground -s INT -k 60 "${BENCH_TIMEOUT_S:-7200}" node --import tsx bench/end-to-end/main.ts
fi
