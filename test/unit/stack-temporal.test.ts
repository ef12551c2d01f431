import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The dev server runs with Temporal's search-attribute cache (scripts/stack/temporal.sh): each of
// its services refreshes it every 60 s. An attribute the stack registers on a running server would
// reach the history service only then, so temporal_wait_healthy restarts the server after
// registering one; a server that has them all is left running.
describe('the dev server and its search attributes', () => {
  const waitHealthy = (missing: string) =>
    execFileSync(
      'bash',
      [
        '-c',
        `source scripts/stack/lib.sh
         source scripts/stack/temporal.sh
         wait_for() { :; }
         temporal_missing_search_attributes() { printf '%s' "$MISSING"; }
         temporal_register_search_attributes() { echo "registered $*"; }
         temporal_stop_server() { echo stopped; }
         temporal_start() { echo started; }
         temporal_wait_healthy 2>&1`,
      ],
      { env: { ...process.env, MISSING: missing, STACK_STATE_DIR: mkdtempSync(join(tmpdir(), 'stack-temporal-')) }, encoding: 'utf8' },
    )
      .split('\n')
      .filter((line) => /^(registered|stopped|started)/.test(line));

  it('runs with the cache, not a read of the cluster metadata on every visibility write', () => {
    const config = execFileSync('bash', ['-c', 'source scripts/stack/lib.sh; source scripts/stack/temporal.sh; printf "%s\\n" "${TEMPORAL_DYNAMIC_CONFIG[@]}"'], {
      env: { ...process.env, STACK_STATE_DIR: mkdtempSync(join(tmpdir(), 'stack-temporal-')) },
      encoding: 'utf8',
    });
    expect(config.split('\n')).toContain('system.forceSearchAttributesCacheRefreshOnRead=false');
  });

  it('restarts the server after registering the attributes it lacked', () => {
    expect(waitHealthy('CorrelationId=Keyword')).toEqual(['registered CorrelationId=Keyword', 'stopped', 'started']);
  });

  it('leaves a server that has every attribute running', () => {
    expect(waitHealthy('')).toEqual([]);
  });
});
