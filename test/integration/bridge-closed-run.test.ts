import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { bookingWorkflowId } from '../../src/contracts/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/** A signal-with-start for a run that has closed, as the real server answers it. */
describe('the bridge and a booking run that has already closed, on the real stack', () => {
  let stack: RealStack;
  const topics = () => ({ bookingEvents: `booking-events-closed-${stack.runId}`, cancellations: `booking-cancellations-closed-${stack.runId}` });
  const bookingId = () => `booking_closed_${stack.runId}`;

  beforeAll(async () => {
    stack = await connectRealStack();
    await stack.createTopics(topics().bookingEvents, topics().cancellations);
    // No worker: the run is closed by the test, not by the workflow.
    await stack.startBridge(bookingRoutes({ taskQueue: `closed-${stack.runId}`, topics: topics() }));
  });

  afterAll(async () => {
    await stack.client.workflow.getHandle(bookingWorkflowId(bookingId())).terminate('test finished').catch(() => undefined);
    await stack?.stop();
  });

  it('parks an event whose run has already closed, with the reason, instead of dropping it as a duplicate', async () => {
    const event = bookingRequested(bookingId(), 'user_1', 'room_1');
    await stack.publish(topics().bookingEvents, bookingId(), event, { 'correlation-id': `first-${bookingId()}` });
    const handle = stack.client.workflow.getHandle(bookingWorkflowId(bookingId()));
    await eventually(() => handle.describe().catch(() => undefined), (d) => d !== undefined, 30_000);
    await handle.terminate('closed before the late event');

    await stack.publish(topics().bookingEvents, bookingId(), event, { 'correlation-id': `late-${bookingId()}` });
    const parked = await eventually(
      async () => (await stack.parkedEvents.list({ topic: topics().bookingEvents })).filter((p) => p.record?.key?.toString() === bookingId()),
      (ps) => ps.length === 1,
      30_000,
    );
    expect(parked[0]).toMatchObject({
      correlationId: `late-${bookingId()}`,
      reason: `workflow ${bookingWorkflowId(bookingId())} already closed (Terminated); the event was not delivered`,
    });
  });
});
