import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { ConsumerReadiness, runBridge } from '../../src/bridges/kafka-bridge';
import { startOpsServer } from '../../src/ops-server';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/** A bridge's /readyz on real Kafka, wired as src/bridges/main.ts wires it. */
describe("a bridge's readiness", () => {
  let stack: RealStack;

  beforeAll(async () => {
    stack = await connectRealStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('is ready once its consumer has joined its group, and not ready once it has left', async () => {
    const topic = `booking-events-readiness-${stack.runId}`;
    await stack.createTopics(topic, `${topic}-cancellations`);
    const readiness = new ConsumerReadiness();
    const consumer = await runBridge({
      kafka: stack.kafka,
      client: stack.client,
      parkedEvents: stack.parkedEvents,
      groupId: `readiness-${stack.runId}`,
      routes: bookingRoutes({ taskQueue: `bookings-${stack.runId}`, topics: { bookingEvents: topic, cancellations: `${topic}-cancellations` } }),
      maxInFlight: 8,
      readiness,
    });
    const server = await startOpsServer(0, [{ name: 'consumer:bookings', check: () => readiness.notReady }], '127.0.0.1');
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
      return { status: res.status, body: (await res.json()) as { ready: boolean; failing: Record<string, string> } };
    };
    try {
      expect(await eventually(readyz, (r) => r.status === 200, 30_000)).toEqual({ status: 200, body: { ready: true, failing: {} } });
      await consumer.disconnect();
      expect((await readyz()).status).toBe(503);
      expect((await readyz()).body.failing['consumer:bookings']).toMatch(/stopped|disconnected/);
    } finally {
      server.close();
      await consumer.disconnect();
    }
  }, 60_000);
});
