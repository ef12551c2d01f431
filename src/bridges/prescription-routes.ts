import { WorkflowIdConflictPolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  defaultFulfillmentTimings,
  paymentCompletedSignal,
  prescriptionTaskQueue,
  prescriptionTopics,
  prescriptionWorkflowId,
  type FulfillmentState,
  type FulfillmentTimings,
  type PaymentCompleted,
} from '../contracts/prescription';
import { paymentCompletedSchema, prescriptionIntakeSchema } from '../contracts/prescription-events';
import { prescriptionFulfillmentWorkflow } from '../workflows/prescription';
import { changedFields, fingerprint } from './fingerprint';
import { howRunEnded, route, Undeliverable, type Route } from './route';
import { pipelineStartOptions } from '../trace';

export interface PrescriptionRouteOptions {
  taskQueue?: string;
  topics?: { intakeReceived: string; paymentCompleted: string };
  /** Written into each run's input; configuration (src/config.ts) gives them in production. */
  timings?: FulfillmentTimings;
}

/** Where a run keeps the fingerprint of the intake it was started from. */
const intakeMemoKey = 'intake';

/**
 * An intake starts its prescription's run (one per prescription while Temporal keeps it; after
 * that, a redelivered intake's run finds the prescription's final status and ends in it); a
 * payment signals the
 * run waiting for it. A payment no run can take (its link expired, or no such prescription) is
 * parked: it is money, and a person refunds it or fills the prescription by hand.
 */
export function prescriptionRoutes(options: PrescriptionRouteOptions = {}): Route[] {
  const taskQueue = options.taskQueue ?? prescriptionTaskQueue;
  const topics = options.topics ?? prescriptionTopics;
  const timings = options.timings ?? defaultFulfillmentTimings;
  return [
    route({
      topic: topics.intakeReceived,
      schema: prescriptionIntakeSchema,
      orderingKey: (intake) => intake.prescriptionId,
      // A closed run of this prescription already handled this intake; a different one (a
      // correction) is for a person, named by the fields that differ, as is any intake for a run
      // ended by hand. A run started before runs kept their intake's fingerprint counts it the same.
      closedRun: (run, intake) => {
        if (run.status !== 'Completed') return 'undelivered';
        const changed = changedFields(run.memo?.[intakeMemoKey], intake);
        if (!changed?.length) return 'duplicate';
        return {
          undelivered: `intake differs from the one prescription ${intake.prescriptionId}'s run fulfilled (fields: ${changed.join(', ')}); the run ended ${run.outcome ?? run.status}`,
        };
      },
      deliver: async (client, intake, trace) => {
        const options = pipelineStartOptions(trace, `prescription ${intake.prescriptionId}`);
        await client.workflow.start(prescriptionFulfillmentWorkflow, {
          workflowId: prescriptionWorkflowId(intake.prescriptionId),
          taskQueue,
          args: [{ ...intake, trace, timings }],
          ...options,
          memo: { ...options.memo, [intakeMemoKey]: fingerprint(intake) },
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        });
      },
    }),
    route({
      topic: topics.paymentCompleted,
      schema: paymentCompletedSchema,
      orderingKey: (payment) => payment.prescriptionId,
      // Signals never meet a closed run here (they fail with NotFound, handled in deliver).
      closedRun: () => 'undelivered',
      deliver: async (client, payment) => {
        const workflowId = prescriptionWorkflowId(payment.prescriptionId);
        try {
          await client.workflow.getHandle(workflowId).signal(paymentCompletedSignal, payment);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          return paymentAfterRunEnded(client, workflowId, payment);
        }
      },
    }),
  ];
}

/**
 * The run is closed (or never was). The payment it recorded coming again is a duplicate (including
 * our own `payment.completed` for nothing owed); any other payment was not taken by anyone.
 */
async function paymentAfterRunEnded(client: Client, workflowId: string, payment: PaymentCompleted): Promise<'duplicate'> {
  const run = await howRunEnded(client, workflowId);
  if (run === 'missing') {
    throw new Undeliverable(`payment ${payment.paymentId}: no fulfillment run exists for prescription ${payment.prescriptionId}`);
  }
  if (run === 'running') throw new Error(`workflow ${workflowId} is running again; signalling again`);
  if ((run.result as FulfillmentState | undefined)?.paymentId === payment.paymentId) return 'duplicate';
  throw new Undeliverable(
    `payment ${payment.paymentId}: the fulfillment run of prescription ${payment.prescriptionId} ended (${run.outcome ?? run.status}) without it; refund it or fill the prescription by hand`,
  );
}
