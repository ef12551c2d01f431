#!/usr/bin/env bash
# The codec server (src/codec-server): decodes payloads for the Web UI and the `temporal` CLI with
# the stack's key ring, for whoever has the token in $STACK_STATE_DIR/secrets/codec-server-token.
# Usage: bash scripts/stack/codec-server.sh up|down|status
# `scripts/stack.sh up` runs `up` last, after it wrote the key ring and the token.
set -euo pipefail

STACK_COMPONENT=codec-server
# shellcheck source=scripts/stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=scripts/stack/node-service.sh
source "$STACK_LIB_DIR/node-service.sh"

# The browser calls it from the Web UI's origin, which is the only one it answers (CORS).
node_service "${1:-}" codec-server src/codec-server/main.ts "codec-server:$CODEC_SERVER_PORT" -- \
  CODEC_SERVER_PORT="$CODEC_SERVER_PORT" CODEC_SERVER_URL="$(codec_server_url)" TEMPORAL_UI_URL="http://$STACK_HOST:$TEMPORAL_UI_PORT"
