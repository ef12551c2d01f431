import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/** Where scripts/stack/*.sh install tools; the same resolution (empty variables count as unset). */
export const stackCacheDir =
  process.env.STACK_CACHE_DIR ||
  path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'temporal-pipelines');

/** A pinned tool version, from the VERSION file the install script reads too. */
export function pinnedVersion(tool: 'temporal-cli' | 'test-server'): string {
  return readFileSync(path.resolve(__dirname, '..', '..', 'scripts', tool, 'VERSION'), 'utf8').trim();
}
