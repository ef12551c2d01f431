import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { TraceContext } from '../trace';
import type { BookingRequested, CancellationRequested } from './booking-events';

/**
 * Contract of the booking process (seed 004): topics, workflow identity, messages. The event
 * schemas are in ./booking-events: workflows import this module, and a schema library in the
 * workflow bundle is evaluated again for every workflow the worker runs.
 */
export type { BookingRequested, CancellationRequested };

export const bookingTaskQueue = 'bookings';
export const bookingEventsTopic = 'booking-events';
export const bookingCancellationsTopic = 'booking-cancellations';

const workflowIdPrefix = 'booking-';
export const bookingWorkflowId = (bookingId: string): string => `${workflowIdPrefix}${bookingId}`;
export const bookingIdFromWorkflowId = (workflowId: string): string | undefined =>
  workflowId.startsWith(workflowIdPrefix) ? workflowId.slice(workflowIdPrefix.length) : undefined;


/** Every event reaches the workflow with the trace context of the Kafka message that carried it. */
export type Traced<E> = E & { trace: TraceContext };

export const bookingRequestedSignal = defineSignal<[Traced<BookingRequested>]>('bookingRequested');
export const cancellationRequestedSignal = defineSignal<[Traced<CancellationRequested>]>('cancellationRequested');

/** The event that started the run (whichever came first); the Web UI shows it as the run's input. */
export type BookingWorkflowInput = Traced<BookingRequested> | Traced<CancellationRequested>;

export type BookingStatus =
  /** Only a cancellation has arrived; it waits for its booking. */
  | 'AwaitingBooking'
  /** The booking event arrived: resolving its user and room and recording it (or parked doing so). */
  | 'Processing'
  | 'Accepted'
  | 'Cancelled'
  | 'Rejected'
  | 'NeverBooked'
  | 'Ended';

export interface BookingState {
  bookingId?: string;
  status: BookingStatus;
  rejectionReason?: string;
  /** Cancellations refused because the sender does not own the booking. */
  refusedCancellations: number;
}
export const bookingStateQuery = defineQuery<BookingState>('bookingState');
