# shellcheck shell=bash
# PostgreSQL from Debian's packages, but with our own cluster in the state dir
# (Debian's own cluster/service is never used).

PG_DATABASE=pipelines
PG_USER=postgres
PG_PASSWORD=postgres
PG_DIR="$STACK_STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCK_DIR="$STACK_STATE_DIR/pgsock"
PG_LOG="$STACK_LOG_DIR/postgres.log"
PG_BIN=""

# The application's role; its password, and the owner role's, are in the secrets dir (src/config.ts).
postgres_url() {
  echo "postgres://pipelines_app@$STACK_HOST:$PGPORT/$PG_DATABASE"
}

postgres_find_bin() {
  local dir dirs=()
  mapfile -t dirs < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
  for dir in "${dirs[@]}"; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/psql" ]; then
      PG_BIN=$dir
      return 0
    fi
  done
  return 1
}

postgres_install() {
  postgres_find_bin && return 0
  apt_install postgresql
  postgres_find_bin || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found"
}

# initdb and postgres refuse to run as root, so as root they run as the
# Debian-created `postgres` OS user; cd / because our cwd may be unreadable.
pg_as_owner() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# As root the server runs as `postgres`, which must be able to reach the
# state dir, so every ancestor directory needs the search (x) bit.
postgres_prepare_root() {
  local dir
  if ! id postgres >/dev/null 2>&1; then
    log "creating the 'postgres' OS user"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  dir=$STACK_STATE_DIR
  while [ "$dir" != / ]; do
    if [ -d "$dir" ] && ! runuser -u postgres -- test -x "$dir"; then
      log "chmod o+x $dir (so the postgres user can reach its data dir)"
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
  chmod o+x "$STACK_LOG_DIR"
  chown postgres:postgres "$PG_DIR" "$PG_SOCK_DIR"
  touch "$PG_LOG"
  chown postgres:postgres "$PG_LOG"
}

