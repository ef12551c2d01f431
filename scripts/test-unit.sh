#!/usr/bin/env bash
# `npm run test:unit`: the unit, static and replay tests, which need no running stack. The unit tests
# start the time-skipping test server themselves; only its install is needed (nothing is started here).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-modules.sh
bash scripts/stack/test-server.sh install >/dev/null
# Two files at a time: each starts its own test server on its own task queues, and much of their time
# is real seconds a test server cannot skip (an activity running out its timeout).
exec npx vitest run --fileParallelism --maxWorkers=2 test/unit test/static test/replay "$@"
