import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { processKeyRing } from '../codec/process-key-ring';
import type { Config } from '../config';
import { temporalConnectionOptions } from '../connection-options';
import { createPool, createProducer, createRedis, emittingKafka } from '../connections';
import type { ReadinessCheck } from '../ops-server';
import { bridgedPipelines, type Pipeline } from '../pipelines';
import { installTemporalRuntime } from '../workers/runtime';
import { pipelineDataConverter, pipelinePoolSize, pipelineWorkerOptions } from '../workers/pipeline-workers';

/**
 * Eager workflow start (BRIDGE_EAGER_START). A start that asks for it gets the new run's first
 * workflow task back in the server's answer, and runs it on a worker of the run's task queue in
 * the same process, on the same NativeConnection. The server then skips a task queued for a
 * poll, matched and dispatched (docs/performance.md, "Eager start"). A start that finds no free
 * workflow-task slot here is queued as usual, for any worker.
 *
 * These workers are the pipeline's own, as src/workers/main.ts builds them: its workflows and
 * activities, its pool, the worker deployment version; a run they start stays cached here for its
 * next tasks, and any worker of the task queue takes it over once it is evicted.
 */
export interface EagerStartWorkers {
  workers: { taskQueue: string; worker: Worker }[];
  /** For the process's /readyz: `worker:<task queue>`, failing unless that worker is running. */
  checks: ReadinessCheck[];
  /** Ends when the workers stop; rejects if one fails. */
  run(): Promise<void>;
  /** Lets the workers finish their tasks, then closes what they use (not the connection); once, however often called. */
  shutdown(): Promise<void>;
}

/** The pipelines whose runs the bridges process starts eagerly, with BRIDGE_EAGER_START on. */
export const eagerlyStartedPipelines = (config: Config, pipelines: Pipeline[]): Pipeline[] =>
  config.BRIDGE_EAGER_START ? bridgedPipelines(pipelines).filter((p) => p.bridge.eagerStart) : [];

/** The connection the bridges' client and these workers share: a start is eager only to a worker on the client's own connection. */
export async function connectForEagerStart(config: Config): Promise<NativeConnection> {
  installTemporalRuntime('INFO');
  return NativeConnection.connect(temporalConnectionOptions(config));
}

/** Workers of `pipelines` on `connection`; `client` (on the same connection) flags the runs they cannot decode. */
export async function startEagerStartWorkers(config: Config, pipelines: Pipeline[], connection: NativeConnection, client: Client): Promise<EagerStartWorkers> {
  const ring = processKeyRing(config.PAYLOAD_KEY_RING_FILE);
  // Connected at first use, if ever: what the pipelines' steps use of them.
  const producer = createProducer(emittingKafka(config, `${config.KAFKA_CLIENT_ID}-bridge-worker`));
  const redis = createRedis(config);
  const pools = pipelines.map(() => createPool(config, { max: pipelinePoolSize(config) }));
  const workers = await Promise.all(
    pipelines.map(async (pipeline, i) => ({
      taskQueue: pipeline.taskQueue,
      worker: await Worker.create({
        connection,
        ...pipelineWorkerOptions(config, pipeline, { config, db: pools[i]!, producer, redis }, pipelineDataConverter(config, pipeline, ring, client)),
        // Each poll holds a workflow-task slot while it waits, and an eager start needs a free one:
        // with the default 10 polls, half of the 20 slots were taken and starts fell back to matching.
        // This worker's tasks come with its starts and on its sticky queue; the workers process polls the rest.
        workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: 2 },
        maxCachedWorkflows: config.BRIDGE_EAGER_START_SLOTS,
        maxConcurrentWorkflowTaskExecutions: config.BRIDGE_EAGER_START_SLOTS,
      }),
    })),
  );
  const running = Promise.all(workers.map(({ worker }) => worker.run()));
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await producer.disconnect();
    redis.disconnect();
    await Promise.all(pools.map((pool) => pool.end()));
  };
  return {
    workers,
    checks: workers.map(({ taskQueue, worker }) => ({
      name: `worker:${taskQueue}`,
      check: () => (worker.getState() === 'RUNNING' ? undefined : `the eager-start worker is ${worker.getState()}`),
    })),
    run: async () => void (await running),
    shutdown: () => (stopping ??= stop()),
  };
}
