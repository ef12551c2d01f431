/**
 * Records fresh workflow histories from real runs on the local stack into test/histories/, for the
 * replay tests. Run after a workflow change is released: `npm run record-histories`.
 * Existing files are kept (they are the old versions that must still replay); a file is written
 * only when its name is new, so bump HISTORY_VERSION when recording after a change.
 * HISTORY_SCENARIOS=<prefix> (a scenario name prefix, comma-separated for several; a scenario's
 * name starts with its workflow's) records only the scenarios of the workflow that changed, so the
 * others get no file of a version they never had.
 * HISTORY_DIR=/tmp/h writes there instead (to try a scenario without touching test/histories).
 * The scenarios are each pipeline's (the module its descriptor's `historiesPath` names, src/pipelines).
 *
 * Recorded WITHOUT the payload codec (src/codec), on purpose: its client and workers store their
 * test data in clear text, so the committed histories replay on any machine whatever its key ring
 * (a history written through the codec would need this machine's keys, and `fetchHistory()` and the
 * CLI return payloads as stored). The codec passes unencrypted payloads through, so the workers,
 * which do encrypt, replay these histories as they are. Nothing here is personal data.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
// eslint-disable-next-line no-restricted-imports -- no public export writes the JSON that historyFromJSON reads back
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { temporalConnectionOptions } from '../src/connection-options';
import { createKafka, createPool, createProducer, createRedis, createTemporalClient } from '../src/connections';
import { attentionQuery, pipelineStatusKey } from '../src/contracts/pipeline';
import { pipelines, type Pipeline } from '../src/pipelines';
import type { PipelineHistories, StackRecordingContext, StackScenarios, TestServerScenarios } from '../test/histories/scenarios/scenarios';
import { traceClientInterceptors, withTrace } from '../src/trace-node';
import { installTemporalRuntime } from '../src/workers/runtime';
import { workflowCodeOf } from '../src/workers/workflows-path';
import { temporalCliRaw } from '../test/support/temporal-cli';
import { createTimeSkippingEnv } from '../test/support/time-skipping';

const HISTORY_VERSION = process.env.HISTORY_VERSION ?? 'v1';
const scenarioPrefixes = process.env.HISTORY_SCENARIOS?.split(',').map((p) => p.trim()).filter(Boolean);
/** The scenarios to record: all, or those HISTORY_SCENARIOS names. */
const selected = <T>(scenarios: Record<string, T>): Array<[string, T]> =>
  Object.entries(scenarios).filter(([name]) => !scenarioPrefixes || scenarioPrefixes.some((p) => name.startsWith(p)));
const historiesDir = path.resolve(process.env.HISTORY_DIR ?? path.join(__dirname, '..', 'test', 'histories'));
const fileOf = (scenario: string) => path.join(historiesDir, `${scenario}-${HISTORY_VERSION}.json`);

/** The selected scenarios whose file does not exist yet; says which it keeps. */
function toRecord<T>(scenarios: Record<string, T>): Array<[string, T]> {
  return selected(scenarios).filter(([name]) => {
    if (!existsSync(fileOf(name))) return true;
    console.log(`kept     ${path.relative(process.cwd(), fileOf(name))}`);
    return false;
  });
}

async function main(): Promise<void> {
  installTemporalRuntime();
  const config = loadConfig();
  const db = createPool(config);
  // No payload codec: see the top of this file.
  const client = await createTemporalClient(config, {});
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const producer = createProducer(createKafka(config, `record-${randomUUID().slice(0, 8)}`));
  await producer.connect();
  const redis = createRedis(config);
  await mkdir(historiesDir, { recursive: true });

  for (const pipeline of pipelines) {
    const run = randomUUID().slice(0, 8);
    const recording: StackRecordingContext = {
      config,
      db,
      producer,
      redis,
      client,
      run,
      taskQueue: `record-${run}`,
      trace: { correlationId: `record-${run}`, baggage: 'recorded=true' },
      waitUntilParked: async (workflowId) => {
        const h = client.workflow.getHandle(workflowId);
        for (;;) {
          const { status, typedSearchAttributes } = await h.describe();
          if (typedSearchAttributes.get(pipelineStatusKey) === 'NeedsAttention') return h.query(attentionQuery);
          // A run that closed without parking took another path than its scenario's: fail, not wait forever.
          if (status.name !== 'RUNNING') throw new Error(`${workflowId} ended ${status.name} without waiting for an operator`);
          await new Promise((r) => setTimeout(r, 500));
        }
      },
    };
    const { histories }: { histories: PipelineHistories } = await import(pipeline.historiesPath);
    await recordOnStack(pipeline, recording, await histories.onStack(recording));
    if (histories.onTestServer) await recordOnTestServer(pipeline, histories.onTestServer());
  }
  await producer.disconnect();
  redis.disconnect();
  await connection.close();
  await client.connection.close();
  await db.end();

  async function recordOnStack(pipeline: Pipeline, recording: StackRecordingContext, stack: StackScenarios) {
    try {
      const scenarios = toRecord(stack.scenarios);
      if (scenarios.length === 0) return;
      // No dataConverter, like the client above: the histories must hold clear text.
      const worker = await Worker.create({ connection, taskQueue: recording.taskQueue, ...workflowCodeOf(pipeline.workflowsPath), activities: stack.activities });
      await worker.runUntil(async () => {
        for (const [name, scenario] of scenarios) {
          // Starts and signals carry the trace as a header, as the bridge's do.
          const workflowId = await withTrace(recording.trace, scenario);
          // The CLI's JSON is the format Temporal documents for replay (and the Web UI downloads).
          await writeFile(fileOf(name), await temporalCliRaw('workflow', 'show', '--workflow-id', workflowId, '--output', 'json'));
          console.log(`recorded ${path.relative(process.cwd(), fileOf(name))}`);
        }
      });
    } finally {
      await stack.close?.();
    }
  }
}

/**
 * Histories that take days of workflow time (timers of hours and days, continue-as-new, an outage
 * retried by itself) are recorded on the time-skipping test server, with in-memory activities.
 */
async function recordOnTestServer(pipeline: Pipeline, { activities, scenarios }: TestServerScenarios): Promise<void> {
  const trace = { correlationId: 'record-test-server', baggage: 'recorded=true' };
  for (const [name, scenario] of toRecord(scenarios)) {
    // A fresh test server per scenario: one that has seen a run terminated can leave its clock
    // locked, and the next scenario would wait out its timers in real time.
    const env = await createTimeSkippingEnv();
    // Without the codec, as above (createTimeSkippingEnv's own client encrypts; only its sleep is used).
    const client = new Client({ connection: env.connection, interceptors: traceClientInterceptors });
    try {
      const taskQueue = `record-test-server-${randomUUID()}`;
      const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, ...workflowCodeOf(pipeline.workflowsPath), activities });
      await worker.runUntil(async () => {
        const { workflowId, runId, done } = await withTrace(trace, () => scenario({ client, env, taskQueue, trace }));
        await writeFile(fileOf(name), historyToJSON(await client.workflow.getHandle(workflowId, runId).fetchHistory()));
        await done();
      });
    } finally {
      await env.teardown();
    }
    console.log(`recorded ${path.relative(process.cwd(), fileOf(name))}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
