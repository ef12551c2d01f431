import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Vitest global setup. The application's JSON log lines (pino, the Temporal SDK's runtime logger,
 * processes the tests start) would bury vitest's report, so they go to one file per run, named
 * after its start; the path is printed at the end. Set LOG_FILE to choose the file yourself.
 * Runs before vitest starts its test processes, which inherit the variable (src/logger.ts reads it).
 */
export function setup(): () => void {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = (process.env.LOG_FILE ??= path.resolve('build', 'test-logs', `${stamp}.log`));
  return () => {
    if (existsSync(file)) console.log(`\nApplication logs of this run: ${file}`);
  };
}
