#!/usr/bin/env bash
# `npm test`: everything the tests need, from a fresh machine, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
bash scripts/stack.sh up   # includes the time-skipping test server
npx tsc --noEmit
exec npx vitest run "$@"
