import { msToNumber as ms } from '@temporalio/common';
import {
  condition,
  continueAsNew,
  log,
  ParentClosePolicy,
  patched,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { PrescriptionActivities } from '../activities/prescription';
import type { PaymentActivities } from '../activities/prescription-payment';
import {
  fulfillmentStateQuery,
  paymentCompletedSignal,
  type FulfillmentState,
  type FulfillmentStatus,
  type PaymentCompleted,
  type PrescriptionRequest,
  shipmentTrackingWorkflowId,
  trackingPollsPerRun,
} from '../contracts/prescription';
import { operatorControls, type OperatorControls } from './operator';
import { databaseStep, externalCall } from './step-options';
import type { Duration } from '@temporalio/common';

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
  const deliveredAt = patched(trackedByChild)
    ? await trackedUntilDeliveredOrGivenUp(operator, label.trackingNumber, request)
    : await trackDelivery(steps, label.trackingNumber, request);
  await steps.recordDelivery({ prescriptionId, trackingNumber: label.trackingNumber, deliveredAt });
  state.deliveredAt = deliveredAt;
  return deliveredAt ? end('Delivered') : end('DeliveryOverdue', `not delivered within ${request.timings.deliveryDeadline}`);

  function end(status: FulfillmentStatus, reason?: string): FulfillmentState {
    Object.assign(state, { status, reason });
    log.info('Prescription fulfillment ended', { prescriptionId, status });
    operator.setStatus(status === 'Delivered' || status === 'DeliveryOverdue' ? 'Completed' : 'Rejected');
    if (state.unclaimedPaymentId && patched(latePaymentSurfaced)) {
      operator.flagForPerson(
        'expirePaymentLink',
        'LatePayment',
        `payment ${state.unclaimedPaymentId} arrived while the payment link was being closed: refund it, or fill the prescription by hand`,
      );
    }
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
    // A payment that came while the link was being closed (the step held by an outage) is money
    // nobody took: the run ends asking a person for it (see end()).
    if (payments.received) {
      log.error('A payment arrived while the payment link was being closed', { prescriptionId, paymentId: payments.received.paymentId });
      state.unclaimedPaymentId = payments.received.paymentId;
    }
    return false;
  }
  const payment = payments.received!;
  await steps.recordPayment(payment);
  state.paymentId = payment.paymentId;
  return true;
}

/**
 * Tracking is a child workflow that starts over (continue-as-new) every `pollsPerRun` polls, so
 * its history stays bounded however short the interval and long the wait: every 2 minutes for 10
 * days was 7,200 polls and about 80,000 events in one history, past Temporal's limit. At the
 * deadline the parcel is not given up on: the run asks a person to chase the carrier and goes on
 * tracking, so a later delivery is still recorded. Runs before this tracked in a loop of their own
 * and ended `DeliveryOverdue` at the deadline.
 */
const trackedByChild = 'tracked-by-child-until-delivered';
/** A payment that came while its link was being closed ends the run asking a person; before, nothing said so. */
const latePaymentSurfaced = 'late-payment-surfaced';


async function trackedUntilDeliveredOrGivenUp(
  operator: OperatorControls,
  trackingNumber: string,
  { prescriptionId, timings }: PrescriptionRequest,
): Promise<string | undefined> {
  const tracking = await startChild(shipmentTrackingWorkflow, {
    workflowId: shipmentTrackingWorkflowId(prescriptionId),
    args: [{ trackingNumber, interval: timings.trackingInterval }],
    // Tracking serves this run only: it ends with it, whether delivered or given up on.
    parentClosePolicy: ParentClosePolicy.TERMINATE,
  });
  const delivered = tracking.result();
  const overdue = sleep(timings.deliveryDeadline).then(() => 'overdue' as const);
  if ((await Promise.race([delivered, overdue])) !== 'overdue') return delivered;

  log.warn('Parcel overdue; asking a person to chase the carrier, still tracking', { prescriptionId, trackingNumber });
  const reason = `parcel ${trackingNumber} not delivered within ${timings.deliveryDeadline}: chase the carrier`;
  async function untilGivenUp(): Promise<'givenUp'> {
    const decisions = {
      retry: 'Keep tracking (these details stay until it is delivered)',
      abort: 'Stop tracking: the run ends DeliveryOverdue',
    };
    while ((await operator.askPerson('trackShipment', 'Overdue', reason, decisions)) !== 'abort') {
      log.info('Operator asked to keep tracking', { prescriptionId });
    }
    return 'givenUp';
  }
  const outcome = await Promise.race([delivered, untilGivenUp()]);
  if (outcome === 'givenUp') return undefined;
  operator.setStatus('Running');
  return outcome;
}

export interface ShipmentTracking {
  trackingNumber: string;
  interval: Duration;
  /** Polls so far across runs; only for the logs. */
  polls?: number;
}


/**
 * Asks the carrier where the parcel is every `interval`, on durable timers (a worker restart or a
 * week of waiting costs nothing), until it is delivered; returns when it was.
 */
export async function shipmentTrackingWorkflow(tracking: ShipmentTracking): Promise<string> {
  const operator = operatorControls();
  const { trackShipment } = operator.steps<PrescriptionActivities>({ trackShipment: externalCall });
  for (let poll = 1; ; poll++) {
    const update = await trackShipment(tracking.trackingNumber);
    if (update.status === 'delivered') return update.deliveredAt ?? new Date().toISOString();
    if (poll >= trackingPollsPerRun || workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof shipmentTrackingWorkflow>({ ...tracking, polls: (tracking.polls ?? 0) + poll });
    }
    await sleep(tracking.interval);
  }
}

/**
 * How runs before `trackedByChild` track: ask the carrier every tracking interval, on durable
 * timers, until it is delivered or the deadline passes.
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

// Every pipeline's workers also run the flag for a run they cannot decode (src/pipelines/pipeline.ts).
export { undecodableRunWorkflow } from './undecodable-run';
