import { dataConverterFor } from '../codec/data-converter';
import { loadConfig } from '../config';
import { createPool } from '../connections';
import { logger } from '../logger';
import { createPaymentApi } from './server';

/**
 * Runs the payment API on PAYMENT_API_PORT (started by `scripts/stack.sh up`, or docker-compose).
 * It writes the ledger and nothing else: the bridges process starts the accepted payments' runs.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPool(config);
  const app = createPaymentApi({ db, dataConverter: dataConverterFor(config), maxWaitingStarts: config.PAYMENT_API_MAX_WAITING_STARTS });
  // Listens where its clients are told to find it: 127.0.0.1 locally, the service name in docker-compose.
  const url = await app.listen({ port: config.PAYMENT_API_PORT, host: new URL(config.PAYMENT_API_URL).hostname });
  logger.info({ url }, 'Payment API listening');

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping the payment API');
    await app.close();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  logger.fatal({ err }, 'Payment API failed to start');
  process.exit(1);
});
