import { condition, log, setHandler } from '@temporalio/workflow';
import type { BookingActivities, BookingRecorded } from '../activities/booking';
import {
  bookingRequestedSignal,
  bookingStateQuery,
  cancellationRequestedSignal,
  type BookingRequested,
  type BookingState,
  type BookingWorkflowInput,
  type CancellationRequested,
  type Traced,
} from '../contracts/booking';
import { operatorControls, type OperatorControls } from './operator';
import { patchesOfThisRun } from './patches';
import { databaseStep, localDatabaseStep } from './step-options';
import { withWorkflowTrace } from './trace-context';

/**
 * A booking is recorded in one step (user and room resolved, row written) and cancelled in one,
 * each a few milliseconds of PostgreSQL. They run as local activities: inside the workflow task that
 * needs them, with the same timeout and retries, instead of a round trip through the server each,
 * so a booking takes one workflow task where it took four. A worker that dies mid-step runs the
 * step again, which both allow (they are idempotent). Runs that began before this keep the
 * separate remote steps they started with.
 */
const recordedInOneLocalStep = 'booking-recorded-in-one-local-step';
const localSteps = (operator: OperatorControls) =>
  operator.steps<BookingActivities>({ recordBooking: localDatabaseStep, cancelBooking: localDatabaseStep });
const stepsBeforeLocal = (operator: OperatorControls) =>
  operator.steps<BookingActivities>({
    resolveUser: databaseStep,
    resolveRoom: databaseStep,
    createBooking: databaseStep,
    rejectBooking: databaseStep,
    cancelBooking: databaseStep,
  });

/** How long a cancellation that arrived first waits for its booking event. */
const bookingArrivalWindow = '7 days';

/**
 * One workflow per booking, fed by signals (signal-with-start from the bridge) so that a
 * cancellation arriving before its booking is held until the booking exists. Lives until the
 * booking is cancelled, rejected, or its stay has ended.
 */
export async function bookingWorkflow(firstEvent?: BookingWorkflowInput): Promise<BookingState> {
  const patches = patchesOfThisRun();
  const state: BookingState = { bookingId: firstEvent?.bookingId, status: 'AwaitingBooking', refusedCancellations: 0 };
  let request: Traced<BookingRequested> | undefined;
  const cancellations: Traced<CancellationRequested>[] = [];
  const refusalsSeen = new Set<string>();
  const operator = operatorControls(patches);

  // A redelivered booking event changes nothing: the first one wins.
  setHandler(bookingRequestedSignal, (event) => void (request ??= event));
  setHandler(cancellationRequestedSignal, (event) => void cancellations.push(event));
  setHandler(bookingStateQuery, () => state);

  if (!(await condition(() => request !== undefined, bookingArrivalWindow)) || !request) {
    log.warn('No booking event arrived for this cancellation', { cancellations: cancellations.length });
    return finish(state, 'NeverBooked');
  }
  const booking = request;
  state.bookingId = booking.bookingId;
  state.status = 'Processing';
  const inOneLocalStep = patches.has(recordedInOneLocalStep);
  const steps = inOneLocalStep ? localSteps(operator) : stepsBeforeLocal(operator);

  // The run may have been started by a cancellation: the booking's steps carry the booking event's trace.
  const bookingStep = <T>(run: () => Promise<T>) => withWorkflowTrace(booking.trace, run);

  const { trace: _, ...event } = booking; // the trace goes as the step's header, not in its input
  const recorded = inOneLocalStep ? await bookingStep(() => steps.recordBooking(event)) : await recordStepByStep();
  if (recorded.status === 'Rejected') {
    state.rejectionReason = recorded.rejectionReason;
    return finish(state, 'Rejected');
  }
  // Cancelled in a run that has since left Temporal (retention); the booking event came again. Until
  // recordBooking reported `Cancelled` it called that row Accepted, so no recorded result holds it
  // and old histories replay unchanged without a patch.
  if (recorded.status === 'Cancelled') return finish(state, 'Cancelled');
  state.status = 'Accepted';

  // Cancellations are honoured until the stay ends; one from anyone but the owner is refused.
  const stayEnds = Date.parse(booking.endDate);
  for (;;) {
    if (cancellations.length === 0) {
      const remaining = stayEnds - Date.now(); // workflow time: deterministic on replay
      if (remaining <= 0 || !(await condition(() => cancellations.length > 0, remaining))) break;
    }
    const cancellation = cancellations.shift()!;
    const result = await withWorkflowTrace(cancellation.trace, () => steps.cancelBooking(booking.bookingId, cancellation.userId));
    if (result === 'Cancelled') return finish(state, 'Cancelled');
    // Kafka may deliver one refused cancellation many times; it is still one refusal.
    const refusal = `${cancellation.userId}@${cancellation.timestamp}`;
    if (!refusalsSeen.has(refusal)) state.refusedCancellations++;
    refusalsSeen.add(refusal);
    log.warn('Cancellation refused: requester does not own the booking', { bookingId: booking.bookingId });
  }
  return finish(state, 'Ended');

  /** How runs that began before `recordBooking` existed record their booking. */
  async function recordStepByStep(): Promise<BookingRecorded> {
    const userId = await bookingStep(() => steps.resolveUser(booking.userId));
    const roomId = await bookingStep(() => steps.resolveRoom(booking.roomId));
    if (userId === null || roomId === null) {
      const rejectionReason = userId === null ? `unknown user ${booking.userId}` : `unknown room ${booking.roomId}`;
      await bookingStep(() => steps.rejectBooking(booking.bookingId, rejectionReason));
      return { status: 'Rejected', rejectionReason };
    }
    await bookingStep(() => steps.createBooking({ ...booking, userId, roomId }));
    return { status: 'Accepted' };
  }

  function finish(s: BookingState, status: BookingState['status']): BookingState {
    s.status = status;
    operator.setStatus(status === 'Rejected' ? 'Rejected' : 'Completed');
    return s;
  }
}

// Every pipeline's workers also run the flag for a run they cannot decode (src/pipelines/pipeline.ts).
export { undecodableRunWorkflow } from './undecodable-run';
