import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { purchaseConfirmedTopic, purchaseTaskQueue, purchaseWorkflowId } from '../contracts/purchase';
import { purchaseConfirmedSchema } from '../contracts/purchase-events';
import { purchaseToSessionsWorkflow } from '../workflows/purchase';
import { route, type Route } from './route';
import { pipelineStartOptions } from '../trace';

export interface PurchaseRouteOptions {
  taskQueue?: string;
  topic?: string;
  /** Where the runs' refunds are made; the payment workers' own task queue unless a test runs its own. */
  paymentTaskQueue?: string;
}

/**
 * Each confirmation starts its payment's workflow. A redelivered confirmation finds that workflow
 * (running or closed) and is acknowledged as a duplicate; one for a course the student already has
 * active starts a workflow that finds the active purchase and refunds the payment.
 */
export function purchaseRoutes(options: PurchaseRouteOptions = {}): Route[] {
  const taskQueue = options.taskQueue ?? purchaseTaskQueue;
  const { paymentTaskQueue } = options;
  return [
    route({
      topic: options.topic ?? purchaseConfirmedTopic,
      schema: purchaseConfirmedSchema,
      orderingKey: (event) => `${event.studentId}/${event.courseId}`,
      // Purchase events are keyed by student (docs/purchase-to-sessions.md), confirmations too.
      kafkaKey: (event) => event.studentId,
      // REJECT_DUPLICATE: a closed run of this payment already ran it.
      closedRun: () => 'duplicate',
      deliver: async (client, event, trace) => {
        await client.workflow.start(purchaseToSessionsWorkflow, {
          workflowId: purchaseWorkflowId(event.paymentId),
          taskQueue,
          args: [{ ...event, trace, ...(paymentTaskQueue && { paymentTaskQueue }) }],
          ...pipelineStartOptions(trace, `purchase ${event.paymentId}`),
          // A redelivery while the first run is still going is simply that run.
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        });
      },
    }),
  ];
}
