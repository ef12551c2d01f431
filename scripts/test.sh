#!/usr/bin/env bash
# `npm test`: everything the tests need, from a fresh machine, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
# Resolved as scripts/stack/lib.sh does, so the tests read the key ring and token of the stack
# they run against (src/config.ts defaults both to its secrets/ directory).
export STACK_STATE_DIR="${STACK_STATE_DIR:-$HOME/.local/state/temporal-pipelines}"
bash scripts/stack.sh up   # includes the time-skipping test server
npx tsc --noEmit
bash scripts/lint.sh
npx vitest run "$@"
# What the README says an operator sees in the Web UI is checked in a real browser, after the
# suite, when the suite runs whole (`npm test -- <path>` runs only those tests).
[ "$#" -gt 0 ] || bash scripts/check-web-ui.sh
