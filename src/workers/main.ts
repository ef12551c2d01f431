import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createKafka, createPool, createProducer, createRedis } from '../connections';
import { bookingTaskQueue } from '../contracts/booking';
import { purchaseTaskQueue } from '../contracts/purchase';
import { logger } from '../logger';
import { createActivities } from './activities';
import { installTemporalRuntime } from './runtime';
import { workflowCode } from './workflows-path';

/** Runs the workers for every pipeline's task queue until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  installTemporalRuntime('INFO');
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const db = createPool(config);
  const producer = createProducer(createKafka(config, `${config.KAFKA_CLIENT_ID}-worker`));
  await producer.connect();
  const redis = createRedis(config);
  const activities = createActivities({
    db,
    purchases: { producer, redis, adminService: { url: config.ADMIN_SERVICE_URL } },
  });
  const taskQueues = [bookingTaskQueue, purchaseTaskQueue];
  const workers = await Promise.all(
    taskQueues.map((taskQueue) =>
      Worker.create({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue,
        ...workflowCode,
        activities,
      }),
    ),
  );
  logger.info({ taskQueues, temporal: config.TEMPORAL_ADDRESS }, 'Workers started');
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await producer.disconnect();
    redis.disconnect();
    await db.end();
    await connection.close();
  }
}

main().catch((err) => {
  logger.fatal({ err }, 'Worker failed');
  process.exit(1);
});
