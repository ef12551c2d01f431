import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BookingActivities } from '../../src/activities/booking';
import { loadConfig } from '../../src/config';
import { bookingRequestedSignal, bookingStateQuery } from '../../src/contracts/booking';
import { bookingWorkflow } from '../../src/workflows/booking';
import { eventually } from '../support/real-stack';
import { createTimeSkippingEnv, withWorker } from '../support/time-skipping';

/**
 * WORKFLOW_STACK_TRACES (src/config.ts) switches the SDK's per-promise stack capture, through the
 * project's patch of @temporalio/worker (patches/): what the Web UI's "Stack Trace" tab asks for
 * with the `__stack_trace` query. The variable is read by each workflow thread as it starts, so
 * each case sets it before its worker is created.
 */
const booking = (bookingId: string) => ({
  bookingId,
  userId: 'user_owner',
  roomId: 'room_ocean_001',
  guests: 2,
  startDate: '2030-01-15T15:00:00Z',
  endDate: '2030-01-18T11:00:00Z',
  trace: { correlationId: `corr-${bookingId}` },
});
const activities: Pick<BookingActivities, 'recordBooking'> = { recordBooking: async () => ({ status: 'Accepted' }) };

describe('workflow stack traces', () => {
  let env: TestWorkflowEnvironment;
  const before = process.env.WORKFLOW_STACK_TRACES;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });
  afterEach(() => {
    if (before === undefined) delete process.env.WORKFLOW_STACK_TRACES;
    else process.env.WORKFLOW_STACK_TRACES = before;
  });

  /**
   * The `__stack_trace` query's answer for an accepted booking waiting for its stay to end, or the
   * name of the query's error: its message, "Workflow stack traces are not enabled on this worker",
   * is encrypted with every failure's (src/codec), and reaches the client as "Encoded failure".
   */
  async function stackOfAWaitingBooking(): Promise<{ stack?: string; error?: string; statusAfter: string }> {
    return withWorker(env, activities, async (taskQueue) => {
      const event = booking(randomUUID());
      const handle = await env.client.workflow.signalWithStart(bookingWorkflow, {
        taskQueue,
        workflowId: `booking-${event.bookingId}`,
        args: [event],
        signal: bookingRequestedSignal,
        signalArgs: [event],
      });
      // A query may ride the run's first task, before its booking is recorded.
      await eventually(() => handle.query(bookingStateQuery), (state) => state.status === 'Accepted');
      const answer = await handle.query<string>('__stack_trace').then(
        (stack) => ({ stack }),
        (err: Error) => ({ error: err.name }),
      );
      const { status: statusAfter } = await handle.query(bookingStateQuery);
      await handle.terminate('test over');
      return { ...answer, statusAfter };
    });
  }

  it('are off by default: the query fails, and the run goes on', async () => {
    delete process.env.WORKFLOW_STACK_TRACES;
    expect(loadConfig({}).WORKFLOW_STACK_TRACES).toBe('false');
    expect(await stackOfAWaitingBooking()).toEqual({ error: 'QueryNotRegisteredError', statusAfter: 'Accepted' });
  });

  it('with WORKFLOW_STACK_TRACES=true, show where the run waits', async () => {
    process.env.WORKFLOW_STACK_TRACES = 'true';
    expect(await stackOfAWaitingBooking()).toEqual({ stack: expect.stringContaining('bookingWorkflow'), statusAfter: 'Accepted' });
  });

  it('refuses any other value at start-up, rather than guess', () => {
    expect(() => loadConfig({ WORKFLOW_STACK_TRACES: 'yes' })).toThrow(/WORKFLOW_STACK_TRACES/);
  });
});
