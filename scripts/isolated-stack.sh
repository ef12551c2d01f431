# shellcheck shell=bash
# A second stack for `npm run chaos` and `npm run bench`, never the shared one on the default
# ports: its own state directory and a free block of ports (the install cache is shared). Sourced.

# isolated_stack NAME KEPT_DIR BASE OFFSET×11: sets STACK_STATE_DIR (KEPT_DIR, or a fresh temp
# directory) and the stack's ports, each BASE + its OFFSET (Temporal, its UI, Kafka, its controller,
# PostgreSQL, Redis, the admin service, the pharmacy, insurer and carrier stand-ins, the codec
# server), moved up by 10 at a time until every one is free; then exports what the workers, bridges
# and the run itself read (src/config.ts), the key ring and token this stack writes into its own
# state directory included.
isolated_stack() {
  local name=$1 kept=$2 base=$3 shift_by b p all_free=0 ports offsets
  shift 3
  offsets=("$@")
  [ "${#offsets[@]}" -eq 11 ] || { echo "$name: isolated_stack wants 11 port offsets, got ${#offsets[@]}" >&2; exit 1; }
  if [ -n "$kept" ]; then
    mkdir -p "$kept"
    STACK_STATE_DIR=$(cd "$kept" && pwd)
  else
    STACK_STATE_DIR=$(mktemp -d "/tmp/temporal-$name.XXXXXX")
  fi
  export STACK_STATE_DIR
  for ((shift_by = 0; shift_by < 200; shift_by += 10)); do
    b=$((base + shift_by))
    ports=()
    for p in "${offsets[@]}"; do ports+=($((b + p))); done
    all_free=1
    for p in "${ports[@]}"; do ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || all_free=0; done
    [ "$all_free" = 1 ] && break
  done
  [ "$all_free" = 1 ] || { echo "$name: no free block of ports from $base" >&2; exit 1; }
  export TEMPORAL_PORT=${ports[0]} TEMPORAL_UI_PORT=${ports[1]} KAFKA_PORT=${ports[2]} \
    KAFKA_CONTROLLER_PORT=${ports[3]} PGPORT=${ports[4]} REDIS_PORT=${ports[5]} ADMIN_SERVICE_PORT=${ports[6]} \
    PHARMACY_SERVICE_PORT=${ports[7]} INSURER_SERVICE_PORT=${ports[8]} CARRIER_SERVICE_PORT=${ports[9]} \
    CODEC_SERVER_PORT=${ports[10]}
  export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" \
    TEMPORAL_UI_URL="http://127.0.0.1:$TEMPORAL_UI_PORT" \
    KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" \
    DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PGPORT/pipelines" \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    ADMIN_SERVICE_URL="http://127.0.0.1:$ADMIN_SERVICE_PORT" \
    PHARMACY_SERVICE_URL="http://127.0.0.1:$PHARMACY_SERVICE_PORT" \
    INSURER_SERVICE_URL="http://127.0.0.1:$INSURER_SERVICE_PORT" \
    CARRIER_SERVICE_URL="http://127.0.0.1:$CARRIER_SERVICE_PORT" \
    CODEC_SERVER_URL="http://127.0.0.1:$CODEC_SERVER_PORT" \
    PAYLOAD_KEY_RING_FILE="$STACK_STATE_DIR/secrets/payload-key-ring.json" \
    CODEC_SERVER_TOKEN_FILE="$STACK_STATE_DIR/secrets/codec-server-token"
  echo "==> $name stack: state $STACK_STATE_DIR; Temporal $TEMPORAL_PORT (UI $TEMPORAL_UI_PORT), Kafka $KAFKA_PORT/$KAFKA_CONTROLLER_PORT, PostgreSQL $PGPORT, Redis $REDIS_PORT, admin service $ADMIN_SERVICE_PORT, partners $PHARMACY_SERVICE_PORT-$CARRIER_SERVICE_PORT, codec server $CODEC_SERVER_PORT"
}

# stop_isolated_stack NAME ENTRY_PATTERN: the processes the run left behind (it stops them itself
# unless it was killed), each by the pid it recorded in run/NAME-*.pid and only if that pid still
# runs one of its entry points; then the stack.
stop_isolated_stack() {
  local name=$1 pattern=$2 f pid
  for f in "$STACK_STATE_DIR"/run/"$name"-*.pid; do
    [ -s "$f" ] || continue
    pid=$(tr -dc '0-9' <"$f")
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "$pattern"; then
      kill -TERM "$pid" 2>/dev/null || true
      sleep 2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  bash scripts/stack.sh down >/dev/null 2>&1 ||
    echo "$name: WARNING: stack down failed; check: STACK_STATE_DIR=$STACK_STATE_DIR bash scripts/stack.sh status" >&2
}
