#!/usr/bin/env bash
# The stand-in admin service (stand-ins/admin-service) that trainer allocation calls over HTTP.
# Usage: bash scripts/stack/admin-service.sh up|down|status
# `scripts/stack.sh up` runs `up` after PostgreSQL is healthy; it needs node_modules
# (scripts/ensure-node-modules.sh, which `npm test` and `npm start` run first).
set -euo pipefail

STACK_COMPONENT=admin-service
# shellcheck source=scripts/stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=scripts/stack/postgres.sh
source "$STACK_LIB_DIR/postgres.sh"
# shellcheck source=scripts/stack/node-service.sh
source "$STACK_LIB_DIR/node-service.sh"

ADMIN_SERVICE_PORT="${ADMIN_SERVICE_PORT:-3010}"
node_service "${1:-}" admin-service stand-ins/admin-service/main.ts "admin-service:$ADMIN_SERVICE_PORT" -- \
  ADMIN_SERVICE_PORT="$ADMIN_SERVICE_PORT" ADMIN_SERVICE_URL="http://$STACK_HOST:$ADMIN_SERVICE_PORT" DATABASE_URL="$(postgres_url)"
