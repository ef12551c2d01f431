import type { Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { pipelines, type Infrastructure } from '../../src/pipelines';
import { pipelineWorkerOptions, workerPoolSize } from '../../src/workers/pipeline-workers';

describe("the pipelines' workers", () => {
  const config = loadConfig({ WORKER_ACTIVITY_SLOTS: '7', WORKER_SHUTDOWN_GRACE_MS: '12000' });
  // Activities are only built, never run, here.
  const infrastructure = { config, db: {} as Pool, producer: {}, redis: {} } as Infrastructure;
  const options = pipelines.map((p) => pipelineWorkerOptions(config, p, infrastructure));

  it('never run more activities at once than the PostgreSQL pool has connections', () => {
    const slots = options.map((o) => o.maxConcurrentActivityTaskExecutions);
    expect(slots).toEqual(pipelines.map(() => 7));
    expect(slots.reduce((a, b) => a! + b!, 0)).toBeLessThanOrEqual(workerPoolSize(config, pipelines));
  });

  it('let running activities finish for a grace time when stopped', () => {
    expect(options.map((o) => o.shutdownGraceTime)).toEqual(pipelines.map(() => 12_000));
  });

  it("each poll their own pipeline's task queue with only its workflows", () => {
    expect(options.map((o) => [o.taskQueue, o.workflowsPath])).toEqual(pipelines.map((p) => [p.taskQueue, p.workflowsPath]));
  });
});
