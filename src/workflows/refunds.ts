import { upsertSearchAttributes } from '@temporalio/workflow';
import type { RefundActivities } from '../activities/refund';
import { paymentTaskQueue, type RefundOutcome, type RefundRequest } from '../contracts/payment';
import { refundStatusKey } from '../contracts/pipeline';
import type { OperatorControls } from './operator';
import { externalCall } from './step-options';

/**
 * A refund is a call to the card processor, made by the payment pipeline's workers (they hold its
 * client and the ledger) on their task queue, whichever run asks: an outage is retried, a refusal
 * waits for a person at the step `refundPayment`.
 */
export const refundStep = {
  activity: { ...externalCall.activity, taskQueue: paymentTaskQueue },
  outage: externalCall.outage,
};

/**
 * How a run gives money back and checks what it was paid. Each refund is visible on the run: the
 * `RefundStatus` search attribute, and `refunds`, which the caller shows in its state query.
 * `taskQueue`: where the payment workers poll; the contract's unless a test runs its own.
 */
export function paymentLedger(operator: OperatorControls, refunds: RefundOutcome[], taskQueue = paymentTaskQueue) {
  const step = { ...refundStep, activity: { ...refundStep.activity, taskQueue } };
  const steps = operator.steps<RefundActivities>({ refundPayment: step, lookUpPayment: step });
  return {
    lookUpPayment: steps.lookUpPayment,
    async refund(request: RefundRequest): Promise<RefundOutcome> {
      upsertSearchAttributes([{ key: refundStatusKey, value: 'Refunding' }]);
      const refund = await steps.refundPayment(request);
      refunds.push(refund);
      upsertSearchAttributes([{ key: refundStatusKey, value: 'Refunded' }]);
      return refund;
    },
  };
}
