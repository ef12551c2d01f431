import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config';
import { pinnedVersion, stackCacheDir } from './stack-cache';

const run = promisify(execFile);

/** The pinned `temporal` CLI that scripts/stack/temporal.sh installed (same cache path). */
export const temporalCliPath =
  process.env.TEMPORAL_CLI_PATH ?? path.join(stackCacheDir, `temporal-cli-${pinnedVersion('temporal-cli')}`, 'temporal');

/**
 * Runs the real CLI against the local dev server, as an operator would with `npm run temporal`
 * (scripts/temporal.sh): payloads decoded through the stack's codec server as its development operator.
 */
export async function temporalCli(...args: string[]): Promise<string> {
  const config = loadConfig();
  const codec: Record<string, string> = existsSync(config.CODEC_OPERATOR_CREDENTIAL_FILE)
    ? {
        TEMPORAL_CODEC_ENDPOINT: config.CODEC_SERVER_URL,
        TEMPORAL_CODEC_AUTH: `Bearer ${readFileSync(config.CODEC_OPERATOR_CREDENTIAL_FILE, 'utf8').trim()}`,
      }
    : {};
  return cli(args, codec);
}

/** The CLI without the codec server: payloads as Temporal stores them (what anyone without a codec credential sees). */
export async function temporalCliRaw(...args: string[]): Promise<string> {
  return cli(args, {});
}

async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const { TEMPORAL_CODEC_ENDPOINT: _e, TEMPORAL_CODEC_AUTH: _a, ...inherited } = process.env;
  const { stdout } = await run(temporalCliPath, [...args, '--address', loadConfig().TEMPORAL_ADDRESS, '--color', 'never'], {
    timeout: 30_000,
    env: { ...inherited, ...env },
  });
  return stdout;
}
