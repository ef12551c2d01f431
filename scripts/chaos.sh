#!/usr/bin/env bash
# `npm run chaos` (not a test): the pipelines under faults, on an isolated stack of their own.
# Starts a second stack (its own state directory and ports; the install cache is shared), applies
# the migrations, then bench/chaos/main.ts runs the workers and bridges, sends the stream, kills
# and stops things, and prints the figures. Everything it started is torn down at the end, also
# after a failure or Ctrl-C. The shared stack on the default ports is never touched.
#
#   npm run chaos                      # 5000 events, PostgreSQL stopped for 60 s
#   CHAOS_QUICK=1 npm run chaos        # 300 events, PostgreSQL stopped for 20 s
#   CHAOS_SEED=123 npm run chaos       # repeat a run's stream and faults
#   CHAOS_KEEP=1 npm run chaos         # keep the state directory (logs, data) afterwards
#   CHAOS_STATE_DIR=/some/dir          # use this state directory instead of a fresh temp one
#   CHAOS_PORT_BASE=17000              # where to look for a free block of ports
# Other knobs (CHAOS_EVENTS, CHAOS_RATE, CHAOS_PG_STOP_S, ...) are listed in bench/chaos/main.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh

if [ -n "${CHAOS_STATE_DIR:-}" ]; then
  mkdir -p "$CHAOS_STATE_DIR"
  STACK_STATE_DIR=$(cd "$CHAOS_STATE_DIR" && pwd)
else
  STACK_STATE_DIR=$(mktemp -d /tmp/temporal-chaos.XXXXXX)
fi
export STACK_STATE_DIR

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A block of ports none of which is in use: the defaults' last digits on another base, moved up
# by 10 at a time until every one is free.
base=${CHAOS_PORT_BASE:-17000}
for ((shift_by = 0; shift_by < 200; shift_by += 10)); do
  b=$((base + shift_by))
  ports=($((b + 233)) $((b + 1233)) $((b + 2092)) $((b + 2093)) $((b - 1568)) $((b - 621)) $((b - 3990)))
  all_free=1
  for p in "${ports[@]}"; do port_free "$p" || all_free=0; done
  [ "$all_free" = 1 ] && break
done
[ "$all_free" = 1 ] || { echo "chaos: no free block of ports from $base" >&2; exit 1; }
export TEMPORAL_PORT=${ports[0]} TEMPORAL_UI_PORT=${ports[1]} KAFKA_PORT=${ports[2]} \
  KAFKA_CONTROLLER_PORT=${ports[3]} PGPORT=${ports[4]} REDIS_PORT=${ports[5]} ADMIN_SERVICE_PORT=${ports[6]}

# What the workers, bridges and the chaos run itself read (src/config.ts).
export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" \
  TEMPORAL_UI_URL="http://127.0.0.1:$TEMPORAL_UI_PORT" \
  KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" \
  DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PGPORT/pipelines" \
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
  ADMIN_SERVICE_URL="http://127.0.0.1:$ADMIN_SERVICE_PORT"

echo "==> chaos stack: state $STACK_STATE_DIR; Temporal $TEMPORAL_PORT (UI $TEMPORAL_UI_PORT), Kafka $KAFKA_PORT/$KAFKA_CONTROLLER_PORT, PostgreSQL $PGPORT, Redis $REDIS_PORT, admin service $ADMIN_SERVICE_PORT"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "==> chaos: tearing down the isolated stack"
  # Workers and bridges the run left behind (it stops them itself unless it was killed).
  local f pid
  for f in "$STACK_STATE_DIR"/run/chaos-*.pid; do
    [ -s "$f" ] || continue
    pid=$(tr -dc '0-9' <"$f")
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE 'src/(workers|bridges)/main\.ts'; then
      kill -TERM "$pid" 2>/dev/null || true
      sleep 2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  bash scripts/stack.sh down >/dev/null 2>&1 || echo "chaos: WARNING: stack down failed; check: STACK_STATE_DIR=$STACK_STATE_DIR bash scripts/stack.sh status" >&2
  if [ "${CHAOS_KEEP:-0}" = 1 ] || [ -n "${CHAOS_STATE_DIR:-}" ]; then
    echo "==> chaos: state and logs kept in $STACK_STATE_DIR"
  else
    rm -rf "$STACK_STATE_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> chaos: starting the isolated stack (log: $STACK_STATE_DIR/logs/chaos-stack-up.log)"
mkdir -p "$STACK_STATE_DIR/logs"
bash scripts/stack.sh up >"$STACK_STATE_DIR/logs/chaos-stack-up.log" 2>&1 || {
  tail -n 30 "$STACK_STATE_DIR/logs/chaos-stack-up.log" >&2
  # The component's own log says why; it would go with the temp dir.
  CHAOS_KEEP=1
  exit 1
}
LOG_LEVEL=warn node --import tsx src/migrate.ts

# The run stops itself at every phase's timeout; this is only the last resort.
LOG_LEVEL=error timeout --foreground -s INT -k 60 "${CHAOS_TIMEOUT_S:-5400}" node --import tsx bench/chaos/main.ts
