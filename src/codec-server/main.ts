import { processKeyRing } from '../codec/process-key-ring';
import { loadConfig } from '../config';
import { createPool } from '../connections';
import { logger } from '../logger';
import { codecServerPoolSize, createCodecServer, servedOverHttps } from './server';

/** Runs the codec server on CODEC_SERVER_PORT (started by `scripts/stack.sh up`, or docker-compose). */
async function main(): Promise<void> {
  const config = loadConfig();
  // Read again on SIGHUP, like the workers' and bridges' rings.
  const ring = processKeyRing(config.PAYLOAD_KEY_RING_FILE);
  const uiOrigin = new URL(config.TEMPORAL_UI_URL).origin;
  // Operators, sessions and the access audit live in PostgreSQL (migrations/010_codec_access.sql).
  const db = createPool(config, { max: codecServerPoolSize });
  const service = createCodecServer({
    ring,
    db,
    uiOrigin,
    sessions: { idleMs: config.CODEC_SESSION_IDLE_MINUTES * 60_000, maxAgeMs: config.CODEC_SESSION_MAX_HOURS * 3_600_000 },
    failedLogins: { maxFailures: config.CODEC_FAILED_LOGINS_MAX, windowMs: config.CODEC_FAILED_LOGINS_WINDOW_MINUTES * 60_000 },
    secureCookie: servedOverHttps(config),
  });
  // Listens where its clients are told to find it: 127.0.0.1 locally, the service name in docker-compose.
  const url = await service.listen(config.CODEC_SERVER_PORT, new URL(config.CODEC_SERVER_URL).hostname);
  // Key IDs only: neither keys nor credentials are ever logged.
  logger.info({ url, uiOrigin, keyIds: [...ring.keys.keys()], currentKeyId: ring.currentKeyId }, 'Codec server listening');

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping codec server');
    await service.close();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  logger.fatal({ err }, 'Codec server failed to start');
  process.exit(1);
});
