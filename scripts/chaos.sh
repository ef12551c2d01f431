#!/usr/bin/env bash
# `npm run chaos` (not a test): the pipelines under faults, on an isolated stack of their own.
# Starts a second stack (its own state directory and ports; the install cache is shared), applies
# the migrations, then bench/chaos/main.ts runs the workers and bridges, sends the stream, kills
# and stops things, and prints the figures. Everything it started is torn down at the end, also
# after a failure or Ctrl-C. The shared stack on the default ports is never touched.
#
#   npm run chaos                      # 5000 events, PostgreSQL stopped for 60 s, a table locked 5 minutes
#   CHAOS_QUICK=1 npm run chaos        # 300 events, PostgreSQL stopped for 20 s, the lock 30 s
#   CHAOS_SEED=123 npm run chaos       # repeat a run's stream and faults
#   CHAOS_KEEP=1 npm run chaos         # keep the state directory (logs, data) afterwards
#   CHAOS_STATE_DIR=/some/dir          # use this state directory instead of a fresh temp one
#   CHAOS_PORT_BASE=17000              # where to look for a free block of ports
# Other knobs (CHAOS_EVENTS, CHAOS_RATE, CHAOS_PG_STOP_S, CHAOS_LOCK_S, ...) are listed in bench/chaos/main.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh

# shellcheck source=scripts/isolated-stack.sh
source scripts/isolated-stack.sh
isolated_stack chaos "${CHAOS_STATE_DIR:-}" "${CHAOS_PORT_BASE:-17000}"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "==> chaos: tearing down the isolated stack"
  stop_isolated_stack chaos 'src/(workers|bridges)/main\.ts'
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

# The pipelines on a chaos run's clock: each one's `chaos` timings (declared with its descriptor
# in src/pipelines), which the workers and bridges read.
export SETTINGS_PROFILE="${SETTINGS_PROFILE:-chaos}"

# The run stops itself at every phase's timeout; this is only the last resort.
LOG_LEVEL=error timeout --foreground -s INT -k 60 "${CHAOS_TIMEOUT_S:-5400}" node --import tsx bench/chaos/main.ts
