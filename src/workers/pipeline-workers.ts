import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { WorkerOptions } from '@temporalio/worker';
import { dataConverterWith } from '../codec/data-converter';
import { tracingEnabled } from '../opentelemetry';
import type { KeyRing } from '../codec/key-ring';
import type { Config } from '../config';
import type { Infrastructure, Pipeline } from '../pipelines';
import { reportingUndecodableRuns, undecodableRunFlagger, undecodableRunReporter } from './undecodable-runs';
import { prebuiltBundle } from './workflow-bundles';
import { workerTracing, workflowCodeOf } from './workflows-path';

/**
 * A pipeline's PostgreSQL pool: one connection per activity slot, local or not, so no activity
 * waits for a connection past its own timeout (200 slots once shared 10 connections). The
 * connection budget this sets is in the README ("PostgreSQL connections").
 */
export const pipelinePoolSize = (config: Config): number => 2 * config.WORKER_ACTIVITY_SLOTS;

/**
 * A pipeline's worker: its task queue, only its workflows and activities, bounded slots, a grace
 * time to stop, and the data converter that encrypts its payloads (src/codec).
 */
export function pipelineWorkerOptions(
  config: Config,
  pipeline: Pipeline,
  infrastructure: Infrastructure,
  dataConverter: DataConverter,
): Omit<WorkerOptions, 'connection'> {
  const workflowCode = config.WORKFLOW_BUNDLE_DIR
    ? // The workflow interceptors are in the bundle already.
      { workflowBundle: prebuiltBundle(config.WORKFLOW_BUNDLE_DIR, pipeline, tracingEnabled()), ...workerTracing() }
    : workflowCodeOf(pipeline.workflowsPath);
  return {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: pipeline.taskQueue,
    ...workflowCode,
    activities: pipeline.createActivities(infrastructure),
    dataConverter,
    maxConcurrentActivityTaskExecutions: config.WORKER_ACTIVITY_SLOTS,
    maxConcurrentLocalActivityExecutions: config.WORKER_ACTIVITY_SLOTS,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    // A workflow task needs its run in the cache: the SDK would cap them at the cache size anyway, with a warning.
    maxConcurrentWorkflowTaskExecutions: Math.min(config.WORKER_MAX_CACHED_WORKFLOWS, 40),
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_MS,
    ...workerDeployment(config),
  };
}

/**
 * With WORKER_DEPLOYMENT_NAME, the worker is version WORKER_BUILD_ID of that Worker Deployment and
 * takes only that version's runs (docs/production/deploys.md); every pipeline's worker in a process
 * is the same version, so one `set-current-version` moves all their task queues at once.
 */
export function workerDeployment(config: Config): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  if (!config.WORKER_DEPLOYMENT_NAME) return {};
  return {
    workerDeploymentOptions: {
      version: { deploymentName: config.WORKER_DEPLOYMENT_NAME, buildId: config.WORKER_BUILD_ID },
      useWorkerVersioning: true,
      defaultVersioningBehavior: config.WORKER_VERSIONING_BEHAVIOR,
    },
  };
}

/**
 * A pipeline's worker's data converter: `ring`'s (strict as configured), and a run whose workflow task it cannot decode is
 * logged and flagged on the pipeline's task queue, through `client` (src/workers/undecodable-runs.ts).
 */
export function pipelineDataConverter(config: Config, pipeline: Pipeline, ring: KeyRing, client: Client): DataConverter {
  const flag = undecodableRunFlagger(client, pipeline.taskQueue, config.UNDECODABLE_RUN_CHECK_EVERY_MS);
  return reportingUndecodableRuns(dataConverterWith(ring, { strict: config.PAYLOAD_ENCRYPTION_STRICT }), undecodableRunReporter(flag));
}
