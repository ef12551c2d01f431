#!/usr/bin/env bash
# `npm run check:web-ui`: checks in headless Chromium what an operator sees in the Temporal Web UI
# (scripts/check-web-ui.ts). `npm test` runs it last, after vitest; alone it takes about a minute.
# Installs what is missing (Debian's chromium; playwright-core is a devDependency and never
# downloads a browser) and starts the local stack unless it is already running.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "==> apt-get install chromium"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
bash scripts/ensure-node-modules.sh
running=$(bash scripts/stack.sh status | grep -cE "^(postgres|redis|kafka|temporal|temporal-ui|codec-server) +running " || true)
[ "$running" -eq 6 ] || bash scripts/stack.sh up
# The pipeline's own logs (the outage's failed attempts are warnings) would bury the check lines.
LOG_LEVEL=${LOG_LEVEL:-error} exec npx tsx scripts/check-web-ui.ts
