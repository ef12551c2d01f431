#!/usr/bin/env bash
# `npm run lint`: eslint over the TypeScript (eslint.config.mjs), shellcheck over every shell script.
# Installs shellcheck from Debian the first time, as the stack installs its servers.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/stack/lib.sh
source scripts/stack/lib.sh
STACK_COMPONENT=lint

ensure_shellcheck() {
  command -v shellcheck >/dev/null && return 0
  ensure_dirs
  STACK_RUN_TMP=$(mktemp -d)
  trap 'rm -rf "$STACK_RUN_TMP"' EXIT
  apt_install shellcheck
}

# Tracked and new files that are *.sh or start with a shell shebang (.ci/run has no extension).
shell_scripts() {
  local file first
  while IFS= read -r -d '' file; do
    [ -f "$file" ] || continue
    if [[ $file == *.sh ]]; then
      printf '%s\n' "$file"
      continue
    fi
    IFS= read -r first <"$file" || true
    if [[ $first =~ ^#!.*[/\ ](ba)?sh$ ]]; then printf '%s\n' "$file"; fi
  done < <(git ls-files -z --cached --others --exclude-standard)
}

status=0
log "eslint"
npx eslint . || status=1

ensure_shellcheck
mapfile -t scripts < <(shell_scripts)
log "shellcheck (${#scripts[@]} scripts)"
# -x follows `source` lines, so the stack's component files are checked as stack.sh uses them.
shellcheck -x "${scripts[@]}" || status=1

exit "$status"
