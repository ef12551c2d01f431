import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
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
  /**
   * Ask the server to hand each new run's first workflow task back in its answer to the start, to
   * a worker of the task queue in this process (BRIDGE_EAGER_START); the client must be on that
   * worker's NativeConnection. A start that finds no free slot there goes through matching.
   */
  eagerStart?: boolean;
}

/**
 * Both booking topics feed the booking's workflow: whichever event comes first starts it, and the
 * workflow orders them (a cancellation waits for its booking).
 */
export function bookingRoutes(options: BookingRouteOptions = {}): Route[] {
  const taskQueue = options.taskQueue ?? bookingTaskQueue;
  const topics = options.topics ?? { bookingEvents: bookingEventsTopic, cancellations: bookingCancellationsTopic };
  const signalBooking =
    <E extends BookingRequested | CancellationRequested>(signal: SignalDefinition<[Traced<E>]>) =>
    async (client: Client, event: E, trace: TraceContext) =>
      void (await sendToBooking(client, signal, { ...event, trace }, { taskQueue, eagerStart: options.eagerStart }));

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

/**
 * Starts the booking's run with `event` as its input, or signals `event` to the run it finds
 * running. A start rather than signal-with-start, because only a start can be eager. A run that has
 * closed takes no signal: the start's AlreadyStarted is rethrown, and the bridge asks the route what
 * the event means for that run (`closedRun`).
 */
export async function sendToBooking<E extends BookingRequested | CancellationRequested>(
  client: Client,
  signal: SignalDefinition<[Traced<E>]>,
  event: Traced<E>,
  { taskQueue, eagerStart = false }: { taskQueue: string; eagerStart?: boolean },
): Promise<WorkflowHandle<typeof bookingWorkflow>> {
  const workflowId = bookingWorkflowId(event.bookingId);
  try {
    return await client.workflow.start(bookingWorkflow, {
      workflowId,
      taskQueue,
      args: [event],
      requestEagerStart: eagerStart,
      ...pipelineStartOptions(event.trace, `booking ${event.bookingId}`),
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const run = client.workflow.getHandle<typeof bookingWorkflow>(workflowId);
    try {
      await run.signal(signal, event);
    } catch (signalled) {
      throw signalled instanceof WorkflowNotFoundError ? err : signalled;
    }
    return run;
  }
}
