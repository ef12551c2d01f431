#!/usr/bin/env bash
# Installs the locked npm dependencies (and applies patches/ to them) when a clone has none yet, or
# the lock file or a patch changed since.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
  [ -n "$(find patches -newer node_modules/.package-lock.json -print -quit)" ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
