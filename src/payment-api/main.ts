import { loadConfig } from '../config';
import { createPool, createTemporalClient } from '../connections';
import { logger } from '../logger';
import { installTracing, shutdownTracing } from '../opentelemetry';
import { PaymentRunStarter } from './run-starter';
import { createPaymentApi } from './server';
import { paymentTaskQueue } from '../contracts/payment';

/** Runs the payment API on PAYMENT_API_PORT (started by `scripts/stack.sh up`, or docker-compose). */
async function main(): Promise<void> {
  const config = loadConfig();
  installTracing(config);
  const db = createPool(config);
  const client = await createTemporalClient(config);
  const starter = new PaymentRunStarter({ db, client, taskQueue: paymentTaskQueue, maxWaiting: config.PAYMENT_API_MAX_WAITING_STARTS });
  const app = createPaymentApi({ db, client, starter });
  // Payments accepted by an API process that died before their runs started (this one's included).
  starter.startSweeping();
  // Listens where its clients are told to find it: 127.0.0.1 locally, the service name in docker-compose.
  const url = await app.listen({ port: config.PAYMENT_API_PORT, host: new URL(config.PAYMENT_API_URL).hostname });
  logger.info({ url }, 'Payment API listening');

  const stop = async (signal: string) => {
    logger.info({ signal }, 'Stopping the payment API');
    starter.stop();
    await app.close();
    await db.end();
    await client.connection.close();
    await shutdownTracing();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  logger.fatal({ err }, 'Payment API failed to start');
  process.exit(1);
});
