# shellcheck shell=bash
# Temporal dev server (temporal CLI `server start-dev`) with SQLite persistence.

# Tags >= 1.6.0 carry a replace directive that `go install pkg@version` rejects.
TEMPORAL_CLI_VERSION=$(<"$STACK_SCRIPTS_DIR/temporal-cli/VERSION")
TEMPORAL_CLI_DIR="$STACK_CACHE_DIR/temporal-cli-$TEMPORAL_CLI_VERSION"
TEMPORAL_BIN="$TEMPORAL_CLI_DIR/temporal"
TEMPORAL_DIR="$STACK_STATE_DIR/temporal"
TEMPORAL_DB="$TEMPORAL_DIR/temporal.sqlite"
TEMPORAL_LOG="$STACK_LOG_DIR/temporal.log"
TEMPORAL_PIDFILE="$STACK_RUN_DIR/temporal.pid"
TEMPORAL_PID_PATTERN="server start-dev"
TEMPORAL_NAMESPACE=default
# Defaults (20 polls/s per queue, 4 task-queue partitions) are tuned for a
# cluster; on one dev node they add latency between workflow steps.
TEMPORAL_DYNAMIC_CONFIG=(
  history.transferProcessorMaxPollRPS=1000
  history.timerProcessorMaxPollRPS=1000
  history.visibilityProcessorMaxPollRPS=1000
  matching.numTaskqueueReadPartitions=1
  matching.numTaskqueueWritePartitions=1
  # start-dev turns this on so that a search attribute is usable the moment it is created; it
  # makes every visibility write and every start that sets one read and decode the cluster's
  # metadata from SQLite (a twentieth of the server's CPU per run, measured with perf).
  # Temporal's default: each service refreshes its cache every 60 s, and temporal_wait_healthy
  # (below) restarts the dev server after it registered attributes on a database that lacked them.
  # The server profile gets this list too, where it is the default already, and has no such
  # restart (temporal-server.sh).
  system.forceSearchAttributesCacheRefreshOnRead=false
)

temporal_address() { echo "$STACK_HOST:$TEMPORAL_PORT"; }

# Client calls ignore any TEMPORAL_* env or profile the user has for other servers.
temporal_client() {
  "$TEMPORAL_BIN" "$@" --address "$(temporal_address)" --disable-config-env --disable-config-file \
    --command-timeout 5s --color never
}

temporal_installed() { [ -x "$TEMPORAL_BIN" ] && "$TEMPORAL_BIN" --version >/dev/null 2>&1; }

_temporal_install_locked() {
  temporal_installed && return 0
  command -v go >/dev/null || die "go not found; the temporal CLI is built with 'go install' (Go >= 1.24 needed)"
  local tmp="$TEMPORAL_CLI_DIR.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Built into a temp GOBIN and renamed, so a killed build leaves nothing
  # that looks installed. -modcacherw keeps the module cache deletable.
  run_logged "building temporal CLI v$TEMPORAL_CLI_VERSION with go install (several minutes on a fresh machine)" \
    "$STACK_LOG_DIR/install-temporal.log" \
    env GOBIN="$tmp" GOFLAGS=-modcacherw go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
  mkdir -p "$TEMPORAL_CLI_DIR"
  mv -f "$tmp/temporal" "$TEMPORAL_BIN"
  rmdir "$tmp"
}

temporal_install() {
  temporal_installed || with_lock "temporal-cli-$TEMPORAL_CLI_VERSION" _temporal_install_locked
}

temporal_serving() {
  temporal_client operator cluster health 2>/dev/null | grep -q SERVING
}

# NAME=Type entries from the contract's list (src/contracts/pipeline.ts), read once per run: the
# health wait below polls with them.
temporal_load_search_attributes() {
  [ -n "${TEMPORAL_SEARCH_ATTRIBUTES:-}" ] && return 0
  TEMPORAL_SEARCH_ATTRIBUTES=$(cd "$STACK_SCRIPTS_DIR/.." && node --import tsx scripts/stack/search-attributes.ts) ||
    die "cannot read the search attributes from src/contracts/pipeline.ts"
}

