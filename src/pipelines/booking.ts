import path from 'node:path';
import { createBookingActivities } from '../activities/booking';
import { bookingRoutes } from '../bridges/booking-routes';
import { bookingCancellationsTopic, bookingEventsTopic, bookingTaskQueue } from '../contracts/booking';
import { bookingDemo } from '../demo/bookings';
import { bookingWorkflow } from '../workflows/booking';
import { moduleFile } from '../module-file';
import { everyPipelinesActivities, everyPipelinesWorkflowTypes, type Pipeline } from './pipeline';
import { bookingSettings } from './booking-settings';

/** Booking (seed 004): booking and cancellation events signal one workflow per booking. */
export const bookingPipeline: Pipeline = {
  name: 'booking',
  settings: bookingSettings,
  taskQueue: bookingTaskQueue,
  bridge: {
    consumerGroup: 'booking-workflow-bridge',
    consumes: [
      { topic: bookingEventsTopic, partitions: 3 },
      { topic: bookingCancellationsTopic, partitions: 3 },
    ],
    routes: () => bookingRoutes(),
  },
  emits: [],
  workflowsPath: moduleFile(__dirname, '..', 'workflows', 'booking'),
  workflowTypes: [bookingWorkflow.name, ...everyPipelinesWorkflowTypes],
  createActivities: ({ db }) => ({ ...createBookingActivities(db), ...everyPipelinesActivities() }),
  historiesPath: path.join(__dirname, '..', '..', 'test', 'histories', 'scenarios', 'booking.ts'),
  demo: bookingDemo,
};
