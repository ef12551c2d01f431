import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The stack's start-up check asks "is the process in the pid file still ours?" by its
// command line. Asked before the child has exec'd, it read "exited" (a CI run's Kafka
// "exited during start-up" with nothing new in its log looked like this), so spawn_daemon
// returns only once it has.
describe('spawn_daemon', () => {
  it('returns only when the pid file names a process running the command', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spawn-daemon-'));
    const script = `
      source scripts/stack/lib.sh
      # A busy machine widens the window between fork and exec, as on CI.
      yes >/dev/null & yes >/dev/null &
      trap 'kill $(jobs -p) 2>/dev/null' EXIT
      misread=0
      for i in $(seq 1 100); do
        spawn_daemon "$DIR/pid" /dev/null sleep 3 "0.000$i"
        pid_from_file "$DIR/pid" "sleep 3 0.000$i" >/dev/null || misread=$((misread + 1))
      done
      echo "$misread"`;
    const misread = execFileSync('bash', ['-c', script], {
      env: { ...process.env, DIR: dir, STACK_STATE_DIR: dir },
      encoding: 'utf8',
    });
    expect(misread.trim()).toBe('0');
  });
});
