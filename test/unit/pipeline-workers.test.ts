import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing } from '../../src/codec/key-ring';
import { loadConfig } from '../../src/config';
import { pipelines, type Infrastructure } from '../../src/pipelines';
import { pipelinePoolSize, pipelineWorkerOptions } from '../../src/workers/pipeline-workers';
import { activityInterceptors } from '../../src/workers/workflows-path';

describe("the pipelines' workers", () => {
  const config = loadConfig({ WORKER_ACTIVITY_SLOTS: '7', WORKER_SHUTDOWN_GRACE_MS: '12000', WORKER_MAX_CACHED_WORKFLOWS: '123' });
  // Activities are only built, never run, here.
  const infrastructure = { config, db: {} as Pool, producer: {}, redis: {} } as Infrastructure;
  const dataConverter = dataConverterWith(newKeyRing());
  const options = pipelines.map((p) => pipelineWorkerOptions(config, p, infrastructure, dataConverter));

  it("never run more activities at once than their pipeline's PostgreSQL pool has connections", () => {
    const slots = options.flatMap((o) => [o.maxConcurrentActivityTaskExecutions, o.maxConcurrentLocalActivityExecutions]);
    expect(slots).toEqual(pipelines.flatMap(() => [7, 7]));
    for (const o of options) {
      expect(o.maxConcurrentActivityTaskExecutions! + o.maxConcurrentLocalActivityExecutions!).toBeLessThanOrEqual(pipelinePoolSize(config));
    }
  });

  it('keep a bounded number of workflows in memory, however many are open', () => {
    expect(options.map((o) => o.maxCachedWorkflows)).toEqual(pipelines.map(() => 123));
    const small = pipelineWorkerOptions({ ...config, WORKER_MAX_CACHED_WORKFLOWS: 5 }, pipelines[0]!, infrastructure, dataConverter);
    expect(small.maxConcurrentWorkflowTaskExecutions).toBe(5);
  });

  it('encrypt their payloads and failures with the data converter they are given', () => {
    for (const o of options) expect(o.dataConverter).toBe(dataConverter);
  });

  it('let running activities finish for a grace time when stopped', () => {
    expect(options.map((o) => o.shutdownGraceTime)).toEqual(pipelines.map(() => 12_000));
  });

  it("each poll their own pipeline's task queue with only its workflows", () => {
    expect(options.map((o) => [o.taskQueue, o.workflowsPath])).toEqual(pipelines.map((p) => [p.taskQueue, p.workflowsPath]));
  });

  it('load the prebuilt bundles when given their directory, and say so when one is missing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bundles-'));
    const withBundles = { ...config, WORKFLOW_BUNDLE_DIR: dir };
    expect(() => pipelineWorkerOptions(withBundles, pipelines[0]!, infrastructure, dataConverter)).toThrow(/npm run build:workflows/);
    for (const p of pipelines) writeFileSync(path.join(dir, `${p.name}.js`), '');
    for (const p of pipelines) {
      const o = pipelineWorkerOptions(withBundles, p, infrastructure, dataConverter);
      expect(o).toMatchObject({ workflowBundle: { codePath: path.join(dir, `${p.name}.js`) }, interceptors: { activity: activityInterceptors } });
      // The bundle's OpenTelemetry workflow interceptors end their spans into this sink.
      expect(o.sinks).toHaveProperty('exporter.export.fn');
      expect(o.workflowsPath).toBeUndefined();
    }
  });

  it('are unversioned unless given a Worker Deployment, and then all one version of it: WORKER_BUILD_ID (package.json\'s version by default), auto-upgrading unless pinned', () => {
    expect(options.map((o) => o.workerDeploymentOptions)).toEqual(pipelines.map(() => undefined));
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const deployed = (env: NodeJS.ProcessEnv) =>
      pipelines.map((p) => pipelineWorkerOptions(loadConfig({ WORKER_DEPLOYMENT_NAME: 'pipelines', ...env }), p, infrastructure, dataConverter).workerDeploymentOptions);
    // The image's build argument is empty when none was given.
    for (const env of [{}, { WORKER_BUILD_ID: '' }]) {
      expect(deployed(env)).toEqual(
        pipelines.map(() => ({ version: { deploymentName: 'pipelines', buildId: version }, useWorkerVersioning: true, defaultVersioningBehavior: 'AUTO_UPGRADE' })),
      );
    }
    expect(deployed({ WORKER_BUILD_ID: '0.2.0-abc1234', WORKER_VERSIONING_BEHAVIOR: 'pinned' })[0]).toEqual({
      version: { deploymentName: 'pipelines', buildId: '0.2.0-abc1234' },
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'PINNED',
    });
  });
});
