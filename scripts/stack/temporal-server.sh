# shellcheck shell=bash
# STACK_TEMPORAL_PROFILE=server: Temporal's own server (frontend, history, matching and worker services
# in one process) on the stack's PostgreSQL with several history shards, and the Web UI server
# beside it. Sourced at the end of temporal.sh: the CLI, the client calls, the search attributes
# and the pid handling are the dev profile's; what differs is defined again here.

# shellcheck source=scripts/stack/postgres.sh
source "$STACK_LIB_DIR/postgres.sh"

TEMPORAL_DIR="$STACK_STATE_DIR/temporal-server"
TEMPORAL_PID_PATTERN="temporal-server --root $TEMPORAL_DIR"
TEMPORAL_UI_LOG="$STACK_LOG_DIR/temporal-ui.log"
TEMPORAL_UI_PIDFILE="$STACK_RUN_DIR/temporal-ui.pid"
TEMPORAL_UI_PID_PATTERN="temporal-ui-server --root $TEMPORAL_DIR"
# Stored in the database when it is created; the server ignores (with a warning) any other value
# later, as shards cannot be re-split, so another count needs a new state dir.
TEMPORAL_HISTORY_SHARDS=4
# Internal ports, from TEMPORAL_PORT so that clients need only that one; src/stack-services.ts
# reserves them (reservedAbove), so an isolated stack gives no other service one of them.
TEMPORAL_HISTORY_PORT=$((TEMPORAL_PORT + 1))
TEMPORAL_MATCHING_PORT=$((TEMPORAL_PORT + 2))
TEMPORAL_WORKER_PORT=$((TEMPORAL_PORT + 3))
TEMPORAL_HTTP_PORT=$((TEMPORAL_PORT + 4))
TEMPORAL_MEMBERSHIP_PORT=$((TEMPORAL_PORT + 11)) # and the next three, one per service

# The server and UI modules at the versions the pinned CLI was built with (its build info), so
# both profiles run the same server.
temporal_cli_dep() {
  # shellcheck disable=SC2153 # set by temporal.sh, which sources this file
  go version -m "$TEMPORAL_BIN" | awk -v mod="$1" '$1 == "dep" && $2 == mod { print $3 }'
}

temporal_server_paths() {
  [ -z "${TEMPORAL_SERVER_VERSION:-}" ] || return 0
  TEMPORAL_SERVER_VERSION=$(temporal_cli_dep go.temporal.io/server)
  TEMPORAL_UI_VERSION=$(temporal_cli_dep github.com/temporalio/ui-server/v2)
  if [ -z "$TEMPORAL_SERVER_VERSION" ] || [ -z "$TEMPORAL_UI_VERSION" ]; then
    die "cannot read the server and UI versions from $TEMPORAL_BIN (go version -m)"
  fi
  TEMPORAL_SERVER_HOME="$STACK_CACHE_DIR/temporal-server-${TEMPORAL_SERVER_VERSION#v}"
  TEMPORAL_UI_HOME="$STACK_CACHE_DIR/temporal-ui-server-${TEMPORAL_UI_VERSION#v}"
}

# go install PACKAGE@VERSION... into a temp GOBIN renamed to HOME with the binaries renamed as
# NAME=BINARY says, so a killed build leaves nothing that looks installed. Each module is built
# with its own go.mod, as released.
_temporal_go_install_locked() {
  local home=$1 label=$2 renames=$3 tmp kv
  shift 3
  [ -d "$home" ] && return 0
  tmp="$home.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  run_logged "$label" "$STACK_LOG_DIR/install-$(basename "$home").log" \
    env GOBIN="$tmp" GOFLAGS=-modcacherw go install "$@"
  for kv in $renames; do mv "$tmp/${kv#*=}" "$tmp/${kv%%=*}"; done
  mv "$tmp" "$home"
}

temporal_server_install() {
  temporal_server_paths
  [ -d "$TEMPORAL_SERVER_HOME" ] || with_lock "temporal-server-$TEMPORAL_SERVER_VERSION" \
    _temporal_go_install_locked "$TEMPORAL_SERVER_HOME" \
    "building Temporal server $TEMPORAL_SERVER_VERSION and temporal-sql-tool with go install" \
    "temporal-server=server temporal-sql-tool=sql" \
    "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
    "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
  [ -d "$TEMPORAL_UI_HOME" ] || with_lock "temporal-ui-server-$TEMPORAL_UI_VERSION" \
    _temporal_go_install_locked "$TEMPORAL_UI_HOME" \
    "building the Temporal Web UI server $TEMPORAL_UI_VERSION with go install" \
    "temporal-ui-server=server" \
    "github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_VERSION"
}

