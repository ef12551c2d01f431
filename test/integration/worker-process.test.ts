import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing } from '../../src/codec/key-ring';
import { bookingRequestedSignal, bookingStateQuery, bookingTaskQueue, bookingWorkflowId } from '../../src/contracts/booking';
import { fulfillmentStateQuery, prescriptionTaskQueue, prescriptionWorkflowId } from '../../src/contracts/prescription';
import { bookingWorkflow } from '../../src/workflows/booking';
import { undecodableRunWorkflowId } from '../../src/contracts/undecodable-run';
import { prescriptionFulfillmentWorkflow } from '../../src/workflows/prescription';
import { bookingRequested } from '../support/booking-events';
import { prescriptionRequest } from '../support/prescription-intake';
import { sample } from '../support/prometheus-text';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

const graceMs = 4_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The worker entry point as a process, on the pipelines' own task queues (no other test uses
 * them): it starts while Kafka is down, one pipeline stuck behind a table lock does not stop
 * another, and SIGTERM ends it within its grace time.
 */
describe('the worker process', () => {
  let stack: RealStack;
  let worker: ChildProcess;
  let exited: Promise<number | null>;
  let logFile: string;
  let lock: PoolClient | undefined;
  let opsPort: number;
  let sdkMetricsPort: number;
  const workflowIds: string[] = [];
  const flagTestIds: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    opsPort = await freePort();
    sdkMetricsPort = await freePort();
    logFile = path.join(mkdtempSync(path.join(tmpdir(), 'worker-process-')), 'worker.log');
    worker = spawn(process.execPath, ['--import', 'tsx', 'src/workers/main.ts'], {
      env: {
        ...process.env,
        LOG_FILE: logFile,
        LOG_LEVEL: 'info',
        // Nothing listens there: Kafka is down for this worker.
        KAFKA_BROKERS: '127.0.0.1:9',
        WORKER_SHUTDOWN_GRACE_MS: String(graceMs),
        // A flag asks every second whether its run decodes again, so it leaves within the test.
        UNDECODABLE_RUN_CHECK_EVERY_MS: '1000',
        OPS_PORT: String(opsPort),
        WORKER_METRICS_PORT: String(sdkMetricsPort),
        RUNS_NEEDING_ATTENTION_COUNT_EVERY_MS: '1000',
        // As in docker-compose.yml: a plain payload is refused.
        PAYLOAD_ENCRYPTION_STRICT: 'true',
      },
      stdio: 'ignore',
    });
    exited = new Promise((resolve) => worker.once('exit', (code) => resolve(code)));
    await eventually(
      async () => (worker.exitCode === null ? readFileSync(logFile, { flag: 'a+', encoding: 'utf8' }) : 'exited'),
      (log) => log.includes('Workers started') || log === 'exited',
      110_000,
    );
  }, 120_000);

  afterAll(async () => {
    if (worker?.exitCode === null) worker.kill('SIGKILL');
    await lock?.query('ROLLBACK').catch(() => undefined);
    lock?.release();
    await Promise.all([...workflowIds, ...flagTestIds].map((id) => stack.client.workflow.getHandle(id).terminate('test over').catch(() => undefined)));
    await stack?.stop();
  });

  it('starts while Kafka is down', () => {
    expect(worker.exitCode).toBeNull();
    expect(readFileSync(logFile, 'utf8')).toContain('Workers started');
  });

  it('serves /livez, and /readyz once Temporal answers and every pipeline\'s worker polls', async () => {
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${opsPort}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await get('/livez')).toEqual({ status: 200, body: { live: true } });
    expect(await eventually(() => get('/readyz'), (r) => r.status === 200, 30_000)).toEqual({ status: 200, body: { ready: true, failing: {} } });
  });

  it('flags a booking it cannot decode where operators look, logs the key it lacks, and drops the flag once the run is closed', async () => {
    const id = stack.runId;
    const foreignKey = `k-foreign-${id}`;
    const stranger = await connectRealStack({ dataConverter: dataConverterWith(newKeyRing(foreignKey)) });
    const bookingId = `booking-undecodable-${id}`;
    const workflowId = bookingWorkflowId(bookingId);
    const flagId = undecodableRunWorkflowId(workflowId);
    flagTestIds.push(workflowId, flagId);
    try {
      const event = { ...bookingRequested(bookingId, `user_${id}`, `room_${id}`), trace: { correlationId: `corr-${bookingId}` } };
      await stranger.client.workflow.signalWithStart(bookingWorkflow, {
        workflowId,
        taskQueue: bookingTaskQueue,
        args: [event],
        signal: bookingRequestedSignal,
        signalArgs: [event],
      });
    } finally {
      await stranger.stop();
    }
    const flagged = async () => {
      const ids: string[] = [];
      const query = `PipelineStatus='NeedsAttention' AND AttentionKind='Undecodable' AND WorkflowId='${flagId}'`;
      for await (const run of stack.client.workflow.list({ query })) ids.push(run.workflowId);
      return ids;
    };
    await eventually(flagged, (ids) => ids.length === 1);
    expect(readFileSync(logFile, 'utf8')).toContain(`Cannot decode a workflow task of ${workflowId} (key ID ${foreignKey})`);

    // Given up on by hand: the flag leaves at its next ask.
    await stack.client.workflow.getHandle(workflowId).terminate('its key is lost');
    await stack.client.workflow.getHandle(flagId).result();
    expect(await flagged()).toEqual([]);
  });

  it('in strict mode, flags a booking started with a forged plain-JSON payload instead of running it', async () => {
    const id = stack.runId;
    const forger = await connectRealStack({ dataConverter: {} });
    const bookingId = `booking-plain-${id}`;
    const workflowId = bookingWorkflowId(bookingId);
    const flagId = undecodableRunWorkflowId(workflowId);
    flagTestIds.push(workflowId, flagId);
    try {
      const event = { ...bookingRequested(bookingId, `user_${id}`, `room_${id}`), trace: { correlationId: `corr-${bookingId}` } };
      await forger.client.workflow.signalWithStart(bookingWorkflow, { workflowId, taskQueue: bookingTaskQueue, args: [event], signal: bookingRequestedSignal, signalArgs: [event] });
    } finally {
      await forger.stop();
    }
    const query = `PipelineStatus='NeedsAttention' AND AttentionKind='Undecodable' AND WorkflowId='${flagId}'`;
    const flagged = async () => {
      const ids: string[] = [];
      for await (const run of stack.client.workflow.list({ query })) ids.push(run.workflowId);
      return ids;
    };
    await eventually(flagged, (ids) => ids.length === 1);
    expect(readFileSync(logFile, 'utf8')).toContain(`Cannot decode a workflow task of ${workflowId}: the run is stuck until its workers can. Fix: the run was started or signalled with a plain payload`);
    // The booking never ran a step: no row for it.
    expect((await stack.db.query('SELECT 1 FROM bookings WHERE booking_id = $1', [bookingId])).rowCount).toBe(0);
  });

  it("serves the Temporal SDK's series on WORKER_METRICS_PORT, named as Temporal's SDK dashboard reads them, and the runs needing attention on /metrics", async () => {
    const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const sdk = await scrape(sdkMetricsPort);
    // Counters without `_total`, histograms in milliseconds without a unit suffix: Core's defaults,
    // which observability/grafana/dashboards/temporal-core-sdk.json queries.
    expect(sdk).toMatch(/^temporal_workflow_task_execution_latency_bucket\{[^}]*task_queue="bookings"/m);
    expect(sdk).toMatch(/^temporal_workflow_completed\{[^}]*workflow_type="undecodableRunWorkflow"/m);
    expect(sdk).toMatch(/^temporal_request\{/m);
    expect(sdk).not.toMatch(/^temporal_request_total/m);
    // The flag of the forged booking above waits for a person.
    const flagged = { pipeline: 'booking', step: 'decodePayload', kind: 'Undecodable', run: 'open' };
    const ours = await eventually(() => scrape(opsPort), (text) => (sample(text, 'pipelines_runs_needing_attention', flagged) ?? 0) >= 1, 10_000);
    expect(sample(ours, 'pipelines_runs_needing_attention_counted_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 10);
  });

  it('reads its key ring again on SIGHUP and keeps running', async () => {
    worker.kill('SIGHUP');
    await eventually(async () => readFileSync(logFile, 'utf8'), (log) => log.includes('Payload key ring read again (SIGHUP)'), 10_000);
    expect(worker.exitCode).toBeNull();
  });

  it('keeps completing bookings while the prescriptions table is locked, and stops within its grace time', async () => {
    const id = stack.runId;
    const [user, room] = [`user_lock_${id}`, `room_lock_${id}`];
    await stack.db.query(`INSERT INTO users (user_ref, email, username) VALUES ($1, $2, $3)`, [user, `${user}@example.com`, `lock_${id}`]);
    await stack.db.query(`INSERT INTO rooms (internal_id, name) VALUES ($1, 'Lock view')`, [room]);

    // An operator's forgotten transaction.
    lock = await stack.db.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE prescriptions IN ACCESS EXCLUSIVE MODE');

    // More prescriptions than the worker has activity slots, each waiting on the lock.
    for (let i = 0; i < 25; i++) {
      const prescriptionId = `rx-lock-${id}-${i}`;
      workflowIds.push(prescriptionWorkflowId(prescriptionId));
      await stack.client.workflow.start(prescriptionFulfillmentWorkflow, {
        workflowId: prescriptionWorkflowId(prescriptionId),
        taskQueue: prescriptionTaskQueue,
        args: [prescriptionRequest(prescriptionId)],
      });
    }
    // Give them time to take the slots and wait on the lock.
    await new Promise((r) => setTimeout(r, 3_000));

    for (let i = 0; i < 10; i++) {
      const bookingId = `booking-lock-${id}-${i}`;
      const event = { ...bookingRequested(bookingId, user, room), trace: { correlationId: `corr-${bookingId}` } };
      workflowIds.push(bookingWorkflowId(bookingId));
      const handle = await stack.client.workflow.signalWithStart(bookingWorkflow, {
        workflowId: bookingWorkflowId(bookingId),
        taskQueue: bookingTaskQueue,
        args: [event],
        signal: bookingRequestedSignal,
        signalArgs: [event],
      });
      await eventually(() => handle.query(bookingStateQuery), (s) => s.status === 'Accepted', 20_000);
    }

    // The lock is still held, and the prescriptions are still behind it.
    const first = stack.client.workflow.getHandle(workflowIds[0]!);
    expect(await first.query(fulfillmentStateQuery)).toMatchObject({ status: 'Validating' });

    const stopping = Date.now();
    worker.kill('SIGTERM');
    const code = await exited;
    expect(Date.now() - stopping).toBeLessThan(graceMs + 5_000);
    expect(code).toBe(0);
  });
});
