# shellcheck shell=bash
# Redis from Debian's redis-server package, run as our own instance.

REDIS_DIR="$STACK_STATE_DIR/redis"
REDIS_LOG="$STACK_LOG_DIR/redis.log"
REDIS_PIDFILE="$STACK_RUN_DIR/redis.pid"

redis_url() { echo "redis://$STACK_HOST:$REDIS_PORT"; }

redis_cli() { redis-cli -h "$STACK_HOST" -p "$REDIS_PORT" "$@"; }

redis_install() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  apt_install redis-server redis-tools
}

redis_ping() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

# The instance on our port is ours if its working dir is our data dir; a
# plain PONG could come from Debian's system service.
redis_is_ours() {
  local dir
  dir=$(redis_cli config get dir 2>/dev/null | sed -n 2p)
  [ -n "$dir" ] && [ "$dir" = "$(cd "$REDIS_DIR" 2>/dev/null && pwd -P)" ]
}

redis_is_system_service() {
  local pid
  pid=$(port_owner_pid "$REDIS_PORT") || return 1
  [ -n "$pid" ] || return 1
  [ "$(ps -o user= -p "$pid" 2>/dev/null)" = redis ] ||
    [ "$(cat /run/redis/redis-server.pid 2>/dev/null)" = "$pid" ]
}

redis_free_port() {
  port_open "$REDIS_PORT" || return 0
  if is_root && redis_is_system_service; then
    local pid
    pid=$(port_owner_pid "$REDIS_PORT")
    stop_system_service redis-server
    # Without an init system the service script may not stop it.
    if port_open "$REDIS_PORT" && [ -n "$pid" ]; then
      stop_pid "$pid" "system redis-server" 10
    fi
    sleep 0.2
  fi
  require_port_free "$REDIS_PORT" redis
}

redis_start() {
  local out
  log "starting on $STACK_HOST:$REDIS_PORT"
  # --daemonize makes redis detach and close stdio itself; config errors
  # come out on stderr before that.
  out=$(redis-server --port "$REDIS_PORT" --bind "$STACK_HOST" --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" \
    --appendonly yes --protected-mode yes </dev/null 2>&1) || {
    printf '%s\n' "$out" >&2
    show_log_tail "$REDIS_LOG"
    die "redis-server failed to start; see $REDIS_LOG"
  }
  wait_for "redis" "$REDIS_LOG" "" redis_ping
}

redis_up() {
  local start
  start=$(now_s)
  redis_install
  mkdir -p "$REDIS_DIR"
  chmod 700 "$REDIS_DIR"
  if redis_ping && redis_is_ours; then
    log "already running ($(redis_url))"
    return 0
  fi
  redis_free_port
  redis_start
  redis_is_ours || die "the redis answering on $REDIS_PORT is not the one we started; see $REDIS_LOG"
  log "ready in $(($(now_s) - start))s: $(redis_url)"
}

redis_down() {
  local pid
  if redis_ping && redis_is_ours; then
    log "stopping"
    pid=$(pid_from_file "$REDIS_PIDFILE" redis-server) || pid=""
    redis_cli shutdown >/dev/null 2>&1 || true
    if [ -n "$pid" ]; then stop_pid "$pid" redis 30; fi
  elif pid=$(pid_from_file "$REDIS_PIDFILE" redis-server); then
    log "stopping unresponsive redis (pid $pid)"
    stop_pid "$pid" redis 10
  else
    log "not running"
  fi
  rm -f "$REDIS_PIDFILE"
}

redis_status() {
  local state=stopped
  if redis_ping; then
    if redis_is_ours; then state=running; else state="port-in-use-by $(port_owner "$REDIS_PORT")"; fi
  elif pid_from_file "$REDIS_PIDFILE" redis-server >/dev/null; then
    state=unhealthy
  elif port_open "$REDIS_PORT"; then
    state="port-in-use-by $(port_owner "$REDIS_PORT")"
  fi
  status_line redis "$state" "$(redis_url)"
}

redis_logfile() { echo "$REDIS_LOG"; }
