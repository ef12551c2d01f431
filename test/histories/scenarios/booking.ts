import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import { createBookingActivities, type BookingActivities } from '../../../src/activities/booking';
import {
  bookingRequestedSignal,
  bookingStateQuery,
  bookingWorkflowId,
  cancellationRequestedSignal,
  type BookingWorkflowInput,
} from '../../../src/contracts/booking';
import { operatorDecisionSignal } from '../../../src/contracts/pipeline';
import { undecodableRunWorkflowId } from '../../../src/contracts/undecodable-run';
import type { UndecodableRunActivities } from '../../../src/activities/undecodable-run';
import { undecodableRunFlagger } from '../../../src/workers/undecodable-runs';
import type { TraceContext } from '../../../src/trace';
import { bookingWorkflow } from '../../../src/workflows/booking';
import type { PipelineHistories, StackRecordingContext, TestServerContext } from './scenarios';
import type { Client } from '@temporalio/client';
import { bookingRequested } from '../../support/booking-events';

const booking = (bookingId: string, userId: string, roomId: string, trace: TraceContext) => ({ ...bookingRequested(bookingId, userId, roomId), trace });
const cancellation = (bookingId: string, userId: string, trace: TraceContext) => ({ bookingId, userId, timestamp: '2030-12-01T00:00:00Z', trace });

/** As the bridge starts it: the first event is the run's input and its first signal. */
const startBooking = (
  client: Client,
  taskQueue: string,
  signal: typeof bookingRequestedSignal | typeof cancellationRequestedSignal,
  event: BookingWorkflowInput,
) =>
  client.workflow.signalWithStart(bookingWorkflow, {
    workflowId: bookingWorkflowId(event.bookingId),
    taskQueue,
    args: [event],
    signal: signal as typeof bookingRequestedSignal,
    signalArgs: [event as never],
  });

async function onStack({ db, client, taskQueue, run, trace, waitUntilParked }: StackRecordingContext) {
  const owner = `user_rec_${run}`;
  const room = `room_rec_${run}`;
  const stranger = `user_rec_other_${run}`;
  await db.query('INSERT INTO users (user_ref) VALUES ($1), ($2)', [owner, stranger]);
  await db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);

  let failRecords = false;
  const real = createBookingActivities(db);
  const activities = {
    ...real,
    recordBooking: async (...args: Parameters<typeof real.recordBooking>) => {
      if (failRecords) throw ApplicationFailure.create({ message: 'recorded outage' });
      return real.recordBooking(...args);
    },
  };
  const requested = (id: string, roomId = room) => booking(id, owner, roomId, trace);
  const cancelled = (id: string) => cancellation(id, owner, trace);
  const start = (signal: typeof bookingRequestedSignal | typeof cancellationRequestedSignal, event: BookingWorkflowInput) =>
    startBooking(client, taskQueue, signal, event);

  const scenarios: Record<string, () => Promise<string>> = {
    'booking-cancelled-by-owner': async () => {
      const id = `rec_${run}_cancelled`;
      const h = await start(bookingRequestedSignal, requested(id));
      await h.signal(cancellationRequestedSignal, cancelled(id));
      await h.result();
      return h.workflowId;
    },
    'booking-cancellation-first': async () => {
      const id = `rec_${run}_cancel_first`;
      const h = await start(cancellationRequestedSignal, cancelled(id));
      await h.signal(bookingRequestedSignal, requested(id));
      await h.result();
      return h.workflowId;
    },
    'booking-rejected-unknown-room': async () => {
      const id = `rec_${run}_rejected`;
      const h = await start(bookingRequestedSignal, requested(id, 'room_missing'));
      await h.result();
      return h.workflowId;
    },
    'booking-parked-then-retried': async () => {
      const id = `rec_${run}_parked`;
      failRecords = true;
      const h = await start(bookingRequestedSignal, requested(id));
      await waitUntilParked(h.workflowId);
      failRecords = false;
      await h.signal(operatorDecisionSignal, 'retry');
      await h.signal(cancellationRequestedSignal, cancelled(id));
      await h.result();
      return h.workflowId;
    },
    'booking-ended': async () => {
      const id = `rec_${run}_ended`;
      const now = Date.now();
      const shortStay = { startDate: new Date(now - 86_400_000).toISOString(), endDate: new Date(now + 5_000).toISOString() };
      const h = await start(bookingRequestedSignal, { ...requested(id), ...shortStay });
      await h.result();
      return h.workflowId;
    },
    'booking-cancellation-refused-then-cancelled': async () => {
      const id = `rec_${run}_refused`;
      const h = await start(bookingRequestedSignal, requested(id));
      await h.signal(cancellationRequestedSignal, { ...cancelled(id), userId: stranger });
      await h.signal(cancellationRequestedSignal, cancelled(id));
      await h.result();
      return h.workflowId;
    },
    'booking-parked-then-aborted': async () => {
      const id = `rec_${run}_aborted`;
      failRecords = true;
      const h = await start(bookingRequestedSignal, requested(id));
      await waitUntilParked(h.workflowId);
      failRecords = false;
      await h.signal(operatorDecisionSignal, 'abort');
      await h.result().catch(() => undefined); // it fails with OperatorAbort, which the history records
      return h.workflowId;
    },
  };
  return { activities, scenarios };
}