# ---------------------------------------------------------------- database

temporal_sql_tool() {
  local db=$1
  shift
  SQL_PLUGIN=postgres12 SQL_HOST=$STACK_HOST SQL_PORT=$PGPORT SQL_USER=$PG_USER SQL_PASSWORD=$PG_PASSWORD \
    SQL_DATABASE=$db "$TEMPORAL_SERVER_HOME/temporal-sql-tool" "$@" >>"$STACK_LOG_DIR/temporal-schema.log" 2>&1 ||
    {
      show_log_tail "$STACK_LOG_DIR/temporal-schema.log"
      die "temporal-sql-tool $* on database $db failed; see $STACK_LOG_DIR/temporal-schema.log"
    }
}

# Runs on every start: creating a database that exists is skipped, and the schema steps do
# nothing on a database already at this version. The schema files are the ones embedded in the
# tool (--schema-name), so they always match the server built beside it.
temporal_server_setup_databases() {
  local db schema
  for db in temporal temporal_visibility; do
    schema=${db#temporal_}
    if [ -z "$(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      log "creating database $db"
      temporal_sql_tool "$db" create-database
    fi
    temporal_sql_tool "$db" setup-schema -v 0.0
    temporal_sql_tool "$db" update-schema --schema-name "postgresql/v12/$schema"
  done
}

# ---------------------------------------------------------------- config

temporal_server_datastore_yaml() {
  cat <<EOF
      sql:
        pluginName: postgres12
        databaseName: $1
        connectAddr: "$STACK_HOST:$PGPORT"
        connectProtocol: tcp
        user: $PG_USER
        password: $PG_PASSWORD
        maxConns: $2
        maxIdleConns: $2
        maxConnLifetime: 1h
EOF
}

# Written into the state dir on every up from the stack's ports; the server reads the dynamic
# config file again every 10 s.
temporal_server_write_config() {
  local kv
  mkdir -p "$TEMPORAL_DIR/config" "$TEMPORAL_DIR/ui"
  cat >"$TEMPORAL_DIR/config/stack.yaml" <<EOF
# Generated by scripts/stack/temporal-server.sh on every start; edits are overwritten.
log:
  stdout: true
  level: info
  format: json
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: $TEMPORAL_HISTORY_SHARDS
  datastores:
    default:
$(temporal_server_datastore_yaml temporal 20)
    visibility:
$(temporal_server_datastore_yaml temporal_visibility 10)
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "$STACK_HOST"
services:
  frontend:
    rpc: { grpcPort: $TEMPORAL_PORT, httpPort: $TEMPORAL_HTTP_PORT, membershipPort: $TEMPORAL_MEMBERSHIP_PORT, bindOnIP: "$STACK_HOST" }
  history:
    rpc: { grpcPort: $TEMPORAL_HISTORY_PORT, membershipPort: $((TEMPORAL_MEMBERSHIP_PORT + 1)), bindOnIP: "$STACK_HOST" }
  matching:
    rpc: { grpcPort: $TEMPORAL_MATCHING_PORT, membershipPort: $((TEMPORAL_MEMBERSHIP_PORT + 2)), bindOnIP: "$STACK_HOST" }
  worker:
    rpc: { grpcPort: $TEMPORAL_WORKER_PORT, membershipPort: $((TEMPORAL_MEMBERSHIP_PORT + 3)), bindOnIP: "$STACK_HOST" }
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "$STACK_HOST:$TEMPORAL_PORT"
dcRedirectionPolicy:
  policy: noop
archival:
  history: { state: disabled }
  visibility: { state: disabled }
namespaceDefaults:
  archival:
    history: { state: disabled }
    visibility: { state: disabled }
publicClient:
  hostPort: "$STACK_HOST:$TEMPORAL_PORT"
dynamicConfigClient:
  filepath: "$TEMPORAL_DIR/config/dynamic.yaml"
  pollInterval: 10s
EOF
  {
    echo "# Generated by scripts/stack/temporal-server.sh from TEMPORAL_DYNAMIC_CONFIG (temporal.sh)."
    for kv in "${TEMPORAL_DYNAMIC_CONFIG[@]}"; do printf '%s:\n  - value: %s\n' "${kv%%=*}" "${kv#*=}"; done
  } >"$TEMPORAL_DIR/config/dynamic.yaml"
  cat >"$TEMPORAL_DIR/ui/stack.yaml" <<EOF
# Generated by scripts/stack/temporal-server.sh on every start; edits are overwritten.
temporalGrpcAddress: "$STACK_HOST:$TEMPORAL_PORT"
host: "$STACK_HOST"
port: $TEMPORAL_UI_PORT
enableUi: true
defaultNamespace: $TEMPORAL_NAMESPACE
hideLogs: true
cors:
  cookieInsecure: true
# Payloads are encrypted (src/codec); the browser decodes them through the codec server with the
# session cookie its /login sets, which it sends only with cross-origin credentials included.
codec:
  endpoint: "$(codec_server_url)"
  includeCredentials: true
EOF
}

# ---------------------------------------------------------------- run

temporal_namespace_exists() {
  temporal_client operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1
}

# The dev server creates its namespace itself; here it is created once, in the database.
temporal_ensure_namespace() {
  temporal_namespace_exists && return 0
  log "creating namespace $TEMPORAL_NAMESPACE"
  temporal_client operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention 24h >/dev/null
}

temporal_namespace_known() { temporal_missing_search_attributes >/dev/null; }

temporal_ui_running_pid() { pid_from_file "$TEMPORAL_UI_PIDFILE" "$TEMPORAL_UI_PID_PATTERN"; }

temporal_ui_serving() { curl -fsS -o /dev/null --max-time 2 "http://$STACK_HOST:$TEMPORAL_UI_PORT/"; }

temporal_ui_up() {
  if ! temporal_ui_running_pid >/dev/null; then
    require_port_free "$TEMPORAL_UI_PORT" "temporal web UI"
    spawn_daemon "$TEMPORAL_UI_PIDFILE" "$TEMPORAL_UI_LOG" \
      "$TEMPORAL_UI_HOME/temporal-ui-server" --root "$TEMPORAL_DIR" --config ui --env stack start
  fi
  wait_for "temporal web UI" "$TEMPORAL_UI_LOG" "$TEMPORAL_UI_PIDFILE:$TEMPORAL_UI_PID_PATTERN" temporal_ui_serving
}

temporal_wait_healthy() {
  local pidspec="$TEMPORAL_PIDFILE:$TEMPORAL_PID_PATTERN"
  wait_for "temporal" "$TEMPORAL_LOG" "$pidspec" temporal_serving
  temporal_ensure_namespace
  # Search attributes are kept per namespace on SQL visibility; the frontend sees a new namespace
  # and new attributes after its namespace cache refreshes (every 10 s), so both are polled.
  wait_for "temporal namespace" "$TEMPORAL_LOG" "$pidspec" temporal_namespace_known
  temporal_ensure_search_attributes
  wait_for "temporal search attributes" "$TEMPORAL_LOG" "$pidspec" temporal_search_attributes_ready
}

temporal_start() {
  local port
  for port in "$TEMPORAL_PORT" "$TEMPORAL_HISTORY_PORT" "$TEMPORAL_MATCHING_PORT" "$TEMPORAL_WORKER_PORT" "$TEMPORAL_HTTP_PORT" \
    $(seq "$TEMPORAL_MEMBERSHIP_PORT" $((TEMPORAL_MEMBERSHIP_PORT + 3))); do
    require_port_free "$port" "temporal server"
  done
  wait_for "postgres (for temporal)" "$PG_LOG" "" postgres_find_bin_and_ready
  temporal_server_setup_databases
  log "starting Temporal server $TEMPORAL_SERVER_VERSION on $(temporal_address) ($TEMPORAL_HISTORY_SHARDS history shards, PostgreSQL on port $PGPORT)"
  spawn_daemon "$TEMPORAL_PIDFILE" "$TEMPORAL_LOG" \
    "$TEMPORAL_SERVER_HOME/temporal-server" --root "$TEMPORAL_DIR" --config config --env stack --allow-no-auth start
  temporal_wait_healthy
}

# PostgreSQL is another component started in parallel, possibly still being installed.
postgres_find_bin_and_ready() { postgres_find_bin && postgres_ready; }

temporal_up() {
  local start
  start=$(now_s)
  temporal_install
  temporal_server_install
  temporal_load_search_attributes
  temporal_server_write_config
  if temporal_running_pid >/dev/null; then
    temporal_wait_healthy
  else
    temporal_start
  fi
  temporal_ui_up
  log "ready in $(($(now_s) - start))s: $(temporal_address), http://$STACK_HOST:$TEMPORAL_UI_PORT (profile server)"
}

temporal_down() {
  local pid
  if pid=$(temporal_ui_running_pid); then
    log "stopping the web UI (pid $pid)"
    stop_pid "$pid" "temporal web UI" 10
  fi
  rm -f "$TEMPORAL_UI_PIDFILE"
  temporal_stop_server
}
