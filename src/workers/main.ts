import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { dataConverterWith } from '../codec/data-converter';
import { processKeyRing } from '../codec/process-key-ring';
import { loadConfig } from '../config';
import { temporalConnectionOptions } from '../connection-options';
import { createPool, createProducer, createRedis, emittingKafka } from '../connections';
import { logger } from '../logger';
import { startOpsServer } from '../ops-server';
import { installTracing, shutdownTracing } from '../opentelemetry';
import { pipelines } from '../pipelines';
import { installTemporalRuntime } from './runtime';
import { countingRunsNeedingAttention } from './runs-needing-attention';
import { pipelineDataConverter, pipelinePoolSize, pipelineWorkerOptions } from './pipeline-workers';

/** Runs one worker per pipeline, each with only its own workflows and activities, until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  installTemporalRuntime('INFO', config.WORKER_METRICS_PORT ? `${config.OPS_HOST}:${config.WORKER_METRICS_PORT}` : undefined);
  // Before the workers are built: their options take the sink for the workflows' spans.
  installTracing(config);
  // Read first: without its key ring a worker could not read a single payload. Read again on SIGHUP.
  const ring = processKeyRing(config.PAYLOAD_KEY_RING_FILE);
  // Kafka, PostgreSQL and Redis are connected at first use: a worker starts, and runs every
  // pipeline's timers and signals, while one of them is down. Built before Temporal's connection,
  // so a refused plaintext connection (src/connection-options.ts) stops the worker before it connects anywhere.
  const producer = createProducer(emittingKafka(config, `${config.KAFKA_CLIENT_ID}-worker`));
  const redis = createRedis(config);
  // A pool per pipeline: one pipeline's steps stuck behind a lock cannot take another's connections.
  const pools = pipelines.map(() => createPool(config, { max: pipelinePoolSize(config) }));
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  // On the workers' own connection: it flags the runs they cannot decode.
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterWith(ring, { strict: config.PAYLOAD_ENCRYPTION_STRICT }) });

  const workers = await Promise.all(
    pipelines.map((pipeline, i) =>
      Worker.create({
        connection,
        ...pipelineWorkerOptions(config, pipeline, { config, db: pools[i]!, producer, redis }, pipelineDataConverter(config, pipeline, ring, client)),
      }),
    ),
  );
  const deployment = config.WORKER_DEPLOYMENT_NAME ? `${config.WORKER_DEPLOYMENT_NAME}.${config.WORKER_BUILD_ID}` : 'unversioned';
  logger.info({ taskQueues: pipelines.map((p) => p.taskQueue), temporal: config.TEMPORAL_ADDRESS, deployment }, 'Workers started');
  // Beside the SDK's own series (WORKER_METRICS_PORT): what the runs say of themselves.
  const metrics = new Registry();
  const stopCounting = config.OPS_PORT
    ? countingRunsNeedingAttention(metrics, client, pipelines, config.RUNS_NEEDING_ATTENTION_COUNT_EVERY_MS)
    : () => undefined;
  // Ready: Temporal answers and every pipeline's worker is polling its task queue.
  const ops =
    config.OPS_PORT &&
    (await startOpsServer(config.OPS_PORT, [
      { name: 'temporal', check: async () => void (await connection.workflowService.getSystemInfo({})) },
      ...workers.map((worker, i) => ({
        name: `worker:${pipelines[i]!.taskQueue}`,
        check: () => (worker.getState() === 'RUNNING' ? undefined : `the worker is ${worker.getState()}`),
      })),
    ], config.OPS_HOST, metrics));
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    stopCounting();
    if (ops) ops.close();
    await producer.disconnect();
    redis.disconnect();
    await Promise.all(pools.map((pool) => pool.end()));
    await connection.close();
    await shutdownTracing();
  }
}

main().catch((err) => {
  logger.fatal({ err }, 'Worker failed');
  process.exit(1);
});
