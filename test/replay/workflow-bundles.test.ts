import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { pipelines } from '../../src/pipelines';
import { installTemporalRuntime } from '../../src/workers/runtime';
import { bundleWorkflows } from '../../src/workers/workflow-bundles';
import { historiesDir, readHistory, workflowTypeOf } from '../support/recorded-histories';

/**
 * The bundles `npm run build:workflows` writes for the workers of `npm start` and the Docker image:
 * what they contain is evaluated again for every workflow a worker runs, and they must run the
 * recorded histories exactly as the source does.
 */
// The replay workers log through our logger, as a worker does, not to the console.
installTemporalRuntime();
const histories = readdirSync(historiesDir)
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({ workflowId: file, history: readHistory(file) }));
const typeOf = (h: (typeof histories)[number]) => workflowTypeOf(h.history);

/** The packages a workflow needs: the SDK and what the SDK itself pulls in. */
const workflowPackages = ['@temporalio/common', '@temporalio/workflow', 'long', 'ms', 'nexus-rpc'];
/** And with spans recorded: Temporal's OpenTelemetry workflow interceptors and the OpenTelemetry packages they use. */
const tracedPackages = [
  ...workflowPackages,
  '@opentelemetry/api',
  '@opentelemetry/core',
  '@opentelemetry/resources',
  '@opentelemetry/sdk-trace-base',
  '@opentelemetry/semantic-conventions',
  '@temporalio/interceptors-opentelemetry',
].sort();

describe.each(pipelines.flatMap((pipeline) => [false, true].map((traced) => ({ pipeline, name: pipeline.name, traced }))))(
  'the prebuilt workflow bundle of $name (traced: $traced)',
  ({ pipeline, traced }) => {
  const bundle = bundleWorkflows(pipeline, { traced });

  it('holds only the SDK and our own workflow code: no schema library, no source map', async () => {
    const code = await bundle;
    const packages = new Set([...code.matchAll(/^\/\*\*\*\/ "\.\/node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]));
    expect([...packages].sort()).toEqual(traced ? tracedPackages : workflowPackages);
    expect(code).toMatch(/^\/\*\*\*\/ "\.\/src\/workflows\//m);
    // Workflow errors are converted in the sandbox: without this, their messages would be stored in clear text.
    expect(code).toMatch(/^\/\*\*\*\/ "\.\/src\/codec\/failure-converter\.ts"/m);
    // It was 2.8 MB with zod and the source map; the OpenTelemetry interceptors' packages add 0.66 MB.
    expect(code.length).toBeLessThan(traced ? 1_400_000 : 700_000);
  });

  it("replays every recorded history of the pipeline's workflow types", async () => {
    const own = histories.filter((h) => pipeline.workflowTypes.includes(typeOf(h)));
    expect(own.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { code: await bundle } }, own)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
  },
);