postgres_initdb() {
  local pwfile="$PG_DIR/.pwfile"
  log "initialising a new cluster in $PG_DATA"
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  chmod 600 "$pwfile"
  if is_root; then chown postgres:postgres "$pwfile"; fi
  # Password auth over TCP (what the apps use); trust on the private socket
  # dir, which only the owning user can reach.
  pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 \
    >>"$PG_LOG" 2>&1 || {
    rm -f "$pwfile"
    show_log_tail "$PG_LOG"
    die "initdb failed; see $PG_LOG"
  }
  rm -f "$pwfile"
  printf "\n# Local stack settings, regenerated on every start.\ninclude_if_exists = 'stack.conf'\n" |
    pg_as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

# Settings live in a file rather than `pg_ctl -o` so paths with spaces work
# and a manual `pg_ctl start` behaves the same.
postgres_write_conf() {
  postgres_copy_certificate
  pg_as_owner tee "$PG_DATA/stack.conf" >/dev/null <<EOF
listen_addresses = '$STACK_HOST'
port = $PGPORT
unix_socket_directories = '$PG_SOCK_DIR'
max_connections = 250
# TLS for the clients that ask for it (DATABASE_SSL_MODE), with the stack's CA (scripts/stack/tls.sh).
ssl = on
ssl_cert_file = '$PG_DIR/tls/server.crt'
ssl_key_file = '$PG_DIR/tls/server.key'
EOF
}

# PostgreSQL reads its key only if the user it runs as owns it with no access for others.
postgres_copy_certificate() {
  mkdir -p "$PG_DIR/tls"
  cp "$STACK_TLS_DIR/postgres.crt" "$PG_DIR/tls/server.crt"
  cp "$STACK_TLS_DIR/postgres.key" "$PG_DIR/tls/server.key"
  chmod 700 "$PG_DIR/tls"
  chmod 600 "$PG_DIR/tls/server.key"
  if is_root; then chown -R postgres:postgres "$PG_DIR/tls"; fi
}

postgres_check_version() {
  local data_ver bin_ver
  data_ver=$(cat "$PG_DATA/PG_VERSION")
  bin_ver=$(basename "$(dirname "$PG_BIN")")
  [ "$data_ver" = "$bin_ver" ] ||
    die "$PG_DATA was created by PostgreSQL $data_ver but $PG_BIN is $bin_ver; move the data dir away or install postgresql-$data_ver"
}

postgres_running() {
  [ -f "$PG_DATA/PG_VERSION" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

postgres_ready() {
  "$PG_BIN/pg_isready" -q -h "$STACK_HOST" -p "$PGPORT" -t 2
}

pg_psql() {
  PGPASSWORD=$PG_PASSWORD "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$STACK_HOST" -p "$PGPORT" \
    -U "$PG_USER" -d postgres -tA "$@"
}

# Debian's packaged cluster may be running on our port; it is not ours.
postgres_free_port_from_debian() {
  local ver name port status
  command -v pg_lsclusters >/dev/null || return 0
  while read -r ver name port status _; do
    if [ "$port" = "$PGPORT" ] && [ "$status" = online ]; then
      warn "Debian's cluster $ver/$name is running on port $PGPORT; stopping it (this stack uses its own cluster)"
      pg_ctlcluster "$ver" "$name" stop || true
    fi
  done < <(pg_lsclusters -h 2>/dev/null)
}

postgres_start() {
  local start
  start=$(now_s)
  if is_root; then postgres_free_port_from_debian; fi
  require_port_free "$PGPORT" postgres
  postgres_write_conf
  log "starting on $STACK_HOST:$PGPORT"
  pg_as_owner setsid "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$STACK_WAIT_TIMEOUT" start \
    >/dev/null 2>&1 </dev/null || {
    show_log_tail "$PG_LOG"
    die "pg_ctl start failed; see $PG_LOG"
  }
  wait_for "postgres" "$PG_LOG" "" postgres_ready
  log "started in $(($(now_s) - start))s"
}

postgres_ensure_database() {
  if [ -z "$(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" ]; then
    log "creating database $PG_DATABASE"
    pg_psql -c "CREATE DATABASE $PG_DATABASE"
  fi
}

# The owner and application roles (scripts/postgres/roles.sql), on a new cluster and an old one alike,
# with the passwords `scripts/payload-keys.ts ensure` wrote before the components started.
postgres_ensure_roles() {
  PIPELINES_OWNER_PASSWORD_FILE="$STACK_SECRETS_DIR/postgres-owner-password" \
    PIPELINES_APP_PASSWORD_FILE="$STACK_SECRETS_DIR/postgres-app-password" \
    pg_psql -d "$PG_DATABASE" -f "$STACK_SCRIPTS_DIR/postgres/roles.sql" >/dev/null ||
    die "cannot create the database roles (scripts/postgres/roles.sql)"
}

postgres_up() {
  local start
  start=$(now_s)
  postgres_install
  mkdir -p "$PG_DIR" "$PG_SOCK_DIR"
  chmod 700 "$PG_SOCK_DIR"
  if is_root; then postgres_prepare_root; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then postgres_initdb; fi
  postgres_check_version
  if postgres_running; then
    wait_for "postgres" "$PG_LOG" "" postgres_ready
    postgres_ensure_database
    postgres_ensure_roles
    log "already running ($(postgres_url))"
    return 0
  fi
  postgres_start
  postgres_ensure_database
  postgres_ensure_roles
  log "ready in $(($(now_s) - start))s: $(postgres_url)"
}

postgres_down() {
  postgres_find_bin || return 0
  if postgres_running; then
    log "stopping"
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  else
    log "not running"
  fi
}

postgres_status() {
  local state=stopped
  if postgres_find_bin && postgres_running; then
    if postgres_ready; then state=running; else state=unhealthy; fi
  elif port_open "$PGPORT"; then
    state="port-in-use-by $(port_owner "$PGPORT")"
  fi
  status_line postgres "$state" "$(postgres_url)"
}

postgres_logfile() { echo "$PG_LOG"; }
