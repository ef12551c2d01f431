# shellcheck shell=bash
# A second stack for `npm run chaos` and `npm run bench`, never the shared one on the default
# ports: its own state directory and a free block of ports (the install cache is shared). Sourced.

# isolated_stack NAME KEPT_DIR BASE: sets STACK_STATE_DIR (KEPT_DIR, or a fresh temp directory) and
# a port for every service in src/stack-services.ts, from the first block of free ports at or above
# BASE (scripts/stack/services.ts), or the ports KEPT_DIR was given the first time; then exports what the workers, bridges and the run itself read
# (src/config.ts), the key ring and operator credential this stack writes into its own state directory included.
isolated_stack() {
  local name=$1 kept=$2 base=$3 services var summary=""
  if [ -n "$kept" ]; then
    mkdir -p "$kept"
    STACK_STATE_DIR=$(cd "$kept" && pwd)
  else
    STACK_STATE_DIR=$(mktemp -d "/tmp/temporal-$name.XXXXXX")
  fi
  export STACK_STATE_DIR
  # A kept directory keeps its ports: calling this again (another shell, a test run) while its stack
  # runs must find that stack, not the next free block.
  local ports_file="$STACK_STATE_DIR/isolated-ports.env"
  if [ -n "$kept" ] && [ -s "$ports_file" ]; then
    services=$(<"$ports_file")
  else
    services=$(node --import tsx scripts/stack/services.ts isolated "$base") || { echo "$name: no ports for the stack" >&2; exit 1; }
    [ -z "$kept" ] || printf '%s\n' "$services" >"$ports_file"
  fi
  eval "$services"
  export PAYLOAD_KEY_RING_FILE="$STACK_STATE_DIR/secrets/payload-key-ring.json" \
    CODEC_OPERATOR_CREDENTIAL_FILE="$STACK_STATE_DIR/secrets/codec-operator-credential"
  for var in $STACK_PORT_VARIABLES; do summary+="${summary:+, }$var ${!var}"; done
  echo "==> $name stack: state $STACK_STATE_DIR; $summary"
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
