import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { paymentRefundWorkflowId, paymentTaskQueue } from '../contracts/payment';
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
import { paymentRefundWorkflow } from '../workflows/payment';
import { prescriptionFulfillmentWorkflow } from '../workflows/prescription';
import { changedFields, fingerprint } from './fingerprint';
import { howRunEnded, route, Undeliverable, type Route } from './route';
import { pipelineStartOptions, type TraceContext } from '../trace';

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
 * run waiting for it. A payment that comes after its run ended is refunded by the payment
 * pipeline; one for a prescription without a run (none, or one Temporal no longer keeps) or whose
 * run was ended by hand is parked: it is money, and a person refunds it or fills the prescription.
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
      deliver: async (client, payment, trace) => {
        const workflowId = prescriptionWorkflowId(payment.prescriptionId);
        try {
          await client.workflow.getHandle(workflowId).signal(paymentCompletedSignal, payment);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          return paymentAfterRunEnded(client, workflowId, payment, trace);
        }
      },
    }),
  ];
}

/**
 * The run is closed (or never was). The payment it recorded coming again is a duplicate (including
 * our own `payment.completed` for nothing owed). Any other payment to a run that completed or was
 * aborted is money nobody will take: the payment pipeline refunds it (once, by its workflow ID,
 * after checking the ledger has it). A run ended by hand (terminated, cancelled, timed out) cannot
 * say which payment it took, and no run at all leaves nothing to judge by: those are parked.
 */
async function paymentAfterRunEnded(client: Client, workflowId: string, payment: PaymentCompleted, trace: TraceContext): Promise<'duplicate' | void> {
  const run = await howRunEnded(client, workflowId);
  if (run === 'missing') {
    throw new Undeliverable(`payment ${payment.paymentId}: no fulfillment run exists for prescription ${payment.prescriptionId}`);
  }
  if (run === 'running') throw new Error(`workflow ${workflowId} is running again; signalling again`);
  if ((run.result as FulfillmentState | undefined)?.paymentId === payment.paymentId) return 'duplicate';
  if (run.status !== 'Completed' && run.status !== 'Failed') {
    throw new Undeliverable(
      `payment ${payment.paymentId}: the fulfillment run of prescription ${payment.prescriptionId} was ended by hand (${run.status}); refund it or fill the prescription by hand`,
    );
  }
  const { paymentId, prescriptionId } = payment;
  try {
    await client.workflow.start(paymentRefundWorkflow, {
      taskQueue: paymentTaskQueue,
      workflowId: paymentRefundWorkflowId(paymentId),
      args: [{ paymentId, reason: `payment for prescription ${prescriptionId} came after its run ended (${run.outcome ?? run.status})` }],
      ...pipelineStartOptions(trace, `refund of payment ${paymentId}`),
    });
  } catch (err) {
    // Started before (this payment delivered again): one refund per payment.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
