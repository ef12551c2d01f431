#!/usr/bin/env bash
# `npm run temporal -- <args>`: the pinned temporal CLI that `npm run stack` built, talking to
# the stack's dev server unless --address or TEMPORAL_ADDRESS names another one, and decoding
# payloads through the stack's codec server.
set -euo pipefail
STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack"
# shellcheck source=scripts/stack/lib.sh
source "$STACK_DIR/lib.sh"
# shellcheck source=scripts/stack/temporal.sh
source "$STACK_DIR/temporal.sh"
STACK_COMPONENT=temporal

[ -x "$TEMPORAL_BIN" ] || die "the temporal CLI v$TEMPORAL_CLI_VERSION is not built yet ($TEMPORAL_BIN); build it with: npm run stack"
# An environment default rather than an --address flag: the CLI lets a flag override it, and
# commands without a server connection (--version, server start-dev) reject the flag. A chosen
# Temporal profile (docs/production/connections.md) has its own address, which the CLI reads as the processes do.
if [ -z "${TEMPORAL_CONFIG_FILE:-}${TEMPORAL_PROFILE:-}" ]; then
  export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-$(temporal_address)}"
fi
# The API key the processes read from a file (src/config.ts), in the variable the CLI reads.
if [ -n "${TEMPORAL_API_KEY_FILE:-}" ]; then
  TEMPORAL_API_KEY=$(tr -d '[:space:]' <"$TEMPORAL_API_KEY_FILE")
  export TEMPORAL_API_KEY
fi
# Payloads are encrypted (src/codec): against the local stack, decode them through its codec server
# with the operator credential in CODEC_OPERATOR_CREDENTIAL_FILE (the stack's development operator
# by default), unless the caller set these. Passed in the environment, not as flags, so the
# credential does not show in `ps`. Every decode is audited under that operator's name.
credential_file="${CODEC_OPERATOR_CREDENTIAL_FILE:-$STACK_SECRETS_DIR/codec-operator-credential}"
if [ -z "${TEMPORAL_CODEC_ENDPOINT:-}" ] && [ -r "$credential_file" ]; then
  export TEMPORAL_CODEC_ENDPOINT="${CODEC_SERVER_URL:-$(codec_server_url)}"
  TEMPORAL_CODEC_AUTH="Bearer $(tr -d '[:space:]' <"$credential_file")"
  export TEMPORAL_CODEC_AUTH
fi
exec "$TEMPORAL_BIN" "$@"