# Prints the NAME=TYPE entries not yet registered in the namespace.
temporal_missing_search_attributes() {
  local listed sa
  listed=$(temporal_client operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" 2>/dev/null) || return 1
  for sa in $TEMPORAL_SEARCH_ATTRIBUTES; do
    grep -qw -- "${sa%%=*}" <<<"$listed" || echo "$sa"
  done
}

# --search-attribute only takes effect when start-dev creates the namespace,
# i.e. on a new database; attributes added to the list later are created here.
temporal_ensure_search_attributes() {
  local missing
  missing=$(temporal_missing_search_attributes) || die "cannot list search attributes; see $TEMPORAL_LOG"
  # shellcheck disable=SC2086 # one NAME=Type word each
  temporal_register_search_attributes $missing
}

# Registers each NAME=Type argument.
temporal_register_search_attributes() {
  local sa
  for sa in "$@"; do
    log "registering search attribute $sa"
    temporal_client operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" \
      --name "${sa%%=*}" --type "${sa#*=}" >/dev/null
  done
}

temporal_search_attributes_ready() {
  local missing
  missing=$(temporal_missing_search_attributes) && [ -z "$missing" ]
}

temporal_serving_with_ui() { temporal_serving && port_open "$TEMPORAL_UI_PORT"; }

temporal_wait_healthy() {
  local pidspec="$TEMPORAL_PIDFILE:$TEMPORAL_PID_PATTERN" missing
  wait_for "temporal" "$TEMPORAL_LOG" "$pidspec" temporal_serving_with_ui
  missing=$(temporal_missing_search_attributes) || die "cannot list search attributes; see $TEMPORAL_LOG"
  [ -z "$missing" ] && return 0
  # shellcheck disable=SC2086 # one NAME=Type word each
  temporal_register_search_attributes $missing
  wait_for "temporal search attributes" "$TEMPORAL_LOG" "$pidspec" temporal_search_attributes_ready
  # The history service would see them only at its next cache refresh (up to 60 s), and until then
  # refuse the workflow tasks of runs that set them: a restart starts every cache anew.
  log "restarting, so that every service sees the search attributes just registered"
  temporal_stop_server
  temporal_start
}

temporal_running_pid() { pid_from_file "$TEMPORAL_PIDFILE" "$TEMPORAL_PID_PATTERN"; }

temporal_start() {
  local args=() kv start
  start=$(now_s)
  require_port_free "$TEMPORAL_PORT" "temporal gRPC"
  require_port_free "$TEMPORAL_UI_PORT" "temporal web UI"
  mkdir -p "$TEMPORAL_DIR"
  for kv in $TEMPORAL_SEARCH_ATTRIBUTES; do args+=(--search-attribute "$kv"); done
  for kv in "${TEMPORAL_DYNAMIC_CONFIG[@]}"; do args+=(--dynamic-config-value "$kv"); done
  log "starting on $(temporal_address), UI on port $TEMPORAL_UI_PORT"
  spawn_daemon "$TEMPORAL_PIDFILE" "$TEMPORAL_LOG" \
    "$TEMPORAL_BIN" server start-dev \
    --ip "$STACK_HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --ui-codec-endpoint "$(codec_server_url)" \
    --db-filename "$TEMPORAL_DB" --namespace "$TEMPORAL_NAMESPACE" \
    --log-format json --color never \
    --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
    "${args[@]}"
  temporal_wait_healthy
  log "started in $(($(now_s) - start))s"
}

temporal_up() {
  local start
  start=$(now_s)
  temporal_install
  temporal_load_search_attributes
  if temporal_running_pid >/dev/null; then
    temporal_wait_healthy
    log "already running ($(temporal_address))"
    return 0
  fi
  temporal_start
  log "ready in $(($(now_s) - start))s: $(temporal_address), http://$STACK_HOST:$TEMPORAL_UI_PORT"
}

temporal_down() { temporal_stop_server; }

# Stops the process in the pid file; the server profile also stops its UI first.
temporal_stop_server() {
  local pid
  if pid=$(temporal_running_pid); then
    log "stopping (pid $pid)"
    stop_pid "$pid" temporal 30
  else
    log "not running"
  fi
  rm -f "$TEMPORAL_PIDFILE"
}

temporal_status() {
  local state=stopped
  if temporal_running_pid >/dev/null; then
    if temporal_serving; then state=running; else state=unhealthy; fi
  elif port_open "$TEMPORAL_PORT"; then
    state="port-in-use-by $(port_owner "$TEMPORAL_PORT")"
  fi
  status_line temporal "$state" "$(temporal_address) (profile $STACK_TEMPORAL_PROFILE)"
}

temporal_logfile() { echo "$TEMPORAL_LOG"; }

# STACK_TEMPORAL_PROFILE=server runs Temporal's own server instead (temporal-server.sh); not
# TEMPORAL_PROFILE, which the temporal CLI reads as its client config profile. A state dir keeps the
# profile it first ran: the pipelines' rows and Kafka offsets in it refer to that one's runs.
TEMPORAL_STATE_PROFILE=""
if [ -d "$STACK_STATE_DIR/temporal-server" ]; then TEMPORAL_STATE_PROFILE=server; elif [ -d "$TEMPORAL_DIR" ]; then TEMPORAL_STATE_PROFILE=dev; fi
STACK_TEMPORAL_PROFILE=${STACK_TEMPORAL_PROFILE:-${TEMPORAL_STATE_PROFILE:-dev}}
[[ $STACK_TEMPORAL_PROFILE == @(dev|server) ]] || die "STACK_TEMPORAL_PROFILE must be dev or server, not '$STACK_TEMPORAL_PROFILE'"
[[ ${TEMPORAL_STATE_PROFILE:-$STACK_TEMPORAL_PROFILE} == "$STACK_TEMPORAL_PROFILE" ]] ||
  die "$STACK_STATE_DIR holds the $TEMPORAL_STATE_PROFILE profile's data; use STACK_TEMPORAL_PROFILE=$TEMPORAL_STATE_PROFILE, or another STACK_STATE_DIR for the $STACK_TEMPORAL_PROFILE profile"
# shellcheck source=scripts/stack/temporal-server.sh
[ "$STACK_TEMPORAL_PROFILE" = dev ] || source "$STACK_LIB_DIR/temporal-server.sh"
