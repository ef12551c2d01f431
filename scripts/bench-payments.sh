#!/usr/bin/env bash
# `npm run bench:payments` (not a test): the payment API's latency under a fixed load from a second
# process while the payments' workflows run, and the charges recorded per second, beside a
# seed-style payment service (seed 002's outbox) in the same run; see bench/payments/main.ts.
# It starts an isolated stack of its own (a fresh state directory and a block of ports from 19000;
# the install cache is shared), applies the migrations, runs the benchmark, and tears down
# everything it started, also after a failure or Ctrl-C. The shared stack is never touched.
#
#   npm run bench:payments                              # 200 requests/s for 60 s, each system
#   BENCH_PAYMENTS_SECONDS=10 npm run bench:payments    # a short run
#   BENCH_PAYMENTS_SYSTEMS=project npm run bench:payments   # the project only (default: seed,project)
#   BENCH_KEEP=1 npm run bench:payments                 # keep the state directory (logs, data, results)
#   BENCH_PORT_BASE=19000                               # where to look for a free block of ports
# Other knobs (BENCH_PAYMENTS_RATE, BENCH_PAYMENTS_WARMUP, BENCH_PAYMENTS_STALL_S,
# BENCH_PAYMENTS_DRAIN_S) are listed in bench/payments/main.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh

# shellcheck source=scripts/isolated-stack.sh
source scripts/isolated-stack.sh
export STACK_TEMPORAL_PROFILE="${STACK_TEMPORAL_PROFILE:-dev}"
# From 19000 (chaos runs start at 17000, `npm run bench` at 18000).
isolated_stack bench-payments "${BENCH_STATE_DIR:-}" "${BENCH_PORT_BASE:-19000}"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "==> bench:payments: tearing down the isolated stack"
  stop_isolated_stack bench-payments 'dist/workers/main\.js|bench/payments/payment-runs\.ts|bench/seed-payments/(api|workers)\.ts'
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ -n "${BENCH_STATE_DIR:-}" ]; then
    echo "==> bench:payments: state, logs and results kept in $STACK_STATE_DIR"
  else
    # The results outlive the state directory.
    if [ -f "$STACK_STATE_DIR/results.json" ]; then
      local results
      results="${BENCH_RESULTS_DIR:-/tmp}/bench-payments-results-$(date +%Y%m%d-%H%M%S).json"
      mkdir -p "$(dirname "$results")"
      cp "$STACK_STATE_DIR/results.json" "$results"
      echo "==> bench:payments: results copied to $results"
    fi
    rm -rf "$STACK_STATE_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> bench:payments: starting the isolated stack (log: $STACK_STATE_DIR/logs/bench-stack-up.log)"
mkdir -p "$STACK_STATE_DIR/logs"
bash scripts/stack.sh up >"$STACK_STATE_DIR/logs/bench-stack-up.log" 2>&1 || {
  tail -n 30 "$STACK_STATE_DIR/logs/bench-stack-up.log" >&2
  # The component's own log says why; it would go with the temp dir.
  BENCH_KEEP=1
  exit 1
}
LOG_LEVEL=warn node --import tsx src/migrate.ts
# The workers run as `npm start` and the image run them: from prebuilt workflow bundles.
export WORKFLOW_BUNDLE_DIR="$STACK_STATE_DIR/workflow-bundles"
node --import tsx scripts/build-workflows.ts "$WORKFLOW_BUNDLE_DIR" >/dev/null
# The workers and bridges run compiled, as npm start and the image run them.
bash scripts/build.sh >/dev/null
export SETTINGS_PROFILE="${SETTINGS_PROFILE:-bench}"

# The run stops itself (every wait is bounded); this is only the last resort.
LOG_LEVEL=error timeout --foreground -s INT -k 60 "${BENCH_TIMEOUT_S:-3600}" node --import tsx bench/payments/main.ts
