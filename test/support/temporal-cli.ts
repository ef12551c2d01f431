import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config';
import { pinnedVersion, stackCacheDir } from './stack-cache';

const run = promisify(execFile);

/** The pinned `temporal` CLI that scripts/stack/temporal.sh installed (same cache path). */
export const temporalCliPath =
  process.env.TEMPORAL_CLI_PATH ?? path.join(stackCacheDir, `temporal-cli-${pinnedVersion('temporal-cli')}`, 'temporal');

/** Runs the real CLI against the local dev server, as an operator would, and returns stdout. */
export async function temporalCli(...args: string[]): Promise<string> {
  const { stdout } = await run(temporalCliPath, [...args, '--address', loadConfig().TEMPORAL_ADDRESS, '--color', 'never'], {
    timeout: 30_000,
  });
  return stdout;
}
