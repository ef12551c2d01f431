#!/usr/bin/env bash
# The stand-ins for prescription fulfillment's outside systems (src/partner-services): the pharmacy
# network, the insurer and the carrier, one node process serving each on its own port.
# Usage: bash scripts/stack/partner-services.sh up|down|status
# `scripts/stack.sh up` runs `up` after PostgreSQL is healthy; it needs node_modules
# (scripts/ensure-node-modules.sh, which `npm test` and `npm start` run first).
set -euo pipefail

STACK_COMPONENT=partner-services
# shellcheck source=scripts/stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=scripts/stack/postgres.sh
source "$STACK_LIB_DIR/postgres.sh"

REPO_DIR=$(dirname "$STACK_SCRIPTS_DIR")
PARTNERS_ENTRY=src/partner-services/main.ts
PARTNERS_LOG="$STACK_LOG_DIR/partner-services.log"
PARTNERS_PIDFILE="$STACK_RUN_DIR/partner-services.pid"
# name:port of each stand-in (the ports default in lib.sh, which validates them).
PARTNERS=("pharmacy:$PHARMACY_SERVICE_PORT" "insurer:$INSURER_SERVICE_PORT" "carrier:$CARRIER_SERVICE_PORT")

partner_url() { echo "http://$STACK_HOST:$1"; }

partner_healthy() { curl -fsS --max-time 2 "$(partner_url "$1")/health" >/dev/null 2>&1; }

partners_healthy() {
  local p
  for p in "${PARTNERS[@]}"; do partner_healthy "${p#*:}" || return 1; done
}

partners_up() {
  local start p
  start=$(now_s)
  ensure_dirs
  if pid_from_file "$PARTNERS_PIDFILE" "$PARTNERS_ENTRY" >/dev/null && partners_healthy; then
    log "already running (pharmacy $PHARMACY_SERVICE_PORT, insurer $INSURER_SERVICE_PORT, carrier $CARRIER_SERVICE_PORT)"
    return 0
  fi
  [ -x "$REPO_DIR/node_modules/.bin/tsx" ] || die "node_modules missing; run: bash scripts/ensure-node-modules.sh"
  for p in "${PARTNERS[@]}"; do require_port_free "${p#*:}" "the ${p%%:*} stand-in"; done
  log "starting: pharmacy $(partner_url "$PHARMACY_SERVICE_PORT"), insurer $(partner_url "$INSURER_SERVICE_PORT"), carrier $(partner_url "$CARRIER_SERVICE_PORT")"
  # One node process (tsx as a loader), so the pid file names the process that serves.
  (cd "$REPO_DIR" && SERVICE_NAME=partner-services DATABASE_URL="$(postgres_url)" \
    PHARMACY_SERVICE_PORT="$PHARMACY_SERVICE_PORT" PHARMACY_SERVICE_URL="$(partner_url "$PHARMACY_SERVICE_PORT")" \
    INSURER_SERVICE_PORT="$INSURER_SERVICE_PORT" INSURER_SERVICE_URL="$(partner_url "$INSURER_SERVICE_PORT")" \
    CARRIER_SERVICE_PORT="$CARRIER_SERVICE_PORT" CARRIER_SERVICE_URL="$(partner_url "$CARRIER_SERVICE_PORT")" \
    spawn_daemon "$PARTNERS_PIDFILE" "$PARTNERS_LOG" node --import tsx "$PARTNERS_ENTRY")
  wait_for "partner-services" "$PARTNERS_LOG" "$PARTNERS_PIDFILE:$PARTNERS_ENTRY" partners_healthy
  log "ready in $(($(now_s) - start))s"
}

partners_down() {
  local pid
  if pid=$(pid_from_file "$PARTNERS_PIDFILE" "$PARTNERS_ENTRY"); then
    log "stopping (pid $pid)"
    stop_pid "$pid" partner-services 10
  else
    log "not running"
  fi
  rm -f "$PARTNERS_PIDFILE"
}

# One line per stand-in: they share a process, but each answers (or not) on its own port.
partners_status() {
  local p name port state running=0
  pid_from_file "$PARTNERS_PIDFILE" "$PARTNERS_ENTRY" >/dev/null && running=1
  for p in "${PARTNERS[@]}"; do
    name=${p%%:*} port=${p#*:} state=stopped
    if [ "$running" = 1 ]; then
      if partner_healthy "$port"; then state=running; else state=unhealthy; fi
    elif port_open "$port"; then
      state="port-in-use-by $(port_owner "$port")"
    fi
    status_line "$name" "$state" "$(partner_url "$port")  (log $PARTNERS_LOG)"
  done
}

case "${1:-}" in
  up) partners_up ;;
  down) partners_down ;;
  status) partners_status ;;
  *)
    echo "Usage: bash scripts/stack/partner-services.sh up|down|status" >&2
    exit 2
    ;;
esac
