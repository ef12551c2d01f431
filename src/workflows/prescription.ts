import { msToNumber as ms } from '@temporalio/common';
import { condition, log, setHandler, sleep } from '@temporalio/workflow';
import type { PrescriptionActivities } from '../activities/prescription';
import type { PaymentActivities } from '../activities/prescription-payment';
import {
  fulfillmentStateQuery,
  paymentCompletedSignal,
  type FulfillmentState,
  type FulfillmentStatus,
  type PaymentCompleted,
  type PrescriptionRequest,
} from '../contracts/prescription';
import { operatorControls, type OperatorControls } from './operator';
import { databaseStep, externalCall } from './step-options';

/** Each step of fulfillment, named after its activity (and its audit log entry), with its option set. */
const fulfillmentSteps = (operator: OperatorControls) =>
  operator.steps<PrescriptionActivities & PaymentActivities>({
    validatePrescription: databaseStep,
    // The pharmacy network, the insurer and the carrier are other companies' systems: their
    // refusals (4xx) are thrown non-retryable and wait for a person; their outages are retried.
    enrollPatient: externalCall,
    selectPharmacy: externalCall,
    adjudicateClaim: externalCall,
    requestPayment: databaseStep,
    recordPayment: databaseStep,
    expirePaymentLink: databaseStep,
    createShippingLabel: externalCall,
    trackShipment: externalCall,
    recordDelivery: databaseStep,
  });
type FulfillmentSteps = ReturnType<typeof fulfillmentSteps>;

/**
 * One workflow per prescription (the bridge starts it from `prescription.intake.received`): the
 * seed's chain of workers as steps. Each step records its result with an audit row and announces
 * it on the seed's topic. An invalid prescription, an ineligible patient, a rejected claim and an
 * expired payment link are answers, not failures: the run ends in that state.
 */
export async function prescriptionFulfillmentWorkflow(request: PrescriptionRequest): Promise<FulfillmentState> {
  const { prescriptionId, patient, medication, insurance } = request;
  const state: FulfillmentState = { status: 'Validating', prescriptionId };
  const operator = operatorControls();
  const steps = fulfillmentSteps(operator);
  const payments = awaitPayments(state);
  setHandler(fulfillmentStateQuery, () => state);

  const validation = await steps.validatePrescription(request);
  // The prescription ended before this run (its intake came again after its run left Temporal):
  // end as recorded. Only a result with the new `ended` field takes this branch, and results
  // recorded before the field existed lack it, so old histories replay unchanged without a patch.
  if (validation.ended) return end(Object.assign(state, validation.ended).status, validation.ended.reason);
  if (!validation.valid) return end('Invalid', validation.problems.join('; '));

  state.status = 'Enrolling';
  const enrollment = await steps.enrollPatient(request);
  if (!enrollment.eligible) return end('Ineligible', enrollment.reason);

  state.status = 'SelectingPharmacy';
  const { ndc, quantity } = medication;
  const pharmacy = await steps.selectPharmacy({ prescriptionId, ndc, quantity, postalCode: patient.address.postalCode });
  state.pharmacyId = pharmacy.pharmacyId;

  state.status = 'Adjudicating';
  const claim = await steps.adjudicateClaim({ prescriptionId, ...insurance, ndc, quantity, pharmacyId: pharmacy.pharmacyId });
  state.claimId = claim.claimId;
  if (claim.status === 'rejected') return end('ClaimRejected', claim.reason);
  state.copayCents = claim.copayCents;

  if (!(await collectPayment(steps, state, payments, request))) return end('PaymentExpired', 'the payment link expired unpaid');

  state.status = 'Shipping';
  const label = await steps.createShippingLabel({ prescriptionId, patientId: patient.patientId, pharmacyId: pharmacy.pharmacyId });
  state.trackingNumber = label.trackingNumber;

  state.status = 'InTransit';
  const deliveredAt = await trackDelivery(steps, label.trackingNumber, request);
  await steps.recordDelivery({ prescriptionId, trackingNumber: label.trackingNumber, deliveredAt });
  state.deliveredAt = deliveredAt;
  return deliveredAt ? end('Delivered') : end('DeliveryOverdue', `not delivered within ${request.timings.deliveryDeadline}`);

  function end(status: FulfillmentStatus, reason?: string): FulfillmentState {
    Object.assign(state, { status, reason });
    log.info('Prescription fulfillment ended', { prescriptionId, status });
    operator.setStatus(status === 'Delivered' || status === 'DeliveryOverdue' ? 'Completed' : 'Rejected');
    return state;
  }
}

/** Payments announced on `payment.completed`; the first one counts, later ones are only logged. */
function awaitPayments(state: FulfillmentState): { received?: PaymentCompleted } {
  const payments: { received?: PaymentCompleted } = {};
  setHandler(paymentCompletedSignal, (payment) => {
    if (!payments.received) payments.received = payment;
    else if (payment.paymentId !== payments.received.paymentId) {
      log.warn('A second payment arrived for the prescription; it needs a refund by hand', {
        prescriptionId: state.prescriptionId,
        paymentId: payment.paymentId,
      });
    }
  });
  return payments;
}

/**
 * Asks for the copay. Nothing owed goes straight on; otherwise the run waits on a durable timer for
 * the provider's `payment.completed` until the link expires, then closes the link. False: expired.
 */
async function collectPayment(
  steps: FulfillmentSteps,
  state: FulfillmentState,
  payments: { received?: PaymentCompleted },
  { prescriptionId, timings }: PrescriptionRequest,
): Promise<boolean> {
  state.status = 'AwaitingPayment';
  const expiresAt = new Date(Date.now() + ms(timings.paymentWindow)).toISOString();
  const requested = await steps.requestPayment({ prescriptionId, amountCents: state.copayCents ?? 0, expiresAt });
  if (requested.status === 'NothingOwed') {
    state.paymentId = requested.paymentId;
    return true;
  }
  Object.assign(state, { paymentLinkId: requested.linkId, paymentLinkExpiresAt: requested.expiresAt });

  const open = Date.parse(requested.expiresAt) - Date.now();
  const paid = payments.received !== undefined || (open > 0 && (await condition(() => payments.received !== undefined, open)));
  if (!paid) {
    await steps.expirePaymentLink({ prescriptionId, linkId: requested.linkId });
    return false;
  }
  const payment = payments.received!;
  await steps.recordPayment(payment);
  state.paymentId = payment.paymentId;
  return true;
}

/**
 * Asks the carrier where the parcel is every tracking interval, on durable timers (a worker restart
 * or a week of waiting costs nothing), until it is delivered or the deadline passes.
 */
async function trackDelivery(steps: FulfillmentSteps, trackingNumber: string, { timings }: PrescriptionRequest): Promise<string | undefined> {
  const deadline = Date.now() + ms(timings.deliveryDeadline);
  for (;;) {
    const update = await steps.trackShipment(trackingNumber);
    if (update.status === 'delivered') return update.deliveredAt ?? new Date().toISOString();
    const remaining = deadline - Date.now();
    if (remaining <= 0) return undefined;
    await sleep(Math.min(ms(timings.trackingInterval), remaining));
  }
}
