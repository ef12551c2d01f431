import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { logger } from '../../src/logger';
import { createPaymentProvider, ensurePaymentProviderSchema } from './provider';

/**
 * Runs the payment provider stand-in on PAYMENT_PROVIDER_PORT (started by `scripts/stack.sh up`, or
 * docker-compose). A process of its own rather than a fourth port of partner-services: it belongs
 * to another pipeline, and a test or chaos run can stop the card processor alone.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPool(config);
  await ensurePaymentProviderSchema(db);
  const service = createPaymentProvider(db);
  // Listens where its clients are told to find it: 127.0.0.1 locally, the service name in docker-compose.
  const url = await service.listen(config.PAYMENT_PROVIDER_PORT, new URL(config.PAYMENT_PROVIDER_URL).hostname);
  logger.info({ url }, 'Payment provider listening');

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping payment provider');
    await service.close();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  logger.fatal({ err }, 'Payment provider failed to start');
  process.exit(1);
});
