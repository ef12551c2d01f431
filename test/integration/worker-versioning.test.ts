import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataConverterFor } from '../../src/codec/data-converter';
import { loadConfig } from '../../src/config';
import type { Infrastructure, Pipeline } from '../../src/pipelines';
import { pipelineWorkerOptions } from '../../src/workers/pipeline-workers';
import { codeQuery, finishSignal } from '../fixtures/deploy-probe/probe';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';
import { temporalCli } from '../support/temporal-cli';

const { VERSIONING_BEHAVIOR_AUTO_UPGRADE, VERSIONING_BEHAVIOR_PINNED } = temporal.api.enums.v1.VersioningBehavior;

/**
 * A deploy as docs/production/deploys.md describes it, on the real dev server: two builds of a
 * worker, each configured as production configures one (WORKER_DEPLOYMENT_NAME, WORKER_BUILD_ID,
 * WORKER_VERSIONING_BEHAVIOR, through pipelineWorkerOptions), switched with the operator's
 * `temporal worker deployment` commands. v2 changes the workflow's commands behind `patched()`.
 * Each test has its own deployment and task queue, and a small workflow, so no other test's runs are in it.
 */
describe('Worker Versioning: a deploy of a new build', () => {
  let stack: RealStack;
  let connection: NativeConnection;
  const workers: { worker: Worker; running: Promise<void> }[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  });

  afterAll(async () => {
    for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    await Promise.allSettled(workers.map((w) => w.running));
    await connection?.close();
    await stack?.stop();
  });

  /** A deployment of its own, for one test: its builds' workers, the operator's command, and runs. */
  function deployment(name: string, behavior: 'pinned' | 'auto-upgrade') {
    const deploymentName = `versioning-${name}-${stack.runId}`;
    const taskQueue = deploymentName;
    return {
      deploymentName,
      /** A worker of `buildId` running that build's module, built as the worker entry point builds one. */
      async startBuild(buildId: 'v1' | 'v2'): Promise<void> {
        // Bundled from the build's module, not from prebuilt bundles.
        const { WORKFLOW_BUNDLE_DIR: _, ...env } = process.env;
        const config = loadConfig({ ...env, WORKER_DEPLOYMENT_NAME: deploymentName, WORKER_BUILD_ID: buildId, WORKER_VERSIONING_BEHAVIOR: behavior });
        const pipeline = {
          taskQueue,
          workflowsPath: path.join(__dirname, '..', 'fixtures', 'deploy-probe', `${buildId}.ts`),
          createActivities: () => ({}),
        } as unknown as Pipeline;
        const worker = await Worker.create({ connection, ...pipelineWorkerOptions(config, pipeline, {} as Infrastructure, dataConverterFor(config)) });
        workers.push({ worker, running: worker.run() });
      },
      /** What an operator runs to send new runs to `buildId`; retried until that build's worker has polled (the version exists then). */
      setCurrentVersion: (buildId: string) =>
        eventually(
          () =>
            temporalCli('worker', 'deployment', 'set-current-version', '--deployment-name', deploymentName, '--build-id', buildId, '--yes').then(
              () => true,
              () => false,
            ),
          (done) => done,
          30_000,
        ),
      start: (id: string) => stack.client.workflow.start('deployProbe', { taskQueue, workflowId: `${deploymentName}-${id}`, workflowTaskTimeout: '5s' }),
    };
  }

  /**
   * v1 current with a run started on it, then the deploy: v2's workers start beside v1's, v2 becomes
   * current and takes a new run. Both runs wait for `finishSignal`.
   */
  async function deployV1ThenV2(d: ReturnType<typeof deployment>) {
    await d.startBuild('v1');
    await d.setCurrentVersion('v1');
    const old = await d.start('started-on-v1');
    expect(await old.query(codeQuery)).toBe('v1');
    await d.startBuild('v2');
    await d.setCurrentVersion('v2');
    const next = await d.start('started-on-v2');
    expect(await next.query(codeQuery)).toBe('v2');
    return { old, next };
  }

  it('pinned: a run started on v1 stays on v1 and finishes there, while v2 takes the new runs; setting v1 current again rolls back', async () => {
    const d = deployment('pinned', 'pinned');
    const { old, next } = await deployV1ThenV2(d);

    // The old run's next task (the signal) goes to v1, which finishes it with v1's code.
    await old.signal(finishSignal);
    expect(await old.result()).toBe('v1');
    expect((await old.describe()).raw.workflowExecutionInfo?.versioningInfo).toMatchObject({
      behavior: VERSIONING_BEHAVIOR_PINNED,
      deploymentVersion: { buildId: 'v1', deploymentName: d.deploymentName },
    });
    await next.signal(finishSignal);
    expect(await next.result()).toBe('v2');

    // Rolling back is the same command with the old build ID: new runs go to v1 again.
    await d.setCurrentVersion('v1');
    const afterRollback = await d.start('after-rollback');
    expect(await afterRollback.query(codeQuery)).toBe('v1');
    await afterRollback.signal(finishSignal);
    expect(await afterRollback.result()).toBe('v1');
  });

  it('auto-upgrade (the default): a run started on v1 moves to v2 at its next task and finishes there, its history replayed through the patch', async () => {
    const d = deployment('upgrade', 'auto-upgrade');
    const { old, next } = await deployV1ThenV2(d);

    // v2 replays v1's first task (no step there: `patched()` is false for it), then finishes the run.
    await old.signal(finishSignal);
    expect(await old.result()).toBe('v2');
    expect((await old.describe()).raw.workflowExecutionInfo?.versioningInfo).toMatchObject({
      behavior: VERSIONING_BEHAVIOR_AUTO_UPGRADE,
      deploymentVersion: { buildId: 'v2', deploymentName: d.deploymentName },
    });
    await next.signal(finishSignal);
    expect(await next.result()).toBe('v2');
  });
});
