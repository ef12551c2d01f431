import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createPool } from '../connections';
import { bookingTaskQueue } from '../contracts/booking';
import { logger } from '../logger';
import { createActivities } from './activities';
import { installTemporalRuntime } from './runtime';
import { workflowsPath } from './workflows-path';

/** Runs the workers for every pipeline's task queue until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  installTemporalRuntime('INFO');
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const db = createPool(config);
  const activities = createActivities({ db });
  const taskQueues = [bookingTaskQueue];
  const workers = await Promise.all(
    taskQueues.map((taskQueue) =>
      Worker.create({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue,
        workflowsPath,
        activities,
      }),
    ),
  );
  logger.info({ taskQueues, temporal: config.TEMPORAL_ADDRESS }, 'Workers started');
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await db.end();
    await connection.close();
  }
}

main().catch((err) => {
  logger.fatal({ err }, 'Worker failed');
  process.exit(1);
});