function onTestServer() {
  let recordAttempts = 0;
  let flagAsks = 0;
  const activities = {
    // Down for the five fast attempts and the first two retries after them, then back.
    async recordBooking() {
      if (++recordAttempts <= 7) throw ApplicationFailure.create({ message: 'recorded outage' });
      return { status: 'Accepted' as const };
    },
    cancelBooking: async () => 'Cancelled' as const,
    // The flag of a run no worker could decode: still stuck at the first two asks, then it decodes.
    async untilRunDecodes(workflowId: string) {
      if (++flagAsks <= 2) throw ApplicationFailure.retryable(`Workflow ${workflowId} still fails its workflow task (attempt 5)`, 'RunStillUndecodable');
    },
  } satisfies Partial<BookingActivities & UndecodableRunActivities>;
  const scenarios = {
    'booking-never-booked': async ({ client, env, taskQueue, trace }: TestServerContext) => {
      const id = `rec_${randomUUID().slice(0, 8)}_never`;
      const h = await startBooking(client, taskQueue, cancellationRequestedSignal, cancellation(id, 'user_rec', trace));
      await env.sleep('8 days');
      await h.result();
      return { workflowId: h.workflowId, done: async () => undefined };
    },
    'booking-outage-retried-by-itself': async ({ client, env, taskQueue, trace }: TestServerContext) => {
      const id = `rec_${randomUUID().slice(0, 8)}_outage`;
      const h = await startBooking(client, taskQueue, bookingRequestedSignal, booking(id, 'user_rec', 'room_rec', trace));
      while ((await h.query(bookingStateQuery)).status !== 'Accepted') await env.sleep('1 minute');
      await h.signal(cancellationRequestedSignal, cancellation(id, 'user_rec', trace));
      await h.result();
      return { workflowId: h.workflowId, done: async () => undefined };
    },
    // Every pipeline's workers run the flag; it is recorded once, here.
    'undecodable-run-cleared': async ({ client, env, taskQueue }: TestServerContext) => {
      const stuck = bookingWorkflowId(`rec_${randomUUID().slice(0, 8)}_undecodable`);
      const message = 'Encrypted payload names key ID k-rec, which is not in the payload key ring';
      await undecodableRunFlagger(client, taskQueue, '3 minutes')({ workflowId: stuck, keyId: 'k-rec', message });
      const h = client.workflow.getHandle(undecodableRunWorkflowId(stuck));
      await env.sleep('7 minutes'); // asked at once, then every 3 minutes: decodes at the third ask
      await h.result();
      return { workflowId: h.workflowId, done: async () => undefined };
    },
  };
  return { activities, scenarios };
}

export const histories: PipelineHistories = { onStack, onTestServer };
