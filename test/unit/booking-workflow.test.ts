import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BookingActivities } from '../../src/activities/booking';
import {
  bookingRequestedSignal,
  bookingStateQuery,
  cancellationRequestedSignal,
  type BookingRequested,
} from '../../src/contracts/booking';
import { attentionQuery, operatorDecisionSignal } from '../../src/contracts/pipeline';
import { bookingWorkflow } from '../../src/workflows/booking';
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

type Fault = 'outage' | 'refusal' | undefined;

/**
 * In-memory stand-ins with the real activities' types; they record what the workflow asked for.
 * New runs only record and cancel; the step-by-step activities are there for older histories.
 */
function fakeActivities(options: { failRecord?: () => Fault; cancelledBefore?: string[] } = {}) {
  const calls: string[] = [];
  const recorded: BookingRequested[] = [];
  const attempts = { recordBooking: 0 };
  const users: Record<string, number> = { [owner]: 1, user_other: 2 };
  const activities: BookingActivities = {
    async recordBooking(booking) {
      attempts.recordBooking++;
      const fault = options.failRecord?.();
      if (fault) throw ApplicationFailure.create({ message: `database ${fault}`, nonRetryable: fault === 'refusal' });
      calls.push(`recordBooking:${booking.bookingId}`);
      recorded.push(booking);
      if (!(booking.userId in users)) return { status: 'Rejected', rejectionReason: `unknown user ${booking.userId}` };
      if (!booking.roomId.startsWith('room_')) return { status: 'Rejected', rejectionReason: `unknown room ${booking.roomId}` };
      return options.cancelledBefore?.includes(booking.bookingId) ? { status: 'Cancelled' } : { status: 'Accepted' };
    },
    async resolveUser(identifier) {
      calls.push(`resolveUser:${identifier}`);
      return users[identifier] ?? null;
    },
    async resolveRoom(internalId) {
      calls.push(`resolveRoom:${internalId}`);
      return internalId.startsWith('room_') ? 10 : null;
    },
    async createBooking(booking) {
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
  return { activities, calls, recorded, attempts };
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
      // As the bridge starts it: the first event is the run's input too.
      args: [arg],
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
    expect(calls).toEqual(['recordBooking:b1', `cancelBooking:b1:${owner}`]);
  });

  it('when a cancellation arrives before its booking, it waits for it; the booking is created and then cancelled', async () => {
    const { activities, calls } = fakeActivities();
    const result = await withWorker(activities, async (tq) => {
      const handle = await start(tq, cancellationRequestedSignal, cancellation('b2'));
      // The cancellation is held for days, with nothing done, until its booking arrives.
      await env.sleep('3 days');
      expect(await handle.query(bookingStateQuery)).toMatchObject({ bookingId: 'b2', status: 'AwaitingBooking' });
      expect(calls).toEqual([]);
      await handle.signal(bookingRequestedSignal, bookingEvent('b2'));
      return handle.result();
    });
    expect(result.status).toBe('Cancelled');
    expect(calls).toEqual(['recordBooking:b2', `cancelBooking:b2:${owner}`]);
  });

  it('a booking event delivered many times creates the booking once, from the first copy', async () => {
    const { activities, recorded } = fakeActivities();
    // Sent while no worker polls, so every copy reaches the run in its first activation.
    const taskQueue = `test-${randomUUID()}`;
    const handle = await start(taskQueue, bookingRequestedSignal, bookingEvent('b3'));
    for (let i = 0; i < 9; i++) await handle.signal(bookingRequestedSignal, bookingEvent('b3', { guests: 9, roomId: 'room_other' }));
    await handle.signal(cancellationRequestedSignal, cancellation('b3'));
    const state = await runWorker(env, activities, () => handle.result(), taskQueue);
    expect(state.status).toBe('Cancelled');
    // The event without its trace, which travels as a header.
    expect(recorded).toEqual([
      { bookingId: 'b3', userId: owner, roomId: 'room_ocean_001', guests: 2, startDate: '2030-01-15T15:00:00Z', endDate: '2030-01-18T11:00:00Z' },
    ]);
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
    expect(calls).toEqual(['recordBooking:b5']);
  });

  it('a booking cancelled in a run that has left Temporal (retention) ends a run its redelivered event starts, cancelled, at once', async () => {
    const { activities, calls } = fakeActivities({ cancelledBefore: ['b7'] });
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b7'));
      return handle.result();
    });
    // Not Accepted until the stay ends (time-skipping would carry it there): nothing waits, nothing is cancelled again.
    expect(state).toMatchObject({ bookingId: 'b7', status: 'Cancelled', refusedCancellations: 0 });
    expect(calls).toEqual(['recordBooking:b7']);
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

  it('a refused step parks as NeedsAttention, is not tried again for a day, and an operator retry completes it', async () => {
    let fault: Fault = 'refusal';
    const { activities, calls, attempts } = fakeActivities({ failRecord: () => fault });
    const state = await withWorker(activities, async (tq) => {
      // Its stay ends long after the time this environment's other tests skipped to.
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b7', { endDate: '2099-01-01T00:00:00Z' }));
      let attention = await handle.query(attentionQuery);
      while (attention.status !== 'NeedsAttention') {
        await env.sleep('10 seconds');
        attention = await handle.query(attentionQuery);
      }
      expect(attention).toMatchObject({ failedStep: 'recordBooking', kind: 'Refusal', lastError: 'database refusal' });
      expect(await handle.query(bookingStateQuery)).toMatchObject({ status: 'Processing' });
      await env.sleep('1 day');
      expect(await handle.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', failedStep: 'recordBooking' });
      expect(attempts.recordBooking).toBe(1);

      fault = undefined;
      await handle.signal(operatorDecisionSignal, 'retry');
      // A local step may run again when a signal lands while it runs (it is idempotent); waiting
      // for the booking keeps the count of attempts exact. In real time: skipping time while the
      // step runs in the worker could time its workflow task out.
      while ((await handle.query(bookingStateQuery)).status !== 'Accepted') await new Promise((r) => setTimeout(r, 100));
      await handle.signal(cancellationRequestedSignal, cancellation('b7'));
      return handle.result();
    });
    expect(state.status).toBe('Cancelled');
    expect(attempts.recordBooking).toBe(2);
    expect(calls).toEqual(['recordBooking:b7', `cancelBooking:b7:${owner}`]);
  });

  it('an outage that outlives the fast retries parks the booking, which completes by itself once the outage ends', async () => {
    let fault: Fault = 'outage';
    const { activities, attempts } = fakeActivities({ failRecord: () => fault });
    const state = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b10'));
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('10 seconds');
      expect(await handle.query(attentionQuery)).toMatchObject({ failedStep: 'recordBooking', kind: 'Outage' });
      expect(attempts.recordBooking).toBe(5);
      await env.sleep('1 hour');
      expect(attempts.recordBooking).toBeGreaterThan(5); // tried again by itself, in rounds
      fault = undefined; // the outage ends; nobody signals
      await handle.signal(cancellationRequestedSignal, cancellation('b10'));
      return handle.result();
    });
    expect(state.status).toBe('Cancelled');
  });

  // Temporal's limit is 51,200 events and it warns at 10,240. The run's own retry loop wrote about
  // 35 events per 2-minute round for a local step: a day's outage was over 25,000.
  it('a booking held through a day-long outage keeps its history small, and completes once the outage ends', async () => {
    let fault: Fault = 'outage';
    const { activities, attempts } = fakeActivities({ failRecord: () => fault });
    const { state, events } = await withWorker(activities, async (tq) => {
      // A stay far ahead: earlier tests have moved this environment's clock decades on.
      const stay = { startDate: '9000-01-15T15:00:00Z', endDate: '9000-01-18T11:00:00Z' };
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b11', stay));
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('10 seconds');
      await env.sleep('23 hours');
      // Tried every 2 minutes all along: about 690 attempts.
      expect(attempts.recordBooking).toBeGreaterThan(600);
      fault = undefined;
      while ((await handle.query(attentionQuery)).status === 'NeedsAttention') await env.sleep('1 minute');
      await handle.signal(cancellationRequestedSignal, cancellation('b11'));
      const state = await handle.result();
      return { state, events: (await handle.fetchHistory()).events!.length };
    });
    expect(state.status).toBe('Cancelled');
    expect(events).toBeLessThan(200);
  }, 240_000);

  it('an operator may abort a parked workflow, which then fails with the reason', async () => {
    const { activities } = fakeActivities({ failRecord: () => 'refusal' });
    const failure = await withWorker(activities, async (tq) => {
      const handle = await start(tq, bookingRequestedSignal, bookingEvent('b8'));
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('10 seconds');
      await handle.signal(operatorDecisionSignal, 'abort');
      return handle.result().catch((err: unknown) => err);
    });
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error & { cause?: Error }).cause?.message)).toContain(
      'Aborted by an operator at step recordBooking',
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
