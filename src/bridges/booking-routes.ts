import type { Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import {
  bookingCancellationsTopic,
  bookingEventsTopic,
  bookingRequestedSignal,
  bookingTaskQueue,
  bookingWorkflowId,
  cancellationRequestedSignal,
  type BookingRequested,
  type CancellationRequested,
  type Traced,
} from '../contracts/booking';
import { bookingRequestedSchema, cancellationRequestedSchema } from '../contracts/booking-events';
import type { TraceContext } from '../trace';
import { bookingWorkflow } from '../workflows/booking';
import { route, type Route } from './route';
import { pipelineStartOptions } from '../trace';

export interface BookingRouteOptions {
  taskQueue?: string;
  topics?: { bookingEvents: string; cancellations: string };
}

/**
 * Both booking topics signal-with-start the booking's workflow: whichever event comes first
 * starts it, and the workflow orders them (a cancellation waits for its booking).
 */
export function bookingRoutes(options: BookingRouteOptions = {}): Route[] {
  const taskQueue = options.taskQueue ?? bookingTaskQueue;
  const topics = options.topics ?? { bookingEvents: bookingEventsTopic, cancellations: bookingCancellationsTopic };

  /** The event signals its booking's run, starting it if it is the first; the run's input is that event. */
  const signalBooking =
    <E extends BookingRequested | CancellationRequested>(signal: SignalDefinition<[Traced<E>]>) =>
    async (client: Client, event: E, trace: TraceContext) => {
      await client.workflow.signalWithStart(bookingWorkflow, {
        workflowId: bookingWorkflowId(event.bookingId),
        taskQueue,
        args: [{ ...event, trace }],
        signal,
        signalArgs: [{ ...event, trace }],
        ...pipelineStartOptions(trace, `booking ${event.bookingId}`),
      });
    };

  return [
    route({
      topic: topics.bookingEvents,
      schema: bookingRequestedSchema,
      orderingKey: (event) => event.bookingId,
      // A booking made (and cancelled, rejected or ended) already did what this copy asks; a run
      // that gave up waiting for its booking (NeverBooked), or was ended by hand, never saw it.
      closedRun: (run) => (run.status === 'Completed' && run.outcome !== 'NeverBooked' ? 'duplicate' : 'undelivered'),
      deliver: signalBooking(bookingRequestedSignal),
    }),
    route({
      topic: topics.cancellations,
      schema: cancellationRequestedSchema,
      orderingKey: (event) => event.bookingId,
      // After a run completed, a cancellation changes nothing (cancelled, rejected, ended, never
      // booked); one that reaches a run ended by hand or failed is kept for the operator.
      closedRun: (run) => (run.status === 'Completed' ? 'duplicate' : 'undelivered'),
      deliver: signalBooking(cancellationRequestedSignal),
    }),
  ];
}
