#!/usr/bin/env bash
# The stand-ins for prescription fulfillment's outside systems (stand-ins/partner-services): the pharmacy
# network, the insurer and the carrier, one node process serving each on its own port (the ports
# default in lib.sh, which validates them); `status` prints a line for each.
# Usage: bash scripts/stack/partner-services.sh up|down|status
# `scripts/stack.sh up` runs `up` after PostgreSQL is healthy; it needs node_modules
# (scripts/ensure-node-modules.sh, which `npm test` and `npm start` run first).
set -euo pipefail

STACK_COMPONENT=partner-services
# shellcheck source=scripts/stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=scripts/stack/postgres.sh
source "$STACK_LIB_DIR/postgres.sh"
# shellcheck source=scripts/stack/node-service.sh
source "$STACK_LIB_DIR/node-service.sh"

url() { echo "http://$STACK_HOST:$1"; }
node_service "${1:-}" partner-services stand-ins/partner-services/main.ts \
  "pharmacy:$PHARMACY_SERVICE_PORT" "insurer:$INSURER_SERVICE_PORT" "carrier:$CARRIER_SERVICE_PORT" -- \
  DATABASE_URL="$(postgres_url)" \
  PHARMACY_SERVICE_PORT="$PHARMACY_SERVICE_PORT" PHARMACY_SERVICE_URL="$(url "$PHARMACY_SERVICE_PORT")" \
  INSURER_SERVICE_PORT="$INSURER_SERVICE_PORT" INSURER_SERVICE_URL="$(url "$INSURER_SERVICE_PORT")" \
  CARRIER_SERVICE_PORT="$CARRIER_SERVICE_PORT" CARRIER_SERVICE_URL="$(url "$CARRIER_SERVICE_PORT")"
