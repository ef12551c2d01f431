import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';
import type { Infrastructure, Pipeline } from '../pipelines';
import { workflowCodeOf } from './workflows-path';

/**
 * One PostgreSQL connection per activity slot of every pipeline's worker, so no activity waits
 * for a connection past its own timeout (200 slots once shared 10 connections).
 */
export const workerPoolSize = (config: Config, pipelines: Pipeline[]): number => config.WORKER_ACTIVITY_SLOTS * pipelines.length;

/** A pipeline's worker: its task queue, only its workflows and activities, bounded slots, a grace time to stop. */
export function pipelineWorkerOptions(
  config: Config,
  pipeline: Pipeline,
  infrastructure: Infrastructure,
): Omit<WorkerOptions, 'connection'> {
  return {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: pipeline.taskQueue,
    ...workflowCodeOf(pipeline.workflowsPath),
    activities: pipeline.createActivities(infrastructure),
    maxConcurrentActivityTaskExecutions: config.WORKER_ACTIVITY_SLOTS,
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_MS,
  };
}
