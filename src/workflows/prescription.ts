import { msToNumber as ms } from '@temporalio/common';
import {
  condition,
  continueAsNew,
  log,
  ParentClosePolicy,
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
import type { RecordedPayment, RefundOutcome, RefundRequest } from '../contracts/payment';
import { oneDecisionPerQuestion, operatorControls, type OperatorControls } from './operator';
import { patchesOfThisRun, type RunPatches } from './patches';
import { paymentLedger } from './refunds';
import { databaseStep, externalCall, localDatabaseStep, pollUntilDone } from './step-options';
import type { Duration } from '@temporalio/common';

/**
 * The PostgreSQL steps (each with its audit row and its event) are a few milliseconds each: they
 * run as local activities, inside the workflow task that needs them, with the same timeout, retries
 * and outage handling, instead of a round trip through the server each. A worker that dies
 * mid-step runs the step again, which all allow (unique keys, event IDs from the business
 * identity). The partners' calls stay remote: they take seconds and have timeouts of their own.
 * Runs that began before this keep their remote steps.
 */
const ledgerStepsLocal = 'prescription-ledger-steps-local';

/** Each step of fulfillment, named after its activity (and its audit log entry), with its option set. */
const fulfillmentSteps = (operator: OperatorControls, local: boolean) => {
  const ledgerStep = local ? localDatabaseStep : databaseStep;
  return operator.steps<PrescriptionActivities & PaymentActivities>({
    validatePrescription: ledgerStep,
    checkDemographics: ledgerStep,
    // The pharmacy network, the insurer and the carrier are other companies' systems: their
    // refusals (4xx) are thrown non-retryable and wait for a person; their outages are retried.
    enrollPatient: externalCall,
    selectPharmacy: externalCall,
    adjudicateClaim: externalCall,
    requestPayment: ledgerStep,
    recordPayment: ledgerStep,
    expirePaymentLink: ledgerStep,
    closePaymentLink: ledgerStep,
    recordAbort: ledgerStep,
    createShippingLabel: externalCall,
    trackShipment: externalCall,
    recordDelivery: ledgerStep,
  });
};
type FulfillmentSteps = ReturnType<typeof fulfillmentSteps>;

/**
 * One workflow per prescription (the bridge starts it from `prescription.intake.received`): the
 * seed's chain of workers as steps. Each step records its result with an audit row and announces
 * it on the seed's topic. An invalid prescription, an ineligible patient, a rejected claim and an
 * expired payment link are answers, not failures: the run ends in that state.
 */
export async function prescriptionFulfillmentWorkflow(request: PrescriptionRequest): Promise<FulfillmentState> {
  const patches = patchesOfThisRun([trackedByRetries, oneDecisionPerQuestion]);
  const { prescriptionId, patient, medication, insurance } = request;
  const state: FulfillmentState = { status: 'Validating', prescriptionId };
  const operator = operatorControls(patches);
  const steps = fulfillmentSteps(operator, patches.has(ledgerStepsLocal));
  const payments = awaitPayments();
  setHandler(fulfillmentStateQuery, () => state);
  const desk = patches.has(paymentsChecked) ? paymentDesk(operator, steps, state, payments) : undefined;
  if (desk) {
    // Registered first, so an abort runs it last: the row names what the other undos gave back.
    operator.addCompensation(
      'recordAbort',
      async () => {
        await desk.close(`prescription ${prescriptionId} aborted`);
        const refundedPaymentIds = (state.refunds ?? []).map((r) => r.paymentId);
        await steps.recordAbort({ prescriptionId, closedLinkId: desk.closedLinkId, refundedPaymentIds });
      },
      `record the abort in prescription ${prescriptionId}'s audit log`,
    );
  }

  const validation = await steps.validatePrescription(request);
  // The prescription ended before this run (its intake came again after its run left Temporal):
  // end as recorded. Only a result with the new `ended` field takes this branch, and results
  // recorded before the field existed lack it, so old histories replay unchanged without a patch.
  if (validation.ended) return end(Object.assign(state, validation.ended).status, validation.ended.reason);
  if (!validation.valid) return end('Invalid', validation.problems.join('; '));

  state.status = 'Enrolling';
  const enrollment = patches.has(demographicsChangeHeld) ? await enrolledOnceAPersonAgrees(operator, steps, request) : await steps.enrollPatient(request);
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

  const paid = desk
    ? await collectCheckedPayment(operator, steps, state, desk, request)
    : await collectPayment(steps, state, payments, request);
  if (!paid) return end('PaymentExpired', 'the payment link expired unpaid');

  state.status = 'Shipping';
  const label = await steps.createShippingLabel({ prescriptionId, patientId: patient.patientId, pharmacyId: pharmacy.pharmacyId });
  state.trackingNumber = label.trackingNumber;

  state.status = 'InTransit';
  const deliveredAt = await tracked(patches, operator, steps, label.trackingNumber, request);
  await steps.recordDelivery({ prescriptionId, trackingNumber: label.trackingNumber, deliveredAt });
  state.deliveredAt = deliveredAt;
  return deliveredAt ? end('Delivered') : end('DeliveryOverdue', `not delivered within ${request.timings.deliveryDeadline}`);

  async function end(status: FulfillmentStatus, reason?: string): Promise<FulfillmentState> {
    Object.assign(state, { status, reason });
    // Every payment that reached the run is settled (taken, or refused and refunded) before it ends.
    if (desk) await desk.close(`prescription ${prescriptionId} ended ${status} without taking a payment`);
    log.info('Prescription fulfillment ended', { prescriptionId, status });
    operator.setStatus(status === 'Delivered' || status === 'DeliveryOverdue' ? 'Completed' : 'Rejected');
    if (state.unclaimedPaymentId && patches.has(latePaymentSurfaced)) {
      operator.flagForPerson(
        'expirePaymentLink',
        'LatePayment',
        `payment ${state.unclaimedPaymentId} arrived while the payment link was being closed: refund it, or fill the prescription by hand`,
      );
    }
    return state;
  }
}

/**
 * An intake that would change its patient's demographics while another prescription of theirs is
 * open waits for a person: it may be a forged intake naming someone else's patient ID. Before
 * this, enrollment overwrote the patient's record, and the open prescription's label read it.
 */
const demographicsChangeHeld = 'demographics-change-held';

async function enrolledOnceAPersonAgrees(operator: OperatorControls, steps: FulfillmentSteps, request: PrescriptionRequest) {
  const { changedFields, openPrescriptionIds } = await steps.checkDemographics(request);
  if (!changedFields.length || !openPrescriptionIds.length) return steps.enrollPatient(request);
  log.warn('Intake changes the patient\'s demographics while another prescription is open; asking a person', {
    prescriptionId: request.prescriptionId,
    changedFields,
    openPrescriptionIds,
  });
  const reason =
    `this intake changes patient ${request.patient.patientId}'s ${changedFields.join(', ')} while prescription(s) ` +
    `${openPrescriptionIds.join(', ')} of theirs are open (each ships to the address it was enrolled with). Check the change with the patient or prescriber`;
  const decision = await operator.askPerson('enrollPatient', 'DemographicsChanged', reason, {
    retry: "The change is the patient's: apply it to their record and fill this prescription",
    abort: 'Refuse the change: the record stays as it is and this prescription ends Ineligible',
  });
  operator.setStatus('Running');
  return steps.enrollPatient(request, decision === 'retry' ? 'confirmed' : 'refused');
}

/** Payments announced on `payment.completed`, in the order they came. */
function awaitPayments(): PaymentCompleted[] {
  const payments: PaymentCompleted[] = [];
  setHandler(paymentCompletedSignal, (payment) => {
    log.info('Payment received', { paymentId: payment.paymentId });
    payments.push(payment);
  });
  return payments;
}

/**
 * Asks for the copay: nothing owed goes straight on. Otherwise the link can be closed by an abort
 * (its undo), and the run waits on a durable timer until the desk takes a payment or the link
 * expires, then closes it. False: expired.
 */
async function collectCheckedPayment(
  operator: OperatorControls,
  steps: FulfillmentSteps,
  state: FulfillmentState,
  desk: PaymentDesk,
  { prescriptionId, timings }: PrescriptionRequest,
): Promise<boolean> {
  state.status = 'AwaitingPayment';
  const expiresAt = new Date(Date.now() + ms(timings.paymentWindow)).toISOString();
  const requested = await steps.requestPayment({ prescriptionId, amountCents: state.copayCents ?? 0, expiresAt });
  if (requested.status === 'NothingOwed') {
    state.paymentId = requested.paymentId;
    desk.paid();
    return true;
  }
  const { linkId } = requested;
  Object.assign(state, { paymentLinkId: linkId, paymentLinkExpiresAt: requested.expiresAt });
  operator.addCompensation('requestPayment', () => desk.closeLink(), `close payment link ${linkId}: a payment through it is then refunded`);

  if (await desk.paidBefore(Date.parse(requested.expiresAt))) return true;
  await steps.expirePaymentLink({ prescriptionId, linkId });
  return false;
}

/** A payment that came while its link was being closed ends the run asking a person; before, nothing said so. */
const latePaymentSurfaced = 'late-payment-surfaced';
/**
 * A payment counts only as the payment ledger has it: Charged, a copay for this prescription, through
 * this run's link, for exactly the copay. Any other is refused, and refunded when it is a charge for
 * this prescription that nobody will take (wrong link or amount, a second payment, one after the
 * link closed). Before this, the first `payment.completed` counted as it said, a second one was
 * only logged, and one during the link's closing was left to a person.
 */
const paymentsChecked = 'payments-checked-in-ledger';

type PaymentDesk = ReturnType<typeof paymentDesk>;

/**
 * Judges each payment the run receives, one at a time and in the order they came, for as long as
 * the run lasts: before the link exists they wait; while it is open the first that matches is
 * taken; after that, or once the link is closed, each is refunded.
 */
function paymentDesk(operator: OperatorControls, steps: FulfillmentSteps, state: FulfillmentState, payments: PaymentCompleted[]) {
  const { prescriptionId } = state;
  const refunds: RefundOutcome[] = [];
  const ledger = paymentLedger(operator, refunds);
  const refund = async (request: RefundRequest) => {
    await ledger.refund(request);
    state.refunds = refunds;
  };
  let phase: 'beforeLink' | 'open' | 'paid' | 'closed' = 'beforeLink';
  let closedBecause = '';
  let closedLinkId: string | undefined;
  let judged = 0;
  const seen = new Set<string>();

  void (async () => {
    for (;;) {
      await condition(() => judged < payments.length && phase !== 'beforeLink');
      await judge(payments[judged]!);
      judged++;
    }
  })();

  async function judge(payment: PaymentCompleted): Promise<void> {
    const { paymentId } = payment;
    // The same payment delivered again: it has been judged already.
    if (paymentId === state.paymentId || seen.has(paymentId)) return;
    seen.add(paymentId);
    const recorded = await ledger.lookUpPayment(paymentId);
    const notOurs = whyNotThisPrescriptions(recorded, prescriptionId);
    if (notOurs) return refuse(paymentId, `payment ${paymentId} refused: ${notOurs}`, false);
    if (phase === 'open') {
      const mismatch = whyNotTheCopay(recorded!, state);
      if (!mismatch) return take(payment, recorded!);
      return refuse(paymentId, `payment ${paymentId} for prescription ${prescriptionId} refused: ${mismatch}`, true);
    }
    const why = phase === 'paid' ? `second payment for prescription ${prescriptionId}, already paid by ${state.paymentId}` : closedBecause;
    return refuse(paymentId, why, true);
  }

  async function take(payment: PaymentCompleted, recorded: RecordedPayment): Promise<void> {
    const { paymentId, amountCents } = recorded;
    await steps.recordPayment({ ...payment, amountCents });
    state.paymentId = paymentId;
    phase = 'paid';
    operator.addCompensation(
      'recordPayment',
      () => refund({ paymentId, reason: `prescription ${prescriptionId} aborted` }),
      `refund payment ${paymentId} (${amountCents} cents)`,
    );
  }

  /** `refunded`: the payment is a charge for this prescription that nobody will take. */
  async function refuse(paymentId: string, reason: string, refunded: boolean): Promise<void> {
    log.warn('Payment refused', { prescriptionId, paymentId, reason, refunded });
    (state.refusedPayments ??= []).push({ paymentId, reason });
    if (refunded) await refund({ paymentId, reason });
    // After the refund: a step that succeeds clears the run's attention.
    if (phase === 'open') {
      operator.flagForPerson(
        'paymentCompleted',
        'PaymentRefused',
        `${reason}${refunded ? '; refunded' : ''}. The run goes on waiting for a valid payment until the link expires at ${state.paymentLinkExpiresAt}`,
      );
    }
  }

  /** Resolves once every payment received so far is judged. */
  const settled = () => condition(() => judged === payments.length);
  const isPaid = () => phase === 'paid';

  return {
    /** The link an abort's undo closed, once it has. */
    get closedLinkId() {
      return closedLinkId;
    },
    /** The run was paid without the desk (nothing owed): any payment is a second one. */
    paid() {
      phase = 'paid';
    },
    /** Opens the link; true once a payment is taken before `expiresAt`, false if none is and the link is now closing. */
    async paidBefore(expiresAt: number): Promise<boolean> {
      phase = 'open';
      const open = expiresAt - Date.now();
      if (open > 0 && (await condition(isPaid, open))) return true;
      // A payment that came before the deadline is judged before the link closes.
      await settled();
      if (isPaid()) return true;
      phase = 'closed';
      closedBecause = `payment for prescription ${prescriptionId} came after its payment link ${state.paymentLinkId} expired`;
      return false;
    },
    /** An abort's undo of the link: from now on every payment is refunded. */
    async closeLink(): Promise<void> {
      phase = 'closed';
      closedBecause = `prescription ${prescriptionId} aborted`;
      closedLinkId = state.paymentLinkId;
      await steps.closePaymentLink({ prescriptionId, linkId: state.paymentLinkId! });
    },
    /** The run is ending: whatever it has not taken is refunded for `reason`, once every payment so far is judged. */
    async close(reason: string): Promise<void> {
      // A run that ends as the prescription ended before it (`validation.ended`) has its recorded payment.
      if (state.paymentId && phase !== 'closed') phase = 'paid';
      if (phase === 'beforeLink' || phase === 'open') {
        phase = 'closed';
        closedBecause = reason;
      }
      await settled();
    },
  };
}

/** Why a payment the ledger has (or lacks) is nothing this run may take or refund; undefined if it may. */
function whyNotThisPrescriptions(recorded: RecordedPayment | undefined, prescriptionId: string): string | undefined {
  if (!recorded) return 'the payment ledger has no such payment';
  const { purpose, status } = recorded;
  if (purpose.kind !== 'copay') return `it pays for course ${purpose.courseId}, not a prescription`;
  if (purpose.prescriptionId !== prescriptionId) return `it pays for prescription ${purpose.prescriptionId}, not ${prescriptionId}`;
  if (status !== 'Charged') return `the payment ledger has it ${status}, not Charged`;
  return undefined;
}

/** Why a charge for this prescription is not the copay its run asked for; undefined if it is. */
function whyNotTheCopay({ purpose, amountCents }: RecordedPayment, state: FulfillmentState): string | undefined {
  if (purpose.kind === 'copay' && purpose.linkId !== state.paymentLinkId) return `it was paid through link ${purpose.linkId}, not ${state.paymentLinkId}`;
  if (amountCents !== state.copayCents) return `it is ${amountCents} cents; the copay is ${state.copayCents} cents`;
  return undefined;
}

/**
 * How runs before `paymentsChecked` collect the copay. Nothing owed goes straight on; otherwise
 * the run waits on a durable timer for the provider's `payment.completed` until the link expires,
 * then closes the link. False: expired.
 */
async function collectPayment(
  steps: FulfillmentSteps,
  state: FulfillmentState,
  payments: PaymentCompleted[],
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
  const paid = payments.length > 0 || (open > 0 && (await condition(() => payments.length > 0, open)));
  if (!paid) {
    await steps.expirePaymentLink({ prescriptionId, linkId: requested.linkId });
    // A payment that came while the link was being closed (the step held by an outage) is money
    // nobody took: the run ends asking a person for it (see end()).
    if (payments[0]) {
      log.error('A payment arrived while the payment link was being closed', { prescriptionId, paymentId: payments[0].paymentId });
      state.unclaimedPaymentId = payments[0].paymentId;
    }
    return false;
  }
  const payment = payments[0]!;
  await steps.recordPayment(payment);
  state.paymentId = payment.paymentId;
  return true;
}

/** When the parcel was delivered, or undefined once a person gave up on it; each run as it began. */
async function tracked(patches: RunPatches, operator: OperatorControls, steps: FulfillmentSteps, trackingNumber: string, request: PrescriptionRequest) {
  if (patches.has(trackedByRetries)) return deliveredOrGivenUp(operator, trackingNumber, request, polledUntilDelivered(operator, trackingNumber, request));
  if (patches.has(trackedByChild)) return deliveredOrGivenUp(operator, trackingNumber, request, (await trackingChild(trackingNumber, request)).result());
  return trackDelivery(steps, trackingNumber, request);
}

/**
 * Tracking is one activity that Temporal retries at the tracking interval until the carrier says
 * delivered (`pollUntilDone`): the run's history holds its schedule and its answer however many
 * polls it took, and no poll wakes the run. Runs before this tracked in a child workflow (below).
 */
const trackedByRetries = 'tracked-by-activity-retries';

/** When the parcel was delivered: resolves when it is, however long that takes. */
function polledUntilDelivered(operator: OperatorControls, trackingNumber: string, { timings }: PrescriptionRequest): Promise<string> {
  const { awaitDelivery } = operator.steps<PrescriptionActivities>({
    // The operator has always known tracking by this name (the Overdue question below uses it too).
    awaitDelivery: { ...pollUntilDone(timings.trackingInterval), stepName: 'trackShipment' },
  });
  return awaitDelivery(trackingNumber);
}

/**
 * How runs between `trackedByChild` and `trackedByRetries` track: a child workflow that starts
 * over (continue-as-new) every `pollsPerRun` polls, so its history stays bounded however short the
 * interval and long the wait: every 2 minutes for 10 days was 7,200 polls and about 80,000 events in
 * one history, past Temporal's limit. Runs before it tracked in a loop of their own and ended
 * `DeliveryOverdue` at the deadline.
 */
const trackedByChild = 'tracked-by-child-until-delivered';

/** Started before the deadline's timer is, as these runs recorded it. */
function trackingChild(trackingNumber: string, { prescriptionId, timings }: PrescriptionRequest) {
  return startChild(shipmentTrackingWorkflow, {
    workflowId: shipmentTrackingWorkflowId(prescriptionId),
    args: [{ trackingNumber, interval: timings.trackingInterval }],
    // Tracking serves this run only: it ends with it, whether delivered or given up on.
    parentClosePolicy: ParentClosePolicy.TERMINATE,
  });
}

/**
 * Waits for `delivered` until the deadline; then the parcel is not given up on: the run asks a
 * person to chase the carrier and goes on waiting, so a later delivery is still recorded. Resolves
 * undefined once the person gives up; the tracking still pending then ends with the run.
 */
async function deliveredOrGivenUp(
  operator: OperatorControls,
  trackingNumber: string,
  { prescriptionId, timings }: PrescriptionRequest,
  delivered: Promise<string>,
): Promise<string | undefined> {
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
  const operator = operatorControls(patchesOfThisRun());
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
