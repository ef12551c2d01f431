#!/usr/bin/env bash
# The codec server (src/codec-server): decodes payloads for the Web UI and the `temporal` CLI with
# the stack's key ring, for whoever has the token in $STACK_STATE_DIR/secrets/codec-server-token.
# Usage: bash scripts/stack/codec-server.sh up|down|status
# `scripts/stack.sh up` runs `up` last, after it wrote the key ring and the token.
set -euo pipefail

STACK_COMPONENT=codec-server
# shellcheck source=scripts/stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

REPO_DIR=$(dirname "$STACK_SCRIPTS_DIR")
CODEC_ENTRY=src/codec-server/main.ts
CODEC_LOG="$STACK_LOG_DIR/codec-server.log"
CODEC_PIDFILE="$STACK_RUN_DIR/codec-server.pid"

codec_healthy() { curl -fsS --max-time 2 "$(codec_server_url)/health" >/dev/null 2>&1; }

codec_up() {
  local start
  start=$(now_s)
  ensure_dirs
  if pid_from_file "$CODEC_PIDFILE" "$CODEC_ENTRY" >/dev/null && codec_healthy; then
    log "already running ($(codec_server_url))"
    return 0
  fi
  [ -x "$REPO_DIR/node_modules/.bin/tsx" ] || die "node_modules missing; run: bash scripts/ensure-node-modules.sh"
  require_port_free "$CODEC_SERVER_PORT" codec-server
  log "starting on $(codec_server_url)"
  # The browser calls it from the Web UI's origin, which is the only one it answers (CORS).
  (cd "$REPO_DIR" && SERVICE_NAME=codec-server CODEC_SERVER_PORT="$CODEC_SERVER_PORT" CODEC_SERVER_URL="$(codec_server_url)" \
    TEMPORAL_UI_URL="http://$STACK_HOST:$TEMPORAL_UI_PORT" spawn_daemon "$CODEC_PIDFILE" "$CODEC_LOG" \
    node --import tsx "$CODEC_ENTRY")
  wait_for "codec-server" "$CODEC_LOG" "$CODEC_PIDFILE:$CODEC_ENTRY" codec_healthy
  log "ready in $(($(now_s) - start))s: $(codec_server_url)"
}

codec_down() {
  local pid
  if pid=$(pid_from_file "$CODEC_PIDFILE" "$CODEC_ENTRY"); then
    log "stopping (pid $pid)"
    stop_pid "$pid" codec-server 10
  else
    log "not running"
  fi
  rm -f "$CODEC_PIDFILE"
}

codec_status() {
  local state=stopped
  if pid_from_file "$CODEC_PIDFILE" "$CODEC_ENTRY" >/dev/null; then
    if codec_healthy; then state=running; else state=unhealthy; fi
  elif port_open "$CODEC_SERVER_PORT"; then
    state="port-in-use-by $(port_owner "$CODEC_SERVER_PORT")"
  fi
  status_line codec-server "$state" "$(codec_server_url)  (log $CODEC_LOG)"
}

case "${1:-}" in
  up) codec_up ;;
  down) codec_down ;;
  status) codec_status ;;
  *)
    echo "Usage: bash scripts/stack/codec-server.sh up|down|status" >&2
    exit 2
    ;;
esac
