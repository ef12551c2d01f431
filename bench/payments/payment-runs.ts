/**
 * The starter of the accepted payments' runs, as the bridges process runs it (src/bridges/main.ts)
 * but without the Kafka bridges: the seed-style system measured beside it has no consumer of its
 * events either.
 */
import { PaymentRunStarter } from '../../src/bridges/payment-runs';
import { loadConfig } from '../../src/config';
import { createPool, createTemporalClient } from '../../src/connections';

async function main(): Promise<void> {
  const config = loadConfig();
  const starter = new PaymentRunStarter({ db: createPool(config), client: await createTemporalClient(config) });
  await starter.start();
  process.once('SIGTERM', () => void starter.stop().then(() => process.exit(0)));
}

void main();
