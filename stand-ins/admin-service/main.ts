import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { logger } from '../../src/logger';
import { createAdminService, demoTrainers, ensureAdminSchema, upsertTrainer } from './server';

/** Runs the stand-in admin service on ADMIN_SERVICE_PORT (started by `scripts/stack.sh up`, or docker-compose). */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPool(config);
  await ensureAdminSchema(db);
  for (const trainer of demoTrainers) await upsertTrainer(db, trainer);
  const service = createAdminService(db);
  // Listens where its clients are told to find it: 127.0.0.1 locally, the service name in docker-compose.
  const url = await service.listen(config.ADMIN_SERVICE_PORT, new URL(config.ADMIN_SERVICE_URL).hostname);
  logger.info({ url }, 'Admin service listening');

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping admin service');
    await service.close();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  logger.fatal({ err }, 'Admin service failed to start');
  process.exit(1);
});
