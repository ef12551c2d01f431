# shellcheck shell=bash
# The stack's own node processes (the stand-ins, the codec server), one per `server` of the entries
# with an `entry` in src/stack-services.ts; lib.sh has put them in STACK_NODE_SERVICES. Sourced after
# lib.sh by scripts/stack.sh, or run on its own:
#   bash scripts/stack/node-service.sh up|down|status [NAME...]   (default: all, in the list's order)

# node_services COMMAND [NAME...]: node_service for each of them, or for every one.
node_services() {
  local command=$1 spec name entry health_path endpoints
  shift
  for spec in $STACK_NODE_SERVICES; do
    IFS='|' read -r name entry health_path endpoints <<<"$spec"
    [ $# -eq 0 ] || [[ " $* " == *" $name "* ]] || continue
    # shellcheck disable=SC2086 # one LABEL:PORT word per endpoint
    (STACK_COMPONENT=$name NODE_HEALTH_PATH=$health_path node_service "$command" "$name" "$entry" ${endpoints//,/ })
  done
}

# node_service up|down|status NAME ENTRY LABEL:PORT...
# One process, `node --import tsx ENTRY` from the repository with every client address of this stack
# (STACK_URLS) and SERVICE_NAME=NAME in its environment; its pid in run/NAME.pid, its log in
# logs/NAME.log. It serves each LABEL on its PORT, and is healthy when every port answers GET on its
# health path (NODE_HEALTH_PATH, from the list).
# `status` prints a line per LABEL.
node_service() {
  local command=$1 name=$2 entry=$3 e start pid
  shift 3
  local endpoints=("$@")
  local pidfile="$STACK_RUN_DIR/$name.pid" logfile="$STACK_LOG_DIR/$name.log"
  local repo_dir
  repo_dir=$(dirname "$STACK_SCRIPTS_DIR")

  case "$command" in
    up)
      start=$(now_s)
      ensure_dirs
      if pid_from_file "$pidfile" "$entry" >/dev/null && endpoints_healthy "${endpoints[@]}"; then
        log "already running ($(endpoints_text "${endpoints[@]}"))"
        return 0
      fi
      [ -x "$repo_dir/node_modules/.bin/tsx" ] || die "node_modules missing; run: bash scripts/ensure-node-modules.sh"
      for e in "${endpoints[@]}"; do require_port_free "${e#*:}" "${e%%:*}"; done
      log "starting: $(endpoints_text "${endpoints[@]}")"
      # One node process (tsx as a loader), so the pid file names the process that serves.
      # shellcheck disable=SC2086,SC2163 # exports each VAR=value word of STACK_URLS (none has a space)
      (cd "$repo_dir" && export SERVICE_NAME="$name" $STACK_URLS && spawn_daemon "$pidfile" "$logfile" node --import tsx "$entry")
      wait_for "$name" "$logfile" "$pidfile:$entry" endpoints_healthy "${endpoints[@]}"
      log "ready in $(($(now_s) - start))s"
      ;;
    down)
      if pid=$(pid_from_file "$pidfile" "$entry"); then
        log "stopping (pid $pid)"
        stop_pid "$pid" "$name" 10
      else
        log "not running"
      fi
      rm -f "$pidfile"
      ;;
    status)
      local running=0 state port
      pid_from_file "$pidfile" "$entry" >/dev/null && running=1
      for e in "${endpoints[@]}"; do
        port=${e#*:} state=stopped
        if [ "$running" = 1 ]; then
          if endpoints_healthy "$e"; then state=running; else state=unhealthy; fi
        elif port_open "$port"; then
          state="port-in-use-by $(port_owner "$port")"
        fi
        status_line "${e%%:*}" "$state" "http://$STACK_HOST:$port  (log $logfile)"
      done
      ;;
    *)
      echo "Usage: bash scripts/stack/node-service.sh up|down|status [NAME...]" >&2
      exit 2
      ;;
  esac
}

# A line per node process and where it serves, for `up`'s summary.
node_services_summary() {
  local spec name entry endpoints
  for spec in $STACK_NODE_SERVICES; do
    IFS='|' read -r name entry _ endpoints <<<"$spec"
    # shellcheck disable=SC2086 # one LABEL:PORT word per endpoint
    printf '  %-16s %s\n' "$name" "$(endpoints_text ${endpoints//,/ })"
  done
}

endpoints_healthy() {
  local e
  for e in "$@"; do curl -fsS --max-time 2 "http://$STACK_HOST:${e#*:}${NODE_HEALTH_PATH:-/health}" >/dev/null 2>&1 || return 1; done
}

endpoints_text() {
  local e text=""
  for e in "$@"; do text+="${text:+, }${e%%:*} http://$STACK_HOST:${e#*:}"; done
  echo "$text"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  # shellcheck source=scripts/stack/lib.sh
  source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
  [ $# -gt 0 ] || set -- usage
  validate_ports
  node_services "$@"
fi
