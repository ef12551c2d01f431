#!/usr/bin/env bash
# `npm start`: the whole system on this machine. Installs and starts the local stack, applies the
# migrations, runs the workers and the Kafka bridges, then plays a demo stream of events through
# them and prints the outcome. Keeps running until Ctrl-C (DEMO_EXIT=1 stops after the demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
# Resolved as scripts/stack/lib.sh does, and exported so every process started here finds this
# stack's payload key ring in it (src/config.ts defaults PAYLOAD_KEY_RING_FILE to its secrets/).
export STACK_STATE_DIR="${STACK_STATE_DIR:-$HOME/.local/state/temporal-pipelines}"
bash scripts/stack.sh up
# The processes below run the compiled code, as the image does (npm run build: src/ to dist/).
bash scripts/build.sh
node dist/migrate.js
# Workers load prebuilt workflow bundles instead of running webpack at every (re)start.
export WORKFLOW_BUNDLE_DIR="$PWD/build/workflows"
node --import tsx scripts/build-workflows.ts "$WORKFLOW_BUNDLE_DIR"

# The demo's runs should end while you watch: each pipeline's `demo` timings (declared with its
# descriptor in src/pipelines). A variable you export still overrides its profile value.
export SETTINGS_PROFILE="${SETTINGS_PROFILE:-demo}"

logs="$STACK_STATE_DIR/logs"
mkdir -p "$logs"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Supervises one process: a bridge or worker that exits non-zero (e.g. kafkajs gave up on a
# consumer while Kafka was down) is started again after a pause, as compose's restart policy does.
supervise() {
  local name=$1 entry=$2 ops_port=$3 child rc
  trap 'kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM
  while :; do
    OPS_PORT="$ops_port" SERVICE_NAME="$name" node "$entry" >>"$logs/$name.log" 2>&1 &
    child=$!
    rc=0
    wait "$child" || rc=$?
    [ "$rc" -eq 0 ] && exit 0
    echo "==> $name exited with $rc; restarting in 2 s (log $logs/$name.log)"
    sleep 2
  done
}

# Each with its health endpoints and metrics (src/ops-server.ts) on its own port.
start_process() {
  local name=$1 entry=$2 ops_port=$3
  supervise "$name" "$entry" "$ops_port" &
  pids+=("$!")
  echo "==> $name started (log $logs/$name.log; ready: curl 127.0.0.1:$ops_port/readyz; metrics: curl 127.0.0.1:$ops_port/metrics)"
}
# The Temporal SDK's own series, served by the workers (only they read it; docs/production/metrics.md).
export WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-9466}"
start_process workers dist/workers/main.js "${WORKERS_OPS_PORT:-9464}"
echo "==> workers' Temporal SDK metrics: curl 127.0.0.1:$WORKER_METRICS_PORT/metrics"
start_process bridges dist/bridges/main.js "${BRIDGES_OPS_PORT:-9465}"

# The stand-ins and the codec server are the stack's daemons (stack.sh up started them). One that
# died is started again within seconds, as the workers and bridges are; `up` leaves healthy ones be.
watch_node_services() {
  local out
  trap 'exit 0' TERM
  while sleep 5; do
    out=$(bash scripts/stack/node-service.sh up 2>&1) || true
    printf '%s\n' "$out" >>"$logs/node-services-watch.log"
    if grep -q 'starting:' <<<"$out"; then
      grep -E 'starting:|ERROR' <<<"$out" | sed 's/^/==> restarted /'
    fi
  done
}
watch_node_services &
pids+=("$!")

node dist/demo/main.js

if [ "${DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo "==> Workers, bridges, stand-ins and the codec server keep running (restarted if they crash); Ctrl-C stops the workers and bridges (the stack stays up: npm run stack:down)."
wait -n "${pids[@]}"
