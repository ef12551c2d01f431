#!/usr/bin/env bash
# Start time (to /readyz 200) and resident memory of a worker and a bridge process, run from source
# with tsx (how npm start ran them before) and compiled (node dist/...), both from prebuilt workflow
# bundles as npm start and the image run them. The figures in docs/production/image.md come from it.
#   bash bench/start-time.sh [RUNS]     (default 3 runs of each; needs a running stack, and no other
#                                        bridge of this stack's consumer groups)
# RSS is read from /proc at ready and again after 20 s idle (what the process keeps); the CPU time
# (user + system) spent until ready, also from /proc, depends less than the wall time on what else
# the machine runs.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=${BENCH_OPS_PORT:-24190}
export WORKFLOW_BUNDLE_DIR="${WORKFLOW_BUNDLE_DIR:-$PWD/build/workflows}"
bash scripts/build.sh
node --import tsx scripts/build-workflows.ts "$WORKFLOW_BUNDLE_DIR" >/dev/null

rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# utime + stime of the process (fields 14 and 15 after the command name), in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f", ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
now_ms() { date +%s%3N; }

# measure NAME RUNNER...: one run; prints "NAME ready_ms cpu_ms_to_ready rss_at_ready_mib rss_after_20s_mib".
measure() {
  local name=$1 start pid ready cpu rss_ready
  shift
  start=$(now_ms)
  OPS_PORT=$port LOG_LEVEL=warn "$@" >/dev/null 2>&1 &
  pid=$!
  until curl -sf "127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "$name: exited before ready" >&2; return 1; }
    sleep 0.1
  done
  ready=$(($(now_ms) - start))
  cpu=$(cpu_ms "$pid")
  rss_ready=$(rss_mib "$pid")
  sleep 20
  echo "$name $ready $cpu $rss_ready $(rss_mib "$pid")"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  # The bridge's consumer leaves its group on SIGTERM; the next one joins a settled group.
  sleep 2
}

for _ in $(seq "$runs"); do
  measure workers-tsx node --import tsx src/workers/main.ts
  measure workers-compiled node dist/workers/main.js
  measure bridges-tsx node --import tsx src/bridges/main.ts
  measure bridges-compiled node dist/bridges/main.js
done
