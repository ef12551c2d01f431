import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import type { TraceContext } from '../trace';
import { identifier, timestamp } from './fields';

/** Contract of the booking process (seed 004): topics, event shapes, workflow identity, messages. */
export const bookingTaskQueue = 'bookings';
export const bookingEventsTopic = 'booking-events';
export const bookingCancellationsTopic = 'booking-cancellations';

const workflowIdPrefix = 'booking-';
export const bookingWorkflowId = (bookingId: string): string => `${workflowIdPrefix}${bookingId}`;
export const bookingIdFromWorkflowId = (workflowId: string): string | undefined =>
  workflowId.startsWith(workflowIdPrefix) ? workflowId.slice(workflowIdPrefix.length) : undefined;


export const bookingRequestedSchema = z.object({
  bookingId: identifier,
  /** The user's ID, email or username. */
  userId: identifier,
  /** The room's internal ID, e.g. `room_ocean_001`. */
  roomId: identifier,
  guests: z.number().int().positive().max(50),
  startDate: timestamp,
  endDate: timestamp,
  paymentId: identifier.optional(),
}).refine((e) => Date.parse(e.endDate) > Date.parse(e.startDate), {
  message: 'endDate must be after startDate',
  path: ['endDate'],
});
export type BookingRequested = z.infer<typeof bookingRequestedSchema>;

export const cancellationRequestedSchema = z.object({
  bookingId: identifier,
  /** Who asks to cancel: ID, email or username; only the booking's owner may. */
  userId: identifier,
  timestamp: timestamp,
});
export type CancellationRequested = z.infer<typeof cancellationRequestedSchema>;

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
