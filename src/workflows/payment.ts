import { log, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CardPaymentActivities } from '../activities/card-payment';
import { paymentStateQuery, type PaymentOrder, type PaymentOutcome, type RefundOutcome, type RefundRequest } from '../contracts/payment';
import { oneDecisionPerQuestion, operatorControls } from './operator';
import { patchesOfThisRun } from './patches';
import { paymentLedger } from './refunds';
import { databaseStep, externalCall, localDatabaseStep } from './step-options';

/**
 * Recording the charge (or the decline) and announcing it are a few milliseconds of PostgreSQL and
 * Kafka each. They run as local activities, inside the workflow task that takes the charge's
 * answer, with the same timeout, retries and refusal handling, instead of a round trip through the
 * server each: a payment takes two workflow tasks where it took four. A worker that dies mid-step
 * runs the step again, which all allow (the ledger's unique keys, the event's ID from the payment).
 * Runs that began before this keep the remote steps they started with.
 */
const ledgerStepsLocal = 'payment-ledger-steps-local';

/**
 * One workflow per payment (started for each row the payment API writes, named by its Idempotency-Key): charge
 * the card, record the charge, and tell the process it pays for, as seed 002's command worker and
 * outbox did. A declined card is the payment's answer: the run ends `Declined`, nothing retried.
 * Once the card is charged, a later step that is refused for good, or an operator's abort, gives
 * the money back (the refund is the charge's compensation).
 */
export async function paymentWorkflow(order: PaymentOrder): Promise<PaymentOutcome> {
  const patches = patchesOfThisRun([oneDecisionPerQuestion]);
  const { paymentId } = order;
  const outcome: PaymentOutcome = { paymentId, status: 'Accepted' };
  const operator = operatorControls(patches);
  const ledgerStep = patches.has(ledgerStepsLocal) ? localDatabaseStep : databaseStep;
  const steps = operator.steps<CardPaymentActivities>({
    // The provider's idempotency key comes from the payment: an attempt whose answer was lost is
    // asked again and answered with the same charge.
    chargeCard: externalCall,
    recordCharge: { ...ledgerStep, onRefusal: 'compensate' },
    recordDecline: ledgerStep,
    announcePayment: { ...ledgerStep, onRefusal: 'compensate' },
  });
  const refunds: NonNullable<PaymentOutcome['refund']>[] = [];
  // Its own workers make its refunds: they poll the queue it runs on.
  const ledger = paymentLedger(operator, refunds, workflowInfo().taskQueue);
  setHandler(paymentStateQuery, () => ({ ...outcome, refund: refunds[0] }));

  const charge = await steps.chargeCard(order);
  outcome.providerPaymentId = charge.providerPaymentId;
  if (charge.status === 'Declined') {
    await steps.recordDecline({ paymentId, declineCode: charge.declineCode });
    Object.assign(outcome, { status: 'Declined', declineCode: charge.declineCode });
    log.info('Card declined', { paymentId, declineCode: charge.declineCode });
    operator.setStatus('Rejected');
    return outcome;
  }
  // The ledger may not hold the charge (recording it may be the refused step): the refund names it.
  const refundTheCharge = async () => {
    const reason = `payment ${paymentId} was not completed after its charge`;
    await ledger.refund({ paymentId, reason, charge: { providerPaymentId: charge.providerPaymentId, amountCents: order.amountCents } });
    outcome.status = 'Refunded';
  };
  operator.addCompensation('chargeCard', refundTheCharge, `refund payment ${paymentId} (${order.amountCents} cents)`);

  await steps.recordCharge({ paymentId, providerPaymentId: charge.providerPaymentId });
  outcome.status = 'Charged';
  await steps.announcePayment({ ...order, chargedAt: new Date().toISOString() });
  operator.setStatus('Completed');
  return { ...outcome, refund: refunds[0] };
}

/**
 * A refund nobody's run can make: a copay that reached the bridge after its prescription's run had
 * ended (the bridge starts this, `refund-<paymentId>`, so one payment is refunded once). A refund
 * the provider refuses waits for a person here, visible as every parked step is. A payment the
 * ledger does not have, or has declined, was never charged: nothing is refunded, and the run ends
 * flagged for a person, since something announced a payment that the payment pipeline never took.
 */
export async function paymentRefundWorkflow(request: RefundRequest): Promise<RefundOutcome | NotRefunded> {
  const patches = patchesOfThisRun();
  const operator = operatorControls(patches);
  const ledger = paymentLedger(operator, []);
  if (patches.has(refundLooksUpPayment)) {
    const { paymentId } = request;
    const recorded = await ledger.lookUpPayment(paymentId);
    if (!recorded || recorded.status === 'Declined') {
      const notRefunded = `payment ${paymentId} ${recorded ? 'was declined' : 'is not in the payment ledger'}: nothing was charged, so nothing was refunded`;
      log.warn('Payment not refunded', { paymentId, notRefunded });
      operator.setStatus('Rejected');
      operator.flagForPerson('lookUpPayment', 'PaymentRefused', notRefunded);
      return { paymentId, notRefunded };
    }
  }
  const refund = await ledger.refund(request);
  operator.setStatus('Completed');
  return refund;
}
/** A refund looks the payment up first; before, a payment the ledger lacked waited for a person at `refundPayment`. */
const refundLooksUpPayment = 'refund-looks-up-payment';
interface NotRefunded {
  paymentId: string;
  /** Why, in words: "payment pay_1 is not in the payment ledger: nothing was charged, so nothing was refunded". */
  notRefunded: string;
}

// Every pipeline's workers also run the flag for a run they cannot decode (src/pipelines/pipeline.ts).
export { undecodableRunWorkflow } from './undecodable-run';
