# shellcheck shell=bash
# Common helpers for the local stack. Sourced by scripts/stack.sh, never run.

STACK_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # used by the component files
STACK_SCRIPTS_DIR="$(dirname "$STACK_LIB_DIR")"

# CI strips most of the environment; HOME is still needed for the default dirs.
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"

# Go's official install puts it in /usr/local/go/bin, which only interactive shells (.bashrc)
# tend to add to PATH; CI runs this non-interactively.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi

STACK_CACHE_DIR="${STACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/temporal-pipelines}"
STACK_STATE_DIR="${STACK_STATE_DIR:-$HOME/.local/state/temporal-pipelines}"
STACK_LOG_DIR="$STACK_STATE_DIR/logs"
STACK_RUN_DIR="$STACK_STATE_DIR/run"
STACK_HOST=127.0.0.1
STACK_WAIT_TIMEOUT="${STACK_WAIT_TIMEOUT:-120}"

# Generated once by `up` (scripts/payload-keys.ts ensure); src/config.ts finds them here by default.
# shellcheck disable=SC2034 # read by stack.sh and the component files that source this one
STACK_SECRETS_DIR="$STACK_STATE_DIR/secrets"
export STACK_CACHE_DIR STACK_STATE_DIR

# ---------------------------------------------------------------- logging

log() { printf '[%s] %s\n' "${STACK_COMPONENT:-stack}" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "${STACK_COMPONENT:-stack}" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "${STACK_COMPONENT:-stack}" "$*" >&2
  exit 1
}

now_s() { date +%s; }

# ---------------------------------------------------------------- services

# Every port variable (each from the environment, or its default), STACK_URLS and STACK_NODE_SERVICES,
# from the list in src/stack-services.ts. Read once per command: the scripts it runs inherit them.
if [ -z "${STACK_NODE_SERVICES:-}" ]; then
  STACK_REPO_DIR=$(dirname "$STACK_SCRIPTS_DIR")
  [ -x "$STACK_REPO_DIR/node_modules/.bin/tsx" ] || bash "$STACK_SCRIPTS_DIR/ensure-node-modules.sh" >&2
  STACK_SERVICES_ENV=$(cd "$STACK_REPO_DIR" && node --import tsx scripts/stack/services.ts env) ||
    die "cannot read the stack's services from src/stack-services.ts"
  eval "$STACK_SERVICES_ENV"
fi

