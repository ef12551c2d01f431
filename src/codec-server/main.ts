import { readFileSync } from 'node:fs';
import { processKeyRing } from '../codec/process-key-ring';
import { loadConfig } from '../config';
import { logger } from '../logger';
import { createCodecServer } from './server';

/** Runs the codec server on CODEC_SERVER_PORT (started by `scripts/stack.sh up`, or docker-compose). */
async function main(): Promise<void> {
  const config = loadConfig();
  // Read again on SIGHUP, like the workers' and bridges' rings.
  const ring = processKeyRing(config.PAYLOAD_KEY_RING_FILE);
  const token = readToken(config.CODEC_SERVER_TOKEN_FILE);
  const uiOrigin = new URL(config.TEMPORAL_UI_URL).origin;
  const service = createCodecServer({ ring, token, uiOrigin });
  // Listens where its clients are told to find it: 127.0.0.1 locally, the service name in docker-compose.
  const url = await service.listen(config.CODEC_SERVER_PORT, new URL(config.CODEC_SERVER_URL).hostname);
  // Key IDs only: neither keys nor the token are ever logged.
  logger.info({ url, uiOrigin, keyIds: [...ring.keys.keys()], currentKeyId: ring.currentKeyId }, 'Codec server listening');

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping codec server');
    await service.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch {
    throw new Error(`No codec server token at ${file}: \`npm run stack\` writes one; elsewhere set CODEC_SERVER_TOKEN_FILE`);
  }
  // A short token could be guessed by anyone who can reach the port.
  if (token.length < 32) throw new Error(`The codec server token in ${file} is shorter than 32 characters`);
  return token;
}

main().catch((err) => {
  logger.fatal({ err }, 'Codec server failed to start');
  process.exit(1);
});
