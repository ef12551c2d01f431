#!/usr/bin/env bash
# Local stack: Temporal dev server, Kafka (KRaft), PostgreSQL, Redis on 127.0.0.1, then the node
# processes of src/stack-services.ts (the stand-ins for outside systems, the codec server).
# STACK_TEMPORAL_PROFILE=server runs Temporal's own server on the stack's PostgreSQL instead of the dev server.
# Usage: bash scripts/stack.sh up|down|status|logs [component]
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack"
# shellcheck source=scripts/stack/lib.sh
source "$STACK_DIR/lib.sh"
# shellcheck source=scripts/stack/tls.sh
source "$STACK_DIR/tls.sh"
# shellcheck source=scripts/stack/postgres.sh
source "$STACK_DIR/postgres.sh"
# shellcheck source=scripts/stack/redis.sh
source "$STACK_DIR/redis.sh"
# shellcheck source=scripts/stack/kafka.sh
source "$STACK_DIR/kafka.sh"
# shellcheck source=scripts/stack/temporal.sh
source "$STACK_DIR/temporal.sh"
# shellcheck source=scripts/stack/node-service.sh
source "$STACK_DIR/node-service.sh"

COMPONENTS=(postgres redis kafka temporal)
# Started after the components; each logs to $STACK_LOG_DIR/<name>.log.
NODE_SERVICES=()
for spec in $STACK_NODE_SERVICES; do NODE_SERVICES+=("${spec%%|*}"); done

usage() {
  cat <<EOF
Usage: bash scripts/stack.sh COMMAND
  up                 install what is missing, start everything, wait until healthy
  down               stop everything (data is kept)
  status             one line per component
  logs [COMPONENT]   show logs (follows when run in a terminal); COMPONENT is one of:
                     ${COMPONENTS[*]} ${NODE_SERVICES[*]}
Dirs: cache $STACK_CACHE_DIR
      state $STACK_STATE_DIR
EOF
}

# Runs "<component>_<action>" for every component in parallel, each in its own
# subshell (so a failing `die` ends only that component); fails if any failed.
for_each_component() {
  local action=$1 c failed=()
  declare -A pids=()
  for c in "${COMPONENTS[@]}"; do
    (STACK_COMPONENT=$c "${c}_${action}") &
    pids[$c]=$!
  done
  for c in "${COMPONENTS[@]}"; do
    wait "${pids[$c]}" || failed+=("$c")
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    die "$action failed for: ${failed[*]}"
  fi
}

run_hook() {
  local script="$STACK_DIR/$1"
  shift
  [ -f "$script" ] || return 0
  log "running hook: bash scripts/stack/$(basename "$script") $*"
  bash "$script" "$@"
}

print_summary() {
  cat <<EOF

Local stack is up:
  Temporal gRPC    $STACK_HOST:$TEMPORAL_PORT (namespace default, profile $STACK_TEMPORAL_PROFILE)
  Temporal Web UI  http://$STACK_HOST:$TEMPORAL_UI_PORT  (payloads decoded after signing in at $(codec_server_url)/login)
  Codec operator   developer: sign in at $(codec_server_url)/login with the credential in
                   $STACK_SECRETS_DIR/codec-operator-credential (npm run temporal uses it too)
  Kafka            $(kafka_bootstrap); TLS (client certificate required) $(kafka_ssl_bootstrap);
                   SASL over TLS $(kafka_sasl_bootstrap) (user $KAFKA_SASL_USER, password in $KAFKA_SASL_PASSWORD_FILE)
  Stack CA         $STACK_TLS_CA (Kafka's TLS listener and PostgreSQL; client certificate $STACK_TLS_DIR/client.crt)
  Postgres         $(postgres_url)
  Redis            $(redis_url)
$(node_services_summary)
  Logs             $STACK_LOG_DIR  (bash scripts/stack.sh logs [component])
  Data             $STACK_STATE_DIR
EOF
}

# A development payload key ring, written once and never overwritten: a new key ring would make
# every payload already stored unreadable. Mode 0600 in a 0700 directory.
ensure_secrets() {
  (cd "$STACK_DIR/../.." && node --import tsx scripts/payload-keys.ts ensure) || die "cannot write the payload key ring into $STACK_SECRETS_DIR"
}

# The codec server's operators live in PostgreSQL (migrations/010_codec_access.sql): the schema,
# then a development operator whose credential goes into the secrets folder (kept while it is valid).
# With this stack's addresses (STACK_URLS), as its node services get them.
ensure_codec_operator() {
  # shellcheck disable=SC2086,SC2163 # exports each VAR=value word of STACK_URLS (none has a space)
  (cd "$STACK_DIR/../.." && export $STACK_URLS && LOG_LEVEL=warn node --import tsx src/migrate.ts &&
    node --import tsx src/codec-server/operators-cli.ts ensure-dev) || die "cannot create the codec server's development operator"
}

cmd_up() {
  local start
  start=$(now_s)
  ensure_dirs
  # Topics and search attributes are declared in TypeScript (src/pipelines, src/contracts).
  bash "$STACK_DIR/../ensure-node-modules.sh"
  ensure_secrets
  STACK_RUN_TMP=$(mktemp -d)
  export STACK_RUN_TMP
  trap 'rm -rf "$STACK_RUN_TMP"' EXIT
  # Before the components: Kafka's TLS listener and PostgreSQL both serve certificates of its CA.
  ensure_tls
  for_each_component up
  ensure_codec_operator
  run_hook test-server.sh install
  node_services up
  print_summary
  log "up took $(($(now_s) - start))s"
}

cmd_down() {
  ensure_dirs
  node_services down || warn "stopping the node services failed"
  # The server profile's Temporal writes to PostgreSQL while it shuts down, so it stops first.
  if [ "$STACK_TEMPORAL_PROFILE" = server ]; then
    (STACK_COMPONENT=temporal temporal_down)
    COMPONENTS=(postgres redis kafka)
  fi
  for_each_component down
}

cmd_status() {
  local c ui
  for c in "${COMPONENTS[@]}"; do "${c}_status"; done
  if port_open "$TEMPORAL_UI_PORT"; then ui=running; else ui=stopped; fi
  status_line temporal-ui "$ui" "http://$STACK_HOST:$TEMPORAL_UI_PORT"
  node_services status
  echo "logs: $STACK_LOG_DIR"
}

cmd_logs() {
  local files=() c lines=${STACK_LOG_LINES:-100}
  if [ $# -gt 0 ] && [[ " ${NODE_SERVICES[*]} " == *" $1 "* ]]; then
    files=("$STACK_LOG_DIR/$1.log")
  elif [ $# -gt 0 ]; then
    declare -F "${1}_logfile" >/dev/null || die "unknown component '$1' (one of: ${COMPONENTS[*]} ${NODE_SERVICES[*]})"
    files=("$("${1}_logfile")")
  else
    for c in "${COMPONENTS[@]}"; do files+=("$("${c}_logfile")"); done
    for c in "${NODE_SERVICES[@]}"; do files+=("$STACK_LOG_DIR/$c.log"); done
  fi
  for c in "${!files[@]}"; do
    [ -e "${files[$c]}" ] || { warn "no log yet: ${files[$c]}"; unset 'files[c]'; }
  done
  [ "${#files[@]}" -gt 0 ] || exit 0
  if [ -t 1 ]; then
    exec tail -n "$lines" -F "${files[@]}"
  fi
  tail -n "$lines" "${files[@]}"
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  [[ $cmd == @(-h|--help|help) ]] || validate_ports
  case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
