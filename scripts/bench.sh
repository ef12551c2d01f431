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
# Prescriptions are measured for the project only (there is no seed-style prescription worker):
# BENCH_PRESCRIPTIONS fully covered intakes (200; 40 quick), parcels tracked as the bench profile says (1 s).
# Other knobs (BENCH_BOOKINGS, BENCH_PURCHASES, BENCH_LIGHT_RATE, BENCH_OPEN_BOOKINGS, ...) are
# listed in bench/end-to-end/main.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh

# shellcheck source=scripts/isolated-stack.sh
source scripts/isolated-stack.sh
# Passed on to scripts/stack.sh as is; the results record which one ran.
export STACK_TEMPORAL_PROFILE="${STACK_TEMPORAL_PROFILE:-dev}"
# From 18000 (chaos runs start at 17000).
isolated_stack bench "${BENCH_STATE_DIR:-}" "${BENCH_PORT_BASE:-18000}"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "==> bench: tearing down the isolated stack"
  stop_isolated_stack bench 'dist/(workers|bridges)/main\.js|bench/seed-worker/main\.ts'
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ -n "${BENCH_STATE_DIR:-}" ]; then
    echo "==> bench: state, logs and results kept in $STACK_STATE_DIR"
  else
    # The results outlive the state directory.
    if [ -f "$STACK_STATE_DIR/results.json" ]; then
      local results
      results="${BENCH_RESULTS_DIR:-/tmp}/bench-results-$(date +%Y%m%d-%H%M%S).json"
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
# The workers and bridges run compiled, as npm start and the image run them.
bash scripts/build.sh >/dev/null
# Each pipeline's `bench` timings (declared with its descriptor in src/pipelines).
export SETTINGS_PROFILE="${SETTINGS_PROFILE:-bench}"

# The run stops itself at every phase's timeout; this is only the last resort.
if [ "${BENCH_ONLY:-}" = bridge ]; then
  LOG_LEVEL=error timeout --foreground -s INT -k 60 "${BENCH_TIMEOUT_S:-1800}" node --import tsx bench/bridge-throughput.ts
else
  LOG_LEVEL=error timeout --foreground -s INT -k 60 "${BENCH_TIMEOUT_S:-7200}" node --import tsx bench/end-to-end/main.ts
fi
