#!/usr/bin/env bash
# The stand-in admin service (src/admin-service) that trainer allocation calls over HTTP.
# Usage: bash scripts/stack/admin-service.sh up|down|status
# `scripts/stack.sh up` runs `up` after PostgreSQL is healthy; it needs node_modules
# (scripts/ensure-node-modules.sh, which `npm test` and `npm start` run first).
set -euo pipefail

STACK_COMPONENT=admin-service
# shellcheck source=scripts/stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=scripts/stack/postgres.sh
source "$STACK_LIB_DIR/postgres.sh"

REPO_DIR=$(dirname "$STACK_SCRIPTS_DIR")
ADMIN_SERVICE_PORT="${ADMIN_SERVICE_PORT:-3010}"
ADMIN_ENTRY=src/admin-service/main.ts
ADMIN_LOG="$STACK_LOG_DIR/admin-service.log"
ADMIN_PIDFILE="$STACK_RUN_DIR/admin-service.pid"

admin_url() { echo "http://$STACK_HOST:$ADMIN_SERVICE_PORT"; }

admin_healthy() { curl -fsS --max-time 2 "$(admin_url)/health" >/dev/null 2>&1; }

admin_up() {
  local start
  start=$(now_s)
  ensure_dirs
  if pid_from_file "$ADMIN_PIDFILE" "$ADMIN_ENTRY" >/dev/null && admin_healthy; then
    log "already running ($(admin_url))"
    return 0
  fi
  [ -x "$REPO_DIR/node_modules/.bin/tsx" ] || die "node_modules missing; run: bash scripts/ensure-node-modules.sh"
  require_port_free "$ADMIN_SERVICE_PORT" admin-service
  log "starting on $(admin_url)"
  # One node process (tsx as a loader), so the pid file names the process that serves.
  (cd "$REPO_DIR" && SERVICE_NAME=admin-service ADMIN_SERVICE_PORT="$ADMIN_SERVICE_PORT" ADMIN_SERVICE_URL="$(admin_url)" \
    DATABASE_URL="$(postgres_url)" spawn_daemon "$ADMIN_PIDFILE" "$ADMIN_LOG" \
    node --import tsx "$ADMIN_ENTRY")
  wait_for "admin-service" "$ADMIN_LOG" "$ADMIN_PIDFILE:$ADMIN_ENTRY" admin_healthy
  log "ready in $(($(now_s) - start))s: $(admin_url)"
}

admin_down() {
  local pid
  if pid=$(pid_from_file "$ADMIN_PIDFILE" "$ADMIN_ENTRY"); then
    log "stopping (pid $pid)"
    stop_pid "$pid" admin-service 10
  else
    log "not running"
  fi
  rm -f "$ADMIN_PIDFILE"
}

admin_status() {
  local state=stopped
  if pid_from_file "$ADMIN_PIDFILE" "$ADMIN_ENTRY" >/dev/null; then
    if admin_healthy; then state=running; else state=unhealthy; fi
  elif port_open "$ADMIN_SERVICE_PORT"; then
    state="port-in-use-by $(port_owner "$ADMIN_SERVICE_PORT")"
  fi
  status_line admin-service "$state" "$(admin_url)  (log $ADMIN_LOG)"
}

case "${1:-}" in
  up) admin_up ;;
  down) admin_down ;;
  status) admin_status ;;
  *)
    echo "Usage: bash scripts/stack/admin-service.sh up|down|status" >&2
    exit 2
    ;;
esac
