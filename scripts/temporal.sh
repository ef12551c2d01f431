#!/usr/bin/env bash
# `npm run temporal -- <args>`: the pinned temporal CLI that `npm run stack` built, talking to
# the stack's dev server unless --address or TEMPORAL_ADDRESS names another one.
set -euo pipefail
STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack"
# shellcheck source=scripts/stack/lib.sh
source "$STACK_DIR/lib.sh"
# shellcheck source=scripts/stack/temporal.sh
source "$STACK_DIR/temporal.sh"
STACK_COMPONENT=temporal

[ -x "$TEMPORAL_BIN" ] || die "the temporal CLI v$TEMPORAL_CLI_VERSION is not built yet ($TEMPORAL_BIN); build it with: npm run stack"
# An environment default rather than an --address flag: the CLI lets a flag override it, and
# commands without a server connection (--version, server start-dev) reject the flag.
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-$(temporal_address)}"
exec "$TEMPORAL_BIN" "$@"
