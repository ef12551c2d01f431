import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { runBridge } from '../../src/bridges/kafka-bridge';
import { bookingWorkflowId } from '../../src/contracts/booking';
import { traceClientInterceptors } from '../../src/trace-node';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { dataConverterFor } from '../../src/codec/data-converter';

/** At-least-once in, exactly-once out, while Temporal is unreachable for a while. */
describe('the bridge while Temporal is unreachable', () => {
  let stack: RealStack;
  let proxy: TcpProxy;
  let bridgeClient: Client;
  const topic = () => `booking-events-outage-${stack.runId}`;
  const groupId = () => `outage-bridge-${stack.runId}`;
  const ids: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    proxy = await startTcpProxy(stack.config.TEMPORAL_ADDRESS);
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [`user_${stack.runId}`]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [`room_${stack.runId}`]);
    await stack.createTopics(topic(), `${topic()}-cancellations`);
    await stack.startWorker(`bookings-${stack.runId}`);
  });

  afterAll(async () => {
    await Promise.all(
      ids.map((id) => stack.client.workflow.getHandle(bookingWorkflowId(id)).terminate('test finished').catch(() => undefined)),
    );
    await bridgeClient?.connection.close();
    await proxy.close();
    await stack.stop();
  });

  const committedOffsets = async () => {
    const admin = stack.kafka.admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId: groupId(), topics: [topic()] });
      return t!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    } finally {
      await admin.disconnect();
    }
  };

  it('holds its offsets, retries, and delivers every event exactly once when Temporal is back', async () => {
    bridgeClient = new Client({
      connection: await Connection.connect({ address: proxy.address }),
      interceptors: traceClientInterceptors,
      // The stack's workers decrypt what this bridge starts.
      dataConverter: dataConverterFor(stack.config),
    });
    const consumer = await runBridge({
      kafka: stack.kafka,
      client: bridgeClient,
      parkedEvents: stack.parkedEvents,
      groupId: groupId(),
      routes: bookingRoutes({
        taskQueue: `bookings-${stack.runId}`,
        topics: { bookingEvents: topic(), cancellations: `${topic()}-cancellations` },
      }),
      maxInFlight: 8,
    });
    // Evidence that the bridge has the records in hand: kafkajs reports each batch it starts.
    const batchesStarted: number[] = [];
    const batchesEnded: number[] = [];
    consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => void batchesStarted.push(payload.batchSize));
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => void batchesEnded.push(payload.batchSize));
    try {
      await proxy.cut();
      for (let i = 0; i < 12; i++) {
        const bookingId = `booking_outage_${stack.runId}_${i}`;
        ids.push(bookingId);
        await stack.publish(topic(), bookingId, bookingRequested(bookingId, `user_${stack.runId}`, `room_${stack.runId}`));
      }
      // Temporal is unreachable: the bridge has fetched the records and keeps retrying them, so
      // none is acknowledged and nothing is committed.
      await eventually(async () => batchesStarted.reduce((a, b) => a + b, 0), (n) => n > 0, 30_000);
      await new Promise((r) => setTimeout(r, 4000)); // several retry rounds (100 ms doubling)
      expect(batchesEnded).toEqual([]);
      expect(await committedOffsets()).toBe(0);
      expect((await stack.db.query('SELECT 1 FROM bookings WHERE booking_id = ANY($1)', [ids])).rowCount).toBe(0);

      await proxy.restore();
      const rows = await eventually(
        async () => (await stack.db.query('SELECT booking_id FROM bookings WHERE booking_id = ANY($1)', [ids])).rows,
        (r) => r.length === ids.length,
      );
      expect(rows).toHaveLength(12);
      expect(await eventually(committedOffsets, (n) => n === 12)).toBe(12);
      expect(await stack.parkedEvents.list({ topic: topic() })).toEqual([]);
      // Retried through the outage, yet each run was signalled exactly once.
      for (const id of ids) {
        const { events } = await stack.client.workflow.getHandle(bookingWorkflowId(id)).fetchHistory();
        const signals = events!.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
        expect({ id, signals }).toEqual({ id, signals: 1 });
      }
    } finally {
      await consumer.disconnect();
    }
  });
});
