import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BookingActivities } from '../../src/activities/booking';
import {
  bookingRequestedSignal,
  cancellationRequestedSignal,
  type BookingRequested,
} from '../../src/contracts/booking';
import { attentionQuery, operatorDecisionSignal } from '../../src/contracts/pipeline';
import { bookingWorkflow } from '../../src/workflows';
import { createTimeSkippingEnv, withWorker as runWorker } from '../support/time-skipping';

const owner = 'user_owner';
const trace = { correlationId: 'corr-1', baggage: 'tenant=acme' };

function bookingEvent(bookingId: string, overrides: Partial<BookingRequested> = {}) {
  return {
    bookingId,
    userId: owner,
    roomId: 'room_ocean_001',
    guests: 2,
    startDate: '2030-01-15T15:00:00Z',
    endDate: '2030-01-18T11:00:00Z',
    trace,
    ...overrides,
  };
}
const cancellation = (bookingId: string, userId = owner) => ({
  bookingId,
  userId,
  timestamp: '2030-01-10T10:00:00Z',
  trace,
});

/** In-memory stand-ins with the real activities' types; they record what the workflow asked for. */
function fakeActivities(options: { failCreate?: () => boolean } = {}) {
  const calls: string[] = [];
  const users: Record<string, number> = { [owner]: 1, user_other: 2 };
  const activities: BookingActivities = {
    async resolveUser(identifier) {
      calls.push(`resolveUser:${identifier}`);
      return users[identifier] ?? null;
    },
    async resolveRoom(internalId) {
      calls.push(`resolveRoom:${internalId}`);
      return internalId.startsWith('room_') ? 10 : null;
    },
    async createBooking(booking) {
      if (options.failCreate?.()) throw ApplicationFailure.create({ message: 'database unavailable' });
      calls.push(`createBooking:${booking.bookingId}`);
    },
    async rejectBooking(bookingId, reason) {
      calls.push(`rejectBooking:${bookingId}:${reason}`);
    },
    async cancelBooking(bookingId, requestedBy) {
      calls.push(`cancelBooking:${bookingId}:${requestedBy}`);
      return users[requestedBy] === 1 ? 'Cancelled' : 'NotOwner';
    },
  };
  return { activities, calls };
}

describe('booking workflow', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  const withWorker = <T>(activities: BookingActivities, run: (taskQueue: string) => Promise<T>) =>
    runWorker(env, activities, run);

  const start = (taskQueue: string, signal: typeof bookingRequestedSignal | typeof cancellationRequestedSignal, arg: any) =>
    env.client.workflow.signalWithStart(bookingWorkflow, {
      taskQueue,
      workflowId: `booking-${randomUUID()}`,
      signal,
      signalArgs: [arg],
    });

  it('accepts a booking, and the owner cancelling it ends it cancelled', async () => {
    const { activities, calls } = fakeActivities();
    const result = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b1'));
      await handle.signal(cancellationRequestedSignal, cancellation('b1'));
      return handle.result();
    });
    expect(result.status).toBe('Cancelled');
    expect(calls).toEqual([
      `resolveUser:${owner}`,
      'resolveRoom:room_ocean_001',
      'createBooking:b1',
      `cancelBooking:b1:${owner}`,
    ]);
  });

  it('when a cancellation arrives before its booking, the booking is created and then cancelled', async () => {
    const { activities, calls } = fakeActivities();
    const result = await withWorker(activities, async (tq) => {
      const handle = await start(tq, cancellationRequestedSignal, cancellation('b2'));
      await handle.signal(bookingRequestedSignal, bookingEvent('b2'));
      return handle.result();
    });
    expect(result.status).toBe('Cancelled');
    expect(calls.filter((c) => c.startsWith('createBooking'))).toEqual(['createBooking:b2']);
  });

  it('a booking event delivered many times creates the booking once', async () => {
    const { activities, calls } = fakeActivities();
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b3'));
      for (let i = 0; i < 9; i++) await handle.signal(bookingRequestedSignal, bookingEvent('b3', { guests: 9 }));
      await handle.signal(cancellationRequestedSignal, cancellation('b3'));
      return handle.result();
    });
    expect(state.status).toBe('Cancelled');
    expect(calls.filter((c) => c.startsWith('createBooking'))).toHaveLength(1);
  });

  it('refuses a cancellation from someone other than the owner and keeps the booking until the stay ends', async () => {
    const { activities, calls } = fakeActivities();
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b4'));
      await handle.signal(cancellationRequestedSignal, cancellation('b4', 'user_other'));
      // Time-skipping carries the workflow past its endDate in 2030.
      return handle.result();
    });
    expect(state).toMatchObject({ status: 'Ended', refusedCancellations: 1 });
    expect(calls).toContain('cancelBooking:b4:user_other');
  });

  it('an unknown room is a recorded rejection, not a failure', async () => {
    const { activities, calls } = fakeActivities();
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b5', { roomId: 'suite_missing' }));
      return handle.result();
    });
    expect(state).toMatchObject({ status: 'Rejected', rejectionReason: 'unknown room suite_missing' });
    expect(calls).toContain('rejectBooking:b5:unknown room suite_missing');
    expect(calls.some((c) => c.startsWith('createBooking'))).toBe(false);
  });

  it('a cancellation whose booking never arrives ends the workflow as never booked', async () => {
    const { activities, calls } = fakeActivities();
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, cancellationRequestedSignal, cancellation('b6'));
      return handle.result();
    });
    expect(state.status).toBe('NeverBooked');
    expect(calls).toEqual([]);
  });

  it('a step that exhausts its retries parks as NeedsAttention until an operator retries it', async () => {
    let databaseDown = true;
    const { activities, calls } = fakeActivities({ failCreate: () => databaseDown });
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b7'));
      let attention = await handle.query(attentionQuery);
      while (attention.status !== 'NeedsAttention') {
        await env.sleep('10 seconds');
        attention = await handle.query(attentionQuery);
      }
      expect(attention).toMatchObject({ failedStep: 'createBooking', lastError: 'database unavailable' });
      databaseDown = false;
      await handle.signal(operatorDecisionSignal, 'retry');
      await handle.signal(cancellationRequestedSignal, cancellation('b7'));
      return handle.result();
    });
    expect(state.status).toBe('Cancelled');
    expect(calls).toContain('createBooking:b7');
  });

  it('an operator may abort a parked workflow, which then fails with the reason', async () => {
    const { activities } = fakeActivities({ failCreate: () => true });
    const failure = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b8'));
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('10 seconds');
      await handle.signal(operatorDecisionSignal, 'abort');
      return handle.result().catch((err: unknown) => err);
    });
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error & { cause?: Error }).cause?.message)).toContain(
      'Aborted by an operator at step createBooking',
    );
  });

  it('counts a refused cancellation that Kafka delivered many times once', async () => {
    const { activities } = fakeActivities();
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b9'));
      for (let i = 0; i < 3; i++) await handle.signal(cancellationRequestedSignal, cancellation('b9', 'user_other'));
      await handle.signal(cancellationRequestedSignal, { ...cancellation('b9', 'user_other'), timestamp: '2030-01-11T10:00:00Z' });
      return handle.result();
    });
    expect(state).toMatchObject({ status: 'Ended', refusedCancellations: 2 });
  });
});
