import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { bookingWorkflowId } from '../../src/contracts/booking';
import { correlationIdKey } from '../../src/contracts/pipeline';
import { correlationIdFor } from '../../src/trace-node';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/** Headers come from whoever produced the record; none of them may make Temporal refuse a valid event. */
describe('the bridge with oversized trace headers, on the real stack', () => {
  let stack: RealStack;
  const topics = () => ({ bookingEvents: `booking-events-headers-${stack.runId}`, cancellations: `booking-cancellations-headers-${stack.runId}` });
  const ids: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    await stack.createTopics(topics().bookingEvents, topics().cancellations);
    // No worker: this is about the start being accepted, not about what the run then does.
    await stack.startBridge(bookingRoutes({ taskQueue: `headers-${stack.runId}`, topics: topics() }));
  });

  afterAll(async () => {
    await Promise.all(
      ids.map((id) => stack.client.workflow.getHandle(bookingWorkflowId(id)).terminate('test finished').catch(() => undefined)),
    );
    await stack?.stop();
  });

  it('starts the workflow of a booking with a 3,000-character correlation ID and 900 KB of baggage', async () => {
    const bookingId = `booking_headers_${stack.runId}`;
    ids.push(bookingId);
    const correlationId = `corr-${'x'.repeat(2995)}`;
    await stack.publish(topics().bookingEvents, bookingId, bookingRequested(bookingId, 'user_1', 'room_1'), {
      'correlation-id': correlationId,
      baggage: Array.from({ length: 30_000 }, (_, i) => `k${i}=${'v'.repeat(24)}`).join(','),
    });
    const handle = stack.client.workflow.getHandle(bookingWorkflowId(bookingId));
    const description = await eventually(
      () => handle.describe().catch(() => undefined),
      (d) => d !== undefined,
      30_000,
    );
    expect(description!.typedSearchAttributes.get(correlationIdKey)!.length).toBeLessThanOrEqual(200);
    // Not a safe token: it travels as its hash, in the memo as everywhere else.
    expect((description!.memo as { trace: { correlationId: string } }).trace).toEqual({ correlationId: correlationIdFor(correlationId) });
    expect(await stack.parkedEvents.list({ topic: topics().bookingEvents })).toEqual([]);
  });
});
