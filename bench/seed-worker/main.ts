/**
 * The seed-style baseline for `npm run bench`: the legacy workers of seeds 001, 003 and 004 in one
 * process (they were separate services; one process keeps the comparison with the project's one
 * worker and one bridge process simple). Reads the same config as the project; the benchmark
 * points DATABASE_URL at a database of its own, so its rows never mix with the project's.
 */
import type { Consumer } from 'kafkajs';
import { loadConfig } from '../../src/config';
import { createKafka, createPool, createProducer, createRedis } from '../../src/connections';
import { logger } from '../../src/logger';
import { bookingWorker } from './booking';
import { runWorker, type SeedWorker } from './framework';
import { cacheInvalidationWorker, purchaseCreationWorker, sessionSchedulingWorker, trainerAllocationWorker } from './purchase';

async function main(): Promise<void> {
  const config = loadConfig();
  const kafka = createKafka(config, 'seed-worker');
  const producer = createProducer(kafka);
  await producer.connect();
  // As many connections as partitions handled at once (6 booking, 3 for each purchase worker).
  const db = createPool(config, { max: 20 });
  const redis = createRedis(config);

  const workers: SeedWorker[] = [
    bookingWorker(db),
    purchaseCreationWorker(db, producer),
    trainerAllocationWorker(db, producer, config.ADMIN_SERVICE_URL),
    sessionSchedulingWorker(db),
    cacheInvalidationWorker(redis),
  ];
  const consumers: Consumer[] = await Promise.all(workers.map((w) => runWorker(kafka, producer, w)));
  logger.info({ groups: workers.map((w) => w.group) }, 'Seed-style workers started');

  const stop = async () => {
    await Promise.all(consumers.map((c) => c.disconnect()));
    await producer.disconnect();
    redis.disconnect();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  logger.fatal({ err }, 'Seed-style worker failed');
  process.exit(1);
});
