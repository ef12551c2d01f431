#!/usr/bin/env bash
# `npm run build`: src/ compiled to dist/ (tsconfig.build.json). Skipped when nothing it reads
# changed since the last build: even an incremental tsc spends seconds of CPU finding that out.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=dist/.tsbuildinfo
if [ -f "$stamp" ] && [ -z "$(find src tsconfig.json tsconfig.build.json package-lock.json -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
echo "==> compiling src/ to dist/"
npx tsc -p tsconfig.build.json
# tsc leaves its build info alone when the output did not change: the stamp says when we last checked.
touch "$stamp"
