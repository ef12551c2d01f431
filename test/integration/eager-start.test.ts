import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes, sendToBooking } from '../../src/bridges/booking-routes';
import { connectForEagerStart, eagerlyStartedPipelines, startEagerStartWorkers, type EagerStartWorkers } from '../../src/bridges/eager-start';
import { runBridge } from '../../src/bridges/kafka-bridge';
import { BridgeMetrics } from '../../src/bridges/metrics';
import { startOpsServer } from '../../src/ops-server';
import { dataConverterFor } from '../../src/codec/data-converter';
import { loadConfig } from '../../src/config';
import { bookingRequestedSignal, bookingStateQuery, bookingWorkflowId, cancellationRequestedSignal } from '../../src/contracts/booking';
import { pipelines } from '../../src/pipelines';
import { bookingPipeline } from '../../src/pipelines/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * Eager start (BRIDGE_EAGER_START) on the real stack, wired as src/bridges/main.ts wires it: the
 * bridge's client on the connection of a booking worker in the same process, on a task queue no
 * other worker polls.
 */
describe('eager start of bookings, on the real stack', () => {
  let stack: RealStack;
  let connection: NativeConnection;
  let client: Client;
  let eager: EagerStartWorkers;
  let consumer: Consumer | undefined;
  let taskQueue: string;
  /** Whether each start the client made was eager, by workflow ID. */
  const starts = new Map<string, boolean>();
  const metrics = new BridgeMetrics();
  /** pipelines_bridge_workflow_starts_total of the test's task queue, eager or not. */
  const counted = async (eager: boolean) =>
    (await metrics.registry.getSingleMetric('pipelines_bridge_workflow_starts_total')!.get()).values.find(
      (v) => v.labels.task_queue === taskQueue && v.labels.eager === String(eager),
    )?.value ?? 0;

  beforeAll(async () => {
    stack = await connectRealStack();
    const config = loadConfig({ ...process.env, BRIDGE_EAGER_START: 'true' });
    taskQueue = `bookings-eager-${stack.runId}`;
    connection = await connectForEagerStart(config);
    const recordingStarts: WorkflowClientInterceptor = {
      async startWithDetails(input, next) {
        const output = await next(input);
        starts.set(input.options.workflowId, output.eagerlyStarted);
        return output;
      },
    };
    client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(config), interceptors: { workflow: [recordingStarts, metrics.countingStarts()] } });
    eager = await startEagerStartWorkers(config, [{ ...bookingPipeline, taskQueue }], connection, client);
  });
  afterAll(async () => {
    await consumer?.disconnect();
    await eager?.shutdown();
    await connection?.close();
    await stack?.stop();
  });

  const seedUserAndRoom = async (suffix: string) => {
    const user = `user_eager_${suffix}`;
    const room = `room_eager_${suffix}`;
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [user]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);
    return { user, room };
  };

  it('is ready while its workers run, and names the one that stopped', async () => {
    const config = loadConfig({ ...process.env, BRIDGE_EAGER_START: 'true' });
    const spare = await startEagerStartWorkers(config, [{ ...bookingPipeline, taskQueue: `${taskQueue}-spare` }], connection, client);
    const server = await startOpsServer(0, spare.checks, '127.0.0.1');
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
      return { status: res.status, body: (await res.json()) as { ready: boolean; failing: Record<string, string> } };
    };
    try {
      expect(await eventually(readyz, (r) => r.status === 200, 20_000)).toEqual({ status: 200, body: { ready: true, failing: {} } });
      await spare.shutdown();
      expect(await readyz()).toEqual({ status: 503, body: { ready: false, failing: { [`worker:${taskQueue}-spare`]: 'the eager-start worker is STOPPED' } } });
    } finally {
      server.close();
      await spare.shutdown();
    }
  }, 60_000);

  it('is on only for the pipelines that declare it, and only with BRIDGE_EAGER_START', () => {
    expect(eagerlyStartedPipelines(loadConfig({ ...process.env, BRIDGE_EAGER_START: 'true' }), pipelines).map((p) => p.name)).toEqual(['booking']);
    expect(eagerlyStartedPipelines(loadConfig({ ...process.env, BRIDGE_EAGER_START: 'false' }), pipelines)).toEqual([]);
  });

  it("hands a new booking's first workflow task to the worker in this process; the next events are signals to the run", async () => {
    const { user, room } = await seedUserAndRoom(`direct_${stack.runId}`);
    const bookingId = `eager_direct_${stack.runId}`;
    const trace = { correlationId: randomUUID() };
    const run = await sendToBooking(client, bookingRequestedSignal, { ...bookingRequested(bookingId, user, room), trace }, { taskQueue, eagerStart: true });
    expect(starts.get(bookingWorkflowId(bookingId))).toBe(true);
    await eventually(() => run.query(bookingStateQuery), (s) => s.status === 'Accepted', 20_000);
    // The run exists: the same event again, and the cancellation, reach it as signals.
    await sendToBooking(client, bookingRequestedSignal, { ...bookingRequested(bookingId, user, room), trace }, { taskQueue, eagerStart: true });
    await sendToBooking(client, cancellationRequestedSignal, { bookingId, userId: user, timestamp: '2030-12-01T00:00:00Z', trace }, { taskQueue, eagerStart: true });
    expect(await run.result()).toMatchObject({ status: 'Cancelled' });
    const { rows } = await stack.db.query('SELECT status FROM bookings WHERE booking_id = $1', [bookingId]);
    expect(rows).toEqual([{ status: 'Cancelled' }]);
  }, 60_000);

  it('through the bridge: bookings from Kafka, duplicates among them, are started eagerly, each once, with one row each', async () => {
    const { user, room } = await seedUserAndRoom(`bridge_${stack.runId}`);
    const topics = { bookingEvents: `booking-events-eager-${stack.runId}`, cancellations: `booking-cancellations-eager-${stack.runId}` };
    await stack.createTopics(topics.bookingEvents, topics.cancellations);
    consumer = await runBridge({
      kafka: stack.kafka,
      client,
      parkedEvents: stack.parkedEvents,
      groupId: `eager-${stack.runId}`,
      routes: bookingRoutes({ taskQueue, topics, eagerStart: true }),
      maxInFlight: 8,
    });
    const eagerBefore = await counted(true);
    const ids = Array.from({ length: 10 }, (_, i) => `eager_bridge_${stack.runId}_${i}`);
    for (const id of [...ids, ...ids.slice(0, 3)]) await stack.publish(topics.bookingEvents, id, bookingRequested(id, user, room));
    const rows = await eventually(
      async () => (await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM bookings WHERE booking_id = ANY($1)', [ids])).rows[0]!.n,
      (n) => n === ids.length,
      30_000,
    );
    expect(rows).toBe(ids.length);
    // Each run was started once, and eagerly: its worker had free slots; the bridges' metric says so.
    expect(ids.map((id) => starts.get(bookingWorkflowId(id)))).toEqual(ids.map(() => true));
    expect(await counted(true)).toBe(eagerBefore + ids.length);
    expect(await counted(false)).toBe(0);
  }, 60_000);
});
