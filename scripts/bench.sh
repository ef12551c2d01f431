#!/usr/bin/env bash
# `npm run bench`: the bridge benchmark against a throwaway Temporal dev server started with the
# stack's own flags (scripts/stack/temporal.sh), so runs start from the same empty state and
# leave thousands of benchmark workflows in no one's way. Kafka and PostgreSQL are the stack's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
bash scripts/stack.sh up >/dev/null

bench_state=$(mktemp -d /tmp/temporal-bench.XXXXXX)
export BENCH_TEMPORAL_PORT="${BENCH_TEMPORAL_PORT:-7433}"
# Always the dev profile: the server profile would share the stack's PostgreSQL databases.
temporal_bench() {
  STACK_TEMPORAL_PROFILE=dev STACK_STATE_DIR="$bench_state" TEMPORAL_PORT="$BENCH_TEMPORAL_PORT" TEMPORAL_UI_PORT=$((BENCH_TEMPORAL_PORT + 1000)) \
    bash -c 'source scripts/stack/lib.sh && source scripts/stack/temporal.sh && ensure_dirs && "temporal_$1"' _ "$1"
}
cleanup() {
  temporal_bench down >/dev/null || true
  rm -rf "$bench_state"
}
trap cleanup EXIT
temporal_bench up
TEMPORAL_ADDRESS="127.0.0.1:$BENCH_TEMPORAL_PORT" node --import tsx bench/bridge-throughput.ts
