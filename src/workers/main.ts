import { NativeConnection, Worker } from '@temporalio/worker';
import { dataConverterFor } from '../codec/data-converter';
import { loadConfig } from '../config';
import { createKafka, createPool, createProducer, createRedis } from '../connections';
import { logger } from '../logger';
import { pipelines, type Infrastructure } from '../pipelines';
import { installTemporalRuntime } from './runtime';
import { pipelineWorkerOptions, workerPoolSize } from './pipeline-workers';

/** Runs one worker per pipeline, each with only its own workflows and activities, until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  installTemporalRuntime('INFO');
  // Read first: without its key ring a worker could not read a single payload.
  const dataConverter = dataConverterFor(config);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const producer = createProducer(createKafka(config, `${config.KAFKA_CLIENT_ID}-worker`));
  await producer.connect();
  const db = createPool(config, workerPoolSize(config, pipelines));
  const infrastructure: Infrastructure = { config, db, producer, redis: createRedis(config) };

  const workers = await Promise.all(
    pipelines.map((pipeline) => Worker.create({ connection, ...pipelineWorkerOptions(config, pipeline, infrastructure, dataConverter) })),
  );
  logger.info({ taskQueues: pipelines.map((p) => p.taskQueue), temporal: config.TEMPORAL_ADDRESS }, 'Workers started');
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await producer.disconnect();
    infrastructure.redis.disconnect();
    await infrastructure.db.end();
    await connection.close();
  }
}

main().catch((err) => {
  logger.fatal({ err }, 'Worker failed');
  process.exit(1);
});
