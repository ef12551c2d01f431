import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { logger } from '../../src/logger';
import { createCarrierService, ensureCarrierSchema } from './carrier';
import type { StandIn } from '../http';
import { createInsurerService, ensureInsurerSchema } from './insurer';
import { createPharmacyService, ensurePharmacySchema } from './pharmacy';

/**
 * Runs the three partner stand-ins (pharmacy network, insurer, carrier) in one process, each on its
 * own port as the real systems would be at their own addresses (started by `scripts/stack.sh up`,
 * or docker-compose).
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPool(config);
  await ensurePharmacySchema(db);
  await ensureInsurerSchema(db);
  await ensureCarrierSchema(db);
  const services: Array<[StandIn, number, string]> = [
    [createPharmacyService(db), config.PHARMACY_SERVICE_PORT, config.PHARMACY_SERVICE_URL],
    [createInsurerService(db), config.INSURER_SERVICE_PORT, config.INSURER_SERVICE_URL],
    [createCarrierService(db), config.CARRIER_SERVICE_PORT, config.CARRIER_SERVICE_URL],
  ];
  for (const [service, port, url] of services) {
    // Listens where its clients are told to find it: 127.0.0.1 locally, the service name in docker-compose.
    const listening = await service.listen(port, new URL(url).hostname);
    logger.info({ partner: service.name, url: listening }, 'Partner stand-in listening');
  }

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping partner stand-ins');
    await Promise.all(services.map(([service]) => service.close()));
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  logger.fatal({ err }, 'Partner stand-ins failed to start');
  process.exit(1);
});
