import {
  bookingCancellationsTopic,
  bookingEventsTopic,
  bookingRequestedSchema,
  bookingRequestedSignal,
  bookingTaskQueue,
  bookingWorkflowId,
  cancellationRequestedSchema,
  cancellationRequestedSignal,
} from '../contracts/booking';
import { bookingWorkflow } from '../workflows/booking';
import { route, type Route } from './kafka-bridge';
import { bridgedStartOptions } from './start-options';

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
  return [
    route({
      topic: topics.bookingEvents,
      schema: bookingRequestedSchema,
      orderingKey: (event) => event.bookingId,
      // A signal to a closed run is lost, not a duplicate: see Route.closedRun.
      closedRun: 'undelivered',
      deliver: async (client, event, trace) => {
        await client.workflow.signalWithStart(bookingWorkflow, {
          workflowId: bookingWorkflowId(event.bookingId),
          taskQueue,
          // The run's input is the event that started it, so the Web UI shows what arrived first.
          args: [{ ...event, trace }],
          signal: bookingRequestedSignal,
          signalArgs: [{ ...event, trace }],
          ...bridgedStartOptions(trace, `booking ${event.bookingId}`),
        });
      },
    }),
    route({
      topic: topics.cancellations,
      schema: cancellationRequestedSchema,
      orderingKey: (event) => event.bookingId,
      closedRun: 'undelivered',
      deliver: async (client, event, trace) => {
        await client.workflow.signalWithStart(bookingWorkflow, {
          workflowId: bookingWorkflowId(event.bookingId),
          taskQueue,
          args: [{ ...event, trace }],
          signal: cancellationRequestedSignal,
          signalArgs: [{ ...event, trace }],
          ...bridgedStartOptions(trace, `booking ${event.bookingId}`),
        });
      },
    }),
  ];
}