# Last lines of a log, indented, for error messages.
show_log_tail() {
  local file=$1 lines=${2:-15}
  [ -s "$file" ] || return 0
  printf '    --- last %s lines of %s ---\n' "$lines" "$file" >&2
  tail -n "$lines" "$file" | sed 's/^/    /' >&2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

validate_ports() {
  local var
  for var in $STACK_PORT_VARIABLES; do
    if ! [[ ${!var} =~ ^[0-9]+$ ]] || [ "${!var}" -lt 1 ] || [ "${!var}" -gt 65535 ]; then
      die "$var='${!var}' is not a valid TCP port"
    fi
  done
}

ensure_dirs() {
  mkdir -p "$STACK_CACHE_DIR" "$STACK_LOG_DIR" "$STACK_RUN_DIR"
}

codec_server_url() { echo "http://$STACK_HOST:$CODEC_SERVER_PORT"; }

status_line() { printf '%-16s %-10s %s\n' "$@"; }

# ---------------------------------------------------------------- processes

# Prints the pid recorded in a pid file if that process is alive and its
# command line contains the expected pattern (guards against pid reuse).
pid_from_file() {
  local file=$1 pattern=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern" || return 1
  printf '%s\n' "$pid"
}

# Sends TERM, waits, then KILL. Only for pids we verified with pid_from_file.
stop_pid() {
  local pid=$1 what=$2 grace=${3:-30} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  warn "$what (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# Starts a long-running server detached from our session and terminal so that
# Ctrl-C on `up` or the end of a CI step does not take it down.
#
# Returns once the child runs the command itself: until then it is this shell,
# then setsid, then nohup, and its /proc cmdline is theirs (a read during an exec
# can even fail), so a start-up check by pattern could read "exited" (a CI run
# reported Kafka "exited during start-up" with nothing new in its logs).
spawn_daemon() {
  local pidfile=$1 logfile=$2 pid i
  shift 2
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$pidfile"
  for ((i = 0; i < 200; i++)); do
    [ "$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)" = "$* " ] && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
}

# ---------------------------------------------------------------- ports

port_open() {
  (exec 3<>"/dev/tcp/$STACK_HOST/$1") 2>/dev/null
}

# Human description of whatever listens on a port, for error messages.
port_owner() {
  local port=$1 line
  line=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1)
  if [ -z "$line" ]; then
    echo "an unknown process"
  elif [[ $line =~ users:\(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
    echo "${BASH_REMATCH[1]} (pid ${BASH_REMATCH[2]})"
  else
    echo "another process (run as root to see which)"
  fi
}

port_owner_pid() {
  local line
  line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1)
  [[ $line =~ pid=([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

require_port_free() {
  local port=$1 what=$2
  if port_open "$port"; then
    die "port $STACK_HOST:$port (for $what) is already in use by $(port_owner "$port"); stop it or set a different port variable"
  fi
}

# ---------------------------------------------------------------- waiting

# wait_for DESCRIPTION LOGFILE PIDFILE-PATTERN-or-"" COMMAND...
# Polls COMMAND until it succeeds. Fails early if the server process died
# (PIDFILE:PATTERN given), and after STACK_WAIT_TIMEOUT seconds.
wait_for() {
  local what=$1 logfile=$2 pidspec=$3 deadline log_file
  shift 3
  deadline=$(($(now_s) + STACK_WAIT_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pidspec" ] && ! pid_from_file "${pidspec%%:*}" "${pidspec#*:}" >/dev/null; then
      for log_file in $logfile; do show_log_tail "$log_file"; done
      die "$what: the server process exited during start-up; see $logfile"
    fi
    if [ "$(now_s)" -ge "$deadline" ]; then
      for log_file in $logfile; do show_log_tail "$log_file"; done
      die "$what: not healthy after ${STACK_WAIT_TIMEOUT}s; see $logfile"
    fi
    sleep 0.5
  done
}

# run_logged LABEL LOGFILE COMMAND...: runs a slow install step with its output
# in LOGFILE, printing a progress line every 15 s so CI does not look hung.
run_logged() {
  local label=$1 logfile=$2 pid start next rc=0 last
  shift 2
  start=$(now_s)
  next=$((start + 15))
  log "$label (log: $logfile)"
  "$@" >"$logfile" 2>&1 </dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ "$(now_s)" -ge "$next" ]; then
      next=$((next + 15))
      last=$(tail -n1 "$logfile" 2>/dev/null | cut -c1-100)
      log "  ... still $label ($(($(now_s) - start))s)${last:+: $last}"
    fi
  done
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    show_log_tail "$logfile" 25
    die "$label failed (exit $rc); see $logfile"
  fi
  log "$label: done in $(($(now_s) - start))s"
}

# Serialises work on a shared resource (the cache, apt) across parallel
# components and concurrent `up` runs from other clones.
with_lock() {
  local name=$1
  shift
  mkdir -p "$STACK_CACHE_DIR/.locks"
  (
    flock 9
    "$@"
  ) 9>"$STACK_CACHE_DIR/.locks/$name.lock"
}

# ---------------------------------------------------------------- apt

# A per-run marker so `apt-get update` happens at most once per `up`.
STACK_RUN_TMP="${STACK_RUN_TMP:-}"

_apt_install_locked() {
  local marker="$STACK_RUN_TMP/apt-updated" added_policy=""
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e "$marker" ]; then
    run_logged "apt-get update" "$STACK_LOG_DIR/install-apt-update.log" \
      apt-get -o DPkg::Lock::Timeout=300 update
    : >"$marker"
  fi
  # Keep Debian's maintainer scripts from starting their own postgres/redis
  # services on our ports (the standard policy-rc.d mechanism).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  local rc=0
  (run_logged "apt-get install $*" "$STACK_LOG_DIR/install-apt-$1.log" \
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@") || rc=$?
  [ -z "$added_policy" ] || rm -f /usr/sbin/policy-rc.d
  return "$rc"
}

apt_install() {
  if ! is_root; then
    die "missing Debian packages: $*. Install them once as root: apt-get install -y $*"
  fi
  [ -n "$STACK_RUN_TMP" ] || die "internal: STACK_RUN_TMP not set"
  with_lock apt _apt_install_locked "$@"
}

# Stops a Debian system service that holds one of our ports, as the stack
# must own them. Used only when the port owner is that service's process.
stop_system_service() {
  local service=$1
  warn "stopping the system service '$service', which holds a port this stack needs"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now "$service" >/dev/null 2>&1 || systemctl stop "$service" || true
  elif command -v service >/dev/null; then
    service "$service" stop >/dev/null 2>&1 || true
  fi
}
