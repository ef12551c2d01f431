import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The Temporal port `isolated_stack` picks for a state directory (kept, or a fresh temp one when ''). */
function temporalPortOf(dir: string, base: number): number {
  const out = execFileSync('bash', ['-c', `source scripts/isolated-stack.sh && isolated_stack t "$DIR" "$BASE" >/dev/null && echo "$TEMPORAL_PORT"`], {
    env: { ...process.env, DIR: dir, BASE: String(base) },
    encoding: 'utf8',
  });
  return Number(out.trim());
}

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });

// Chaos, bench and helpers' stacks are found again by their state directory: a second shell that
// sources isolated_stack while the stack runs (its ports now taken) must get that stack's ports.
describe('isolated_stack', () => {
  it('gives a kept state directory the ports it was first given, even once they are in use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isolated-stack-'));
    const base = 31000 + Math.floor(Math.random() * 2000);
    const first = temporalPortOf(dir, base);
    const busy = await listen(first);
    try {
      expect(temporalPortOf(dir, base)).toBe(first);
      // A directory of its own gets a block that is free now.
      expect(temporalPortOf(mkdtempSync(join(tmpdir(), 'isolated-stack-')), base)).not.toBe(first);
    } finally {
      busy.close();
    }
  });
});
