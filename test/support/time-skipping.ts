import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing } from '../../src/codec/key-ring';
import { searchAttributes } from '../../src/contracts/pipeline';
import { installTemporalRuntime } from '../../src/workers/runtime';
import { workerTracing } from '../../src/workers/workflows-path';
import { pinnedVersion, stackCacheDir } from './stack-cache';
import { workflowBundle } from './workflow-bundle';

/**
 * Time-skipping tests encrypt as production does, with a throw-away key ring of their own: the
 * workflows must behave the same when every payload and failure goes through the codec.
 */
export const testDataConverter = dataConverterWith(newKeyRing('time-skipping-test'));

const INSTALL_HINT = 'run: bash scripts/stack/test-server.sh install';

/** Path of the wrapper written by `scripts/stack/test-server.sh install` (or $TEMPORAL_TEST_SERVER_PATH). */
export function testServerPath(): string {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`TEMPORAL_TEST_SERVER_PATH=${fromEnv} does not exist; ${INSTALL_HINT}`);
    return fromEnv;
  }
  const version = pinnedVersion('test-server');
  const path = join(stackCacheDir, `temporal-test-server-${version}`, 'temporal-test-server');
  if (!existsSync(path)) {
    throw new Error(`Temporal test server ${version} is not installed (no ${path}); ${INSTALL_HINT}`);
  }
  return path;
}

// The Java test server rejects upserts of unregistered search attributes ("... is not defined"),
// and its `searchAttributes` server option exists only for the dev server.
const PIPELINE_SEARCH_ATTRIBUTES = searchAttributes;
const { IndexedValueType } = temporal.api.enums.v1;

/** Time-skipping test environment on the locally installed Java test server; never downloads. */
export async function createTimeSkippingEnv(
  searchAttributes: { name: string; type: SearchAttributeType }[] = PIPELINE_SEARCH_ATTRIBUTES,
): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
    client: { dataConverter: testDataConverter },
  });
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        searchAttributes.map((key) => [key.name, IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]]),
      ),
    });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}

/**
 * Runs `run` while a worker with `activities` polls a fresh task queue on `env`. Workflow code is
 * bundled once per file (see workflow-bundle.ts), so a worker per test costs little.
 */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  activities: object,
  run: (taskQueue: string) => Promise<T>,
  /** A queue the test already sent to while nobody polled it (so its signals arrive together). */
  taskQueue = `test-${randomUUID()}`,
): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    // The bundle holds the workflow interceptors; the activity ones and the spans' sink are worker options.
    ...workerTracing(),
    activities,
    dataConverter: testDataConverter,
  });
  return worker.runUntil(run(taskQueue));
}
