import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createCardPaymentActivities } from '../../../src/activities/card-payment';
import { createRefundActivities } from '../../../src/activities/refund';
import { paymentRefundWorkflowId, paymentTaskQueue, paymentWorkflowId, type PaymentRequestBody } from '../../../src/contracts/payment';
import { operatorDecisionSignal } from '../../../src/contracts/pipeline';
import { createPaymentProviderClient } from '../../../src/partners/payment-provider';
import { paymentApiWithRuns, paymentRun } from '../../support/payment-api';
import { activityInterceptors } from '../../../src/workers/workflows-path';
import { paymentRefundWorkflow } from '../../../src/workflows/payment';
import { createPaymentProvider, ensurePaymentProviderSchema, testCards } from '../../../stand-ins/payment-provider/provider';
import type { PipelineHistories, StackRecordingContext } from './scenarios';

async function onStack({ config, db, producer, client, taskQueue, run, trace, waitUntilParked }: StackRecordingContext) {
  // The real dependencies, with the recorder's own card processor (so it can refuse a refund) and
  // the payment API in this process, which writes each payment's row, and the starter of its runs.
  await ensurePaymentProviderSchema(db);
  const provider = createPaymentProvider(db);
  const providerClient = createPaymentProviderClient({ url: await provider.listen(0), timeoutMs: config.PARTNER_CALL_TIMEOUT_MS });
  const api = await paymentApiWithRuns({ db, client, taskQueue });

  let refuseAnnouncement = false;
  let refuseRefund = false;
  const real = createCardPaymentActivities({ db, producer, provider: providerClient });
  const activities = {
    ...real,
    // A payment's refund runs on the queue its run runs on (its own workers make it).
    ...createRefundActivities({ db, provider: providerClient }),
    recordCharge: async (...args: Parameters<typeof real.recordCharge>) => {
      await real.recordCharge(...args);
      // The charge is through: the next request the processor gets is the refund.
      if (refuseRefund) Object.assign(provider.faults, { failNext: 1, failStatus: 422 });
    },
    announcePayment: async (...args: Parameters<typeof real.announcePayment>) => {
      if (refuseAnnouncement) throw ApplicationFailure.create({ message: 'recorded refusal of the announcement', nonRetryable: true });
      return real.announcePayment(...args);
    },
  };
  // Refunds run on the payment pipeline's task queue whichever run asks (src/workflows/refunds.ts).
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const refunds = await Worker.create({
    connection,
    taskQueue: paymentTaskQueue,
    activities: createRefundActivities({ db, provider: providerClient }),
    interceptors: { activity: activityInterceptors },
  });
  const refunding = refunds.run();

  /** POSTs a payment to the API as a client would; answers its workflow's handle. */
  const pay = async (n: string, card: string = testCards.succeeds) => {
    const body: PaymentRequestBody = {
      amountCents: 4_900,
      currency: 'USD',
      card,
      purpose: { kind: 'course', studentId: `student_rec_${run}_${n}`, courseId: 'course_rec' },
    };
    const res = await api.inject({
      method: 'POST',
      url: '/payments',
      headers: { 'idempotency-key': `record-${run}-${n}`, 'x-correlation-id': trace.correlationId },
      payload: body,
    });
    if (res.statusCode !== 202) throw new Error(`the payment API answered ${res.statusCode}: ${res.body}`);
    return paymentRun(client, res.json<{ paymentId: string }>().paymentId);
  };
  /** The run's end, which for a compensated payment is a failure. */
  const ended = (h: { result(): Promise<unknown> }) => h.result().catch(() => undefined);

  const scenarios: Record<string, () => Promise<string>> = {
    'payment-charged-and-announced': async () => {
      const h = await pay('charged');
      await h.result();
      return h.workflowId;
    },
    'payment-declined': async () => {
      const h = await pay('declined', testCards.declined);
      await h.result();
      return h.workflowId;
    },
    'payment-refused-after-charge-then-refunded': async () => {
      refuseAnnouncement = true;
      const h = await pay('refunded');
      await ended(h);
      refuseAnnouncement = false;
      return h.workflowId;
    },
    'payment-refund-refused-then-retried': async () => {
      refuseAnnouncement = refuseRefund = true;
      const h = await pay('refund_refused');
      await waitUntilParked(h.workflowId).finally(() => (refuseAnnouncement = refuseRefund = false));
      await h.signal(operatorDecisionSignal, 'retry');
      await ended(h);
      return h.workflowId;
    },
    'refund-charged-payment': async () => {
      const payment = await pay('to_refund');
      const { paymentId } = await payment.result();
      const h = await client.workflow.start(paymentRefundWorkflow, {
        workflowId: paymentRefundWorkflowId(paymentId),
        taskQueue,
        args: [{ paymentId, reason: `recorded refund of ${paymentId}` }],
      });
      await h.result();
      return h.workflowId;
    },
    // A payment.completed naming a payment the ledger never had, after its prescription's run ended:
    // nothing was charged, so nothing is refunded, and a person is told.
    'refund-payment-not-in-ledger': async () => {
      const paymentId = `pay_forged_rec_${run}`;
      const h = await client.workflow.start(paymentRefundWorkflow, {
        workflowId: paymentRefundWorkflowId(paymentId),
        taskQueue,
        args: [{ paymentId, reason: `recorded refund of ${paymentId}` }],
      });
      const outcome = await h.result();
      if (!('notRefunded' in outcome)) throw new Error(`${paymentId} was refunded`);
      return h.workflowId;
    },
  };
  return {
    activities,
    scenarios,
    close: async () => {
      refunds.shutdown();
      await refunding;
      await connection.close();
      await api.close();
      await provider.close();
    },
  };
}

export const histories: PipelineHistories = { onStack };
