import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveredAt, type PrescriptionActivities } from '../../src/activities/prescription';
import type { PaymentActivities } from '../../src/activities/prescription-payment';
import type { RefundActivities } from '../../src/activities/refund';
import { paymentTaskQueue, type RecordedPayment, type RefundRequest } from '../../src/contracts/payment';
import {
  fulfillmentStateQuery,
  paymentCompletedSignal,
  prescriptionWorkflowId,
  type DemographicsCheck,
  type FulfillmentTimings,
  type PrescriptionRequest,
  type TrackingUpdate,
  type Validation,
} from '../../src/contracts/prescription';
import { prescriptionFulfillmentWorkflow } from '../../src/workflows/prescription';
import {
  attentionKindKey,
  attentionQuery,
  operatorDecisionSignal,
  pipelineStatusKey,
  refundStatusKey,
  type Attention,
} from '../../src/contracts/pipeline';
import { prescriptionRequest } from '../support/prescription-intake';
import { createTimeSkippingEnv, testDataConverter, withWorker } from '../support/time-skipping';

const day = 86_400_000;
const timings: FulfillmentTimings = { paymentWindow: '2 days', trackingInterval: '1 day', deliveryDeadline: '5 days' };

const intake = (prescriptionId: string): PrescriptionRequest => prescriptionRequest(prescriptionId, timings);

interface Scenario {
  valid?: boolean;
  eligible?: boolean;
  claim?: 'approved' | 'rejected';
  copayCents?: number;
  /** expirePaymentLink fails as an outage while this says so (the test ends it, so nothing races it). */
  expiryOutage?: { ongoing: boolean };
  /** The carrier's answers to each tracking poll; 'down' is an outage, 'refused' a 4xx, the last answer repeats. */
  tracking?: Array<TrackingUpdate['status'] | 'down' | 'refused'>;
  /** What validation finds recorded for a prescription that ended before the run. */
  ended?: Validation['ended'];
  /** The carrier refuses the label (a 4xx): the run parks there for a person. */
  labelRefused?: boolean;
  /** What the intake changes of its patient's record, and the patient's other open prescriptions. */
  demographics?: DemographicsCheck;
}

/** In-memory stand-ins typed from the real activities; `calls` lists the steps in the order they ran. */
function fakeActivities(scenario: Scenario = {}) {
  const calls: string[] = [];
  const polls: number[] = [];
  let poll = 0;
  const activities: PrescriptionActivities & PaymentActivities = {
    async validatePrescription() {
      calls.push('validatePrescription');
      if (scenario.ended) return { valid: true, ended: scenario.ended };
      return scenario.valid === false ? { valid: false, problems: ['quantity must be between 1 and 360'] } : { valid: true };
    },
    // Not in `calls`: it writes nothing; the enrollment that follows says what was decided.
    async checkDemographics() {
      return scenario.demographics ?? { changedFields: [], openPrescriptionIds: [] };
    },
    async enrollPatient(_intake, decision) {
      calls.push(decision ? `enrollPatient:${decision}` : 'enrollPatient');
      if (decision === 'refused') return { eligible: false, reason: "an operator refused this intake's change of the patient's demographics" };
      return scenario.eligible === false ? { eligible: false, reason: 'coverage lapsed' } : { eligible: true };
    },
    async selectPharmacy() {
      calls.push('selectPharmacy');
      return { pharmacyId: 'pharmacy-1', name: 'Corner Pharmacy' };
    },
    async adjudicateClaim({ prescriptionId }) {
      calls.push('adjudicateClaim');
      const claimId = `claim-${prescriptionId}`;
      return scenario.claim === 'rejected'
        ? { claimId, status: 'rejected', reason: 'not on formulary' }
        : { claimId, status: 'approved', copayCents: scenario.copayCents ?? 0, paidCents: 9000 };
    },
    async requestPayment({ prescriptionId, amountCents, expiresAt }) {
      calls.push('requestPayment');
      return amountCents === 0
        ? { status: 'NothingOwed', paymentId: `nothing-owed-${prescriptionId}` }
        : { status: 'LinkCreated', linkId: `link-${prescriptionId}`, url: 'https://pay.example.com/links/x', expiresAt };
    },
    async recordPayment({ paymentId }) {
      calls.push(`recordPayment:${paymentId}`);
    },
    async expirePaymentLink() {
      calls.push('expirePaymentLink');
      if (scenario.expiryOutage?.ongoing) throw new Error('database unreachable');
    },
    async closePaymentLink({ linkId }) {
      calls.push(`closePaymentLink:${linkId}`);
    },
    async recordAbort({ closedLinkId, refundedPaymentIds }) {
      calls.push(`recordAbort:${closedLinkId}:${refundedPaymentIds.join(',')}`);
    },
    async createShippingLabel({ prescriptionId }) {
      calls.push('createShippingLabel');
      if (scenario.labelRefused) throw ApplicationFailure.nonRetryable('carrier refused: address not serviceable', 'PartnerRefused');
      return { shipmentId: `shipment-${prescriptionId}`, carrier: 'stand-in', trackingNumber: 'TRK1', labelUrl: 'https://labels/1' };
    },
    async trackShipment(trackingNumber) {
      const answers = scenario.tracking ?? ['delivered'];
      const answer = answers[Math.min(poll++, answers.length - 1)]!;
      // The server's (skipped) clock: when the workflow scheduled this poll.
      polls.push(Context.current().info.currentAttemptScheduledTimestampMs);
      if (answer === 'down') throw new Error('carrier answered 503');
      if (answer === 'refused') throw ApplicationFailure.nonRetryable(`carrier refused: unknown tracking number ${trackingNumber}`, 'PartnerRefused');
      return { trackingNumber, status: answer, ...(answer === 'delivered' ? { deliveredAt: new Date().toISOString() } : {}) };
    },
    // The real activity's answer over the fake carrier: a poll until delivered fails "not yet".
    async awaitDelivery(trackingNumber) {
      return deliveredAt(await activities.trackShipment(trackingNumber));
    },
    async recordDelivery({ deliveredAt }) {
      calls.push(deliveredAt ? 'recordDelivery:delivered' : 'recordDelivery:overdue');
    },
  };
  return { activities, calls, polls };
}

/**
 * The payment ledger as the payment workers answer it, on their task queue: `payments` are what it
 * holds; refunds are listed, and a refunded payment stays refunded.
 */
function fakeLedger(...payments: RecordedPayment[]) {
  const held = new Map(payments.map((p) => [p.paymentId, { ...p }]));
  const refunds: RefundRequest[] = [];
  const activities: RefundActivities = {
    async lookUpPayment(paymentId) {
      const payment = held.get(paymentId);
      return payment && { ...payment };
    },
    async refundPayment({ paymentId, reason }) {
      const payment = held.get(paymentId);
      if (payment?.status !== 'Charged' && payment?.status !== 'Refunded') {
        throw ApplicationFailure.nonRetryable(`payment ${paymentId} cannot be refunded`, 'RefundRefused');
      }
      if (payment.status === 'Charged') refunds.push({ paymentId, reason });
      payment.status = 'Refunded';
      return { paymentId, refundId: `re_${paymentId}`, amountCents: payment.amountCents, reason };
    },
  };
  return { activities, refunds };
}

/** A charged copay for `prescriptionId` through its run's link (`link-<id>`, as the fakes make it). */
const copay = (paymentId: string, prescriptionId: string, changes: Partial<RecordedPayment> & { linkId?: string } = {}): RecordedPayment => ({
  paymentId,
  status: 'Charged',
  purpose: { kind: 'copay', prescriptionId, linkId: changes.linkId ?? `link-${prescriptionId}` },
  amountCents: 1500,
  currency: 'USD',
  ...changes,
});

describe('prescription fulfillment workflow', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** Runs a prescription with `activities`, and the payment workers with `ledger` on their task queue. */
  const run = (
    activities: object,
    id = randomUUID(),
    during?: (workflowId: string) => Promise<void>,
    ledger: RefundActivities = fakeLedger().activities,
  ) =>
    withWorker(env, activities, async (taskQueue) => {
      const payments = await Worker.create({
        connection: env.nativeConnection,
        taskQueue: paymentTaskQueue,
        activities: ledger,
        dataConverter: testDataConverter,
      });
      return payments.runUntil(async () => {
        const workflowId = prescriptionWorkflowId(id);
        const handle = await env.client.workflow.start(prescriptionFulfillmentWorkflow, { workflowId, taskQueue, args: [intake(id)] });
        await during?.(workflowId);
        return handle.result();
      });
    });

  /** Polls `probe` in real time (the workflow's steps run meanwhile) until `accept` holds. */
  const realTimeUntil = async <T>(probe: () => Promise<T>, accept: (value: T) => boolean): Promise<T> => {
    for (let i = 0; i < 100; i++) {
      const value = await probe();
      if (accept(value)) return value;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('never happened');
  };
  const currentDetails = async (handle: WorkflowHandle): Promise<string> =>
    (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '';

  const untilStatus = async (workflowId: string, status: string) => {
    const handle = env.client.workflow.getHandle(workflowId);
    for (let i = 0; i < 100; i++) {
      if ((await handle.query(fulfillmentStateQuery)).status === status) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`run never reached ${status}`);
  };

  it('when nothing is owed, the prescription goes from intake to delivered without waiting for a payment', async () => {
    const fake = fakeActivities({ copayCents: 0 });
    const outcome = await run(fake.activities);
    expect(outcome).toMatchObject({ status: 'Delivered', pharmacyId: 'pharmacy-1', paymentId: expect.stringMatching(/^nothing-owed-/) });
    expect(fake.calls).toEqual([
      'validatePrescription',
      'enrollPatient',
      'selectPharmacy',
      'adjudicateClaim',
      'requestPayment',
      'createShippingLabel',
      'recordDelivery:delivered',
    ]);
  });

  it('when a copay is owed, the run waits for the payment signal, finds it in the ledger, records it and ships', async () => {
    const fake = fakeActivities({ copayCents: 1500 });
    const id = randomUUID();
    const ledger = fakeLedger(copay('pay-123', id));
    const outcome = await run(fake.activities, id, async (workflowId) => {
      await untilStatus(workflowId, 'AwaitingPayment');
      const { prescriptionId } = (await env.client.workflow.getHandle(workflowId).query(fulfillmentStateQuery));
      await env.client.workflow.getHandle(workflowId).signal(paymentCompletedSignal, {
        prescriptionId,
        paymentId: 'pay-123',
        amountCents: 1500,
        paidAt: '2030-01-02T10:00:00Z',
      });
    }, ledger.activities);
    expect(outcome).toMatchObject({ status: 'Delivered', copayCents: 1500, paymentId: 'pay-123', paymentLinkId: expect.any(String) });
    expect(outcome).not.toHaveProperty('refusedPayments');
    expect(fake.calls).toEqual(expect.arrayContaining(['requestPayment', 'recordPayment:pay-123', 'createShippingLabel']));
    expect(fake.calls.indexOf('recordPayment:pay-123')).toBeLessThan(fake.calls.indexOf('createShippingLabel'));
    expect(fake.calls).not.toContain('expirePaymentLink');
    expect(ledger.refunds).toEqual([]);
  });

  it('when the payment link expires unpaid, the link is closed and nothing ships', async () => {
    const fake = fakeActivities({ copayCents: 1500 });
    const started = await env.currentTimeMs();
    const outcome = await run(fake.activities);
    expect(outcome).toMatchObject({ status: 'PaymentExpired', reason: 'the payment link expired unpaid' });
    expect(fake.calls.slice(-2)).toEqual(['requestPayment', 'expirePaymentLink']);
    expect(fake.calls).not.toContain('createShippingLabel');
    // The whole two-day window passed (skipped), not less.
    expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(2 * day);
  });

  it('a payment that arrives while the expiring link is held by an outage is refunded, and the run ends PaymentExpired', async () => {
    const expiryOutage = { ongoing: true };
    const fake = fakeActivities({ copayCents: 1500, expiryOutage });
    const id = randomUUID();
    const ledger = fakeLedger(copay('pay-late', id));
    let attention: Attention | undefined;
    let refundStatus: string | undefined;
    const outcome = await run(fake.activities, id, async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      await untilStatus(workflowId, 'AwaitingPayment');
      while (!fake.calls.includes('expirePaymentLink')) await env.sleep('1 day');
      await handle.signal(paymentCompletedSignal, { prescriptionId: id, paymentId: 'pay-late', amountCents: 1500, paidAt: '2030-01-05T10:00:00Z' });
      expiryOutage.ongoing = false;
      await handle.result();
      attention = await handle.query(attentionQuery);
      refundStatus = (await handle.describe()).typedSearchAttributes.get(refundStatusKey);
    }, ledger.activities);
    const reason = `payment for prescription ${id} came after its payment link link-${id} expired`;
    expect(ledger.refunds).toEqual([{ paymentId: 'pay-late', reason }]);
    expect(outcome).toMatchObject({
      status: 'PaymentExpired',
      refusedPayments: [{ paymentId: 'pay-late', reason }],
      refunds: [{ paymentId: 'pay-late', refundId: 're_pay-late', amountCents: 1500, reason }],
    });
    expect(outcome).not.toHaveProperty('unclaimedPaymentId');
    expect(fake.calls.filter((c) => c.startsWith('recordPayment'))).toEqual([]);
    // Nothing is left for a person: the money went back.
    expect(attention).toMatchObject({ status: 'Rejected' });
    expect(refundStatus).toBe('Refunded');
  });

  it('a second payment for a paid prescription is refunded, saying why, and the first one ships', async () => {
    const fake = fakeActivities({ copayCents: 1500 });
    const id = randomUUID();
    const ledger = fakeLedger(copay('pay-1', id), copay('pay-2', id));
    const outcome = await run(fake.activities, id, async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      await untilStatus(workflowId, 'AwaitingPayment');
      for (const paymentId of ['pay-1', 'pay-1', 'pay-2']) {
        await handle.signal(paymentCompletedSignal, { prescriptionId: id, paymentId, amountCents: 1500, paidAt: '2030-01-02T10:00:00Z' });
      }
    }, ledger.activities);
    const reason = `second payment for prescription ${id}, already paid by pay-1`;
    expect(outcome).toMatchObject({ status: 'Delivered', paymentId: 'pay-1', refusedPayments: [{ paymentId: 'pay-2', reason }] });
    expect(outcome.refunds).toEqual([{ paymentId: 'pay-2', refundId: 're_pay-2', amountCents: 1500, reason }]);
    expect(ledger.refunds).toEqual([{ paymentId: 'pay-2', reason }]);
    // The same payment delivered twice is recorded once.
    expect(fake.calls.filter((c) => c.startsWith('recordPayment'))).toEqual(['recordPayment:pay-1']);
  });

  const other = randomUUID();
  it.each([
    ['a payment the ledger does not have (forged)', undefined, 'the payment ledger has no such payment', false],
    ['a copay for another prescription', { purpose: { kind: 'copay', prescriptionId: other, linkId: `link-${other}` } }, `it pays for prescription ${other}`, false],
    ['a course payment', { purpose: { kind: 'course', studentId: 's-1', courseId: 'c-1' } }, 'it pays for course c-1, not a prescription', false],
    ['a declined payment', { status: 'Declined' }, 'the payment ledger has it Declined, not Charged', false],
    ['a payment through another link', { linkId: 'link-old' }, 'it was paid through link link-old, not link-', true],
    ['a payment of 1 cent', { amountCents: 1 }, 'it is 1 cents; the copay is 1500 cents', true],
    ['a payment of more than the copay', { amountCents: 1501 }, 'it is 1501 cents; the copay is 1500 cents', true],
  ] as const)(
    '%s is refused and never accepted: the run says why, refunds it if it charged this prescription, and still takes a valid payment',
    async (_, changes, why, refunded) => {
      const fake = fakeActivities({ copayCents: 1500 });
      const id = randomUUID();
      const ledger = fakeLedger(copay('pay-good', id), ...(changes ? [copay('pay-bad', id, changes as Partial<RecordedPayment>)] : []));
      const outcome = await run(fake.activities, id, async (workflowId) => {
        const handle = env.client.workflow.getHandle(workflowId);
        await untilStatus(workflowId, 'AwaitingPayment');
        // What the signal says is not what counts: the ledger is.
        await handle.signal(paymentCompletedSignal, { prescriptionId: id, paymentId: 'pay-bad', linkId: `link-${id}`, amountCents: 1500, paidAt: '2030-01-02T10:00:00Z' });
        const attention = await realTimeUntil(() => handle.query(attentionQuery), (a) => a.status === 'NeedsAttention');
        expect(attention).toMatchObject({ kind: 'PaymentRefused', failedStep: 'paymentCompleted' });
        expect(attention.lastError).toContain(why);
        expect(attention.lastError).toContain(refunded ? '; refunded. The run goes on waiting for a valid payment' : '. The run goes on waiting for a valid payment');
        expect(await currentDetails(handle)).toContain(why);
        expect((await handle.describe()).typedSearchAttributes.get(attentionKindKey)).toBe('PaymentRefused');
        const state = await handle.query(fulfillmentStateQuery);
        expect(state).toMatchObject({ status: 'AwaitingPayment', refusedPayments: [{ paymentId: 'pay-bad', reason: expect.stringContaining(why) }] });
        expect(state.paymentId).toBeUndefined();

        await env.sleep('1 day'); // still waiting: the link is open for 2 days
        await handle.signal(paymentCompletedSignal, { prescriptionId: id, paymentId: 'pay-good', amountCents: 1500, paidAt: '2030-01-03T10:00:00Z' });
      }, ledger.activities);
      expect(outcome).toMatchObject({ status: 'Delivered', paymentId: 'pay-good' });
      expect(fake.calls.filter((c) => c.startsWith('recordPayment'))).toEqual(['recordPayment:pay-good']);
      expect(ledger.refunds.map((r) => r.paymentId)).toEqual(refunded ? ['pay-bad'] : []);
      if (refunded) expect(ledger.refunds[0]!.reason).toBe(`payment pay-bad for prescription ${id} refused: ${why}${why.endsWith('not link-') ? id : ''}`);
    },
  );

  it('aborting a run parked after its payment refunds the payment, closes the link and writes the abort to the audit log; the details said so', async () => {
    const fake = fakeActivities({ copayCents: 1500, labelRefused: true });
    const id = randomUUID();
    const ledger = fakeLedger(copay('pay-1', id));
    const failure = await run(fake.activities, id, async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      await untilStatus(workflowId, 'AwaitingPayment');
      await handle.signal(paymentCompletedSignal, { prescriptionId: id, paymentId: 'pay-1', amountCents: 1500, paidAt: '2030-01-02T10:00:00Z' });
      await realTimeUntil(() => handle.query(attentionQuery), (a) => a.status === 'NeedsAttention');
      expect(await currentDetails(handle)).toContain(
        `or give up on it (then, newest first: refund payment pay-1 (1500 cents); close payment link link-${id}: a payment through it is then refunded; record the abort in prescription ${id}'s audit log):`,
      );
      await handle.signal(operatorDecisionSignal, 'abort');
    }, ledger.activities).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'OperatorAbort' });
    expect(ledger.refunds).toEqual([{ paymentId: 'pay-1', reason: `prescription ${id} aborted` }]);
    expect(fake.calls.slice(-3)).toEqual(['createShippingLabel', `closePaymentLink:link-${id}`, `recordAbort:link-${id}:pay-1`]);
    const handle = env.client.workflow.getHandle(prescriptionWorkflowId(id));
    expect((await handle.describe()).typedSearchAttributes.get(refundStatusKey)).toBe('Refunded');
  });

  it('tracks the parcel once a day across days until the carrier reports it delivered, in one activity whatever the number of polls', async () => {
    const fake = fakeActivities({ tracking: ['label_created', 'in_transit', 'in_transit', 'in_transit', 'delivered'] });
    const id = randomUUID();
    const outcome = await run(fake.activities, id);
    expect(outcome).toMatchObject({ status: 'Delivered', deliveredAt: expect.any(String) });
    expect(fake.polls).toHaveLength(5);
    // Each poll came a day of workflow time after the one before. Temporal's time-skipping test
    // server sends the first retry at once (the dev server waits the interval, as
    // test/integration/prescription-pipeline.test.ts shows), so the spacing counts from the second.
    for (let i = 2; i < fake.polls.length; i++) expect(fake.polls[i]! - fake.polls[i - 1]!).toBeGreaterThanOrEqual(day - 1000);
    // The polls were the attempts of one activity: none of them is in the run's history.
    const { events } = await env.client.workflow.getHandle(prescriptionWorkflowId(id)).fetchHistory();
    const tracking = events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitDelivery');
    expect(tracking).toHaveLength(1);
    expect(events!.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1); // the delivery deadline's
  });

  it('a parcel past the deadline asks a person to chase the carrier, and its later delivery is still recorded', async () => {
    const fake = fakeActivities({ tracking: ['in_transit', 'in_transit', 'in_transit', 'in_transit', 'in_transit', 'in_transit', 'in_transit', 'delivered'] });
    const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      let attention = await handle.query(attentionQuery);
      for (let i = 0; i < 20 && attention.status !== 'NeedsAttention'; i++) {
        await env.sleep('12 hours');
        attention = await handle.query(attentionQuery);
      }
      expect(attention).toMatchObject({ status: 'NeedsAttention', kind: 'Overdue', failedStep: 'trackShipment' });
      expect(attention.lastError).toContain('not delivered within 5 days: chase the carrier');
      expect((await handle.describe()).typedSearchAttributes.get(attentionKindKey)).toBe('Overdue');
    });
    expect(outcome).toMatchObject({ status: 'Delivered', deliveredAt: expect.any(String) });
    expect(fake.calls.at(-1)).toBe('recordDelivery:delivered');
    // Polled daily past the deadline until the carrier said delivered.
    expect(fake.polls).toHaveLength(8);
  });

  it('a parcel past the deadline ends the run overdue, recorded, once a person gives up on it', async () => {
    const fake = fakeActivities({ tracking: ['in_transit'] });
    const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('12 hours');
      await handle.signal(operatorDecisionSignal, 'retry'); // keep tracking: still asking
      await env.sleep('2 days');
      expect(await handle.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', kind: 'Overdue' });
      await handle.signal(operatorDecisionSignal, 'abort');
    });
    expect(outcome).toMatchObject({ status: 'DeliveryOverdue', reason: 'not delivered within 5 days' });
    expect(fake.calls.at(-1)).toBe('recordDelivery:overdue');
  });

  it('a tracking refused by the carrier and a deadline passed meanwhile are two questions, each shown and answered in turn', async () => {
    const fake = fakeActivities({ tracking: ['in_transit', 'refused', 'in_transit'] });
    const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('12 hours');
      expect(await handle.query(attentionQuery)).toMatchObject({ kind: 'Refusal', failedStep: 'trackShipment' });
      const pollsWhileRefused = fake.polls.length;
      // The deadline (5 days) passes while the refusal waits: the refusal stays the question shown.
      await env.sleep('6 days');
      const refusal = await handle.query(attentionQuery);
      expect(refusal).toMatchObject({ status: 'NeedsAttention', kind: 'Refusal', failedStep: 'trackShipment' });
      expect(refusal.lastError).toContain('unknown tracking number TRK1');
      expect((await handle.describe()).typedSearchAttributes.get(attentionKindKey)).toBe('Refusal');
      expect(await currentDetails(handle)).toContain('at step `trackShipment`: refusal.');
      expect(fake.polls).toHaveLength(pollsWhileRefused);

      // Retry answers the refusal only: tracking resumes, and the deadline's question is shown.
      await handle.signal(operatorDecisionSignal, 'retry');
      const overdue = await realTimeUntil(() => handle.query(attentionQuery), (a) => a.kind === 'Overdue');
      expect(overdue).toMatchObject({ status: 'NeedsAttention', failedStep: 'trackShipment' });
      expect(overdue.lastError).toContain('not delivered within 5 days: chase the carrier');
      expect((await handle.describe()).typedSearchAttributes.get(attentionKindKey)).toBe('Overdue');
      expect(await currentDetails(handle)).toContain('about `trackShipment`: overdue.');
      expect(await currentDetails(handle)).toContain('Stop tracking: the run ends DeliveryOverdue');
      await realTimeUntil(async () => fake.polls.length, (n) => n > pollsWhileRefused);

      // Abort answers the deadline's question: stop tracking, the run ends DeliveryOverdue.
      await handle.signal(operatorDecisionSignal, 'abort');
    });
    expect(outcome).toMatchObject({ status: 'DeliveryOverdue', reason: 'not delivered within 5 days' });
    expect(fake.calls.at(-1)).toBe('recordDelivery:overdue');
  });

  it('a tracking refused while the deadline\'s question waits is shown and answered first; the deadline\'s question then comes back', async () => {
    const fake = fakeActivities({ tracking: [...Array<'in_transit'>(8).fill('in_transit'), 'refused', 'in_transit'] });
    const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('12 hours');
      expect(await handle.query(attentionQuery)).toMatchObject({ kind: 'Overdue', failedStep: 'trackShipment' });
      // Tracking goes on past the deadline, and the carrier then refuses the tracking number.
      for (let i = 0; i < 20 && (await handle.query(attentionQuery)).kind === 'Overdue'; i++) await env.sleep('12 hours');
      expect(await handle.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', kind: 'Refusal', failedStep: 'trackShipment' });
      expect(await currentDetails(handle)).toContain('at step `trackShipment`: refusal.');

      await handle.signal(operatorDecisionSignal, 'retry'); // answers the refusal: tracking resumes
      const overdue = await realTimeUntil(() => handle.query(attentionQuery), (a) => a.kind === 'Overdue');
      expect(overdue).toMatchObject({ status: 'NeedsAttention', failedStep: 'trackShipment' });
      expect((await handle.describe()).typedSearchAttributes.get(attentionKindKey)).toBe('Overdue');
      await handle.signal(operatorDecisionSignal, 'abort'); // answers the deadline's question
    });
    expect(outcome).toMatchObject({ status: 'DeliveryOverdue', reason: 'not delivered within 5 days' });
    expect(fake.calls.at(-1)).toBe('recordDelivery:overdue');
  });

  describe('an intake that changes its patient\'s demographics while another prescription of theirs is open (perhaps forged)', () => {
    const held = { changedFields: ['address'], openPrescriptionIds: ['rx-victim'] };
    const untilAsked = async (workflowId: string) => {
      const handle = env.client.workflow.getHandle(workflowId);
      const attention = await realTimeUntil(() => handle.query(attentionQuery), (a) => a.status === 'NeedsAttention');
      expect(attention).toMatchObject({ kind: 'DemographicsChanged', failedStep: 'enrollPatient' });
      expect(attention.lastError).toContain("changes patient patient-");
      expect(attention.lastError).toContain("'s address while prescription(s) rx-victim of theirs are open");
      expect((await handle.describe()).typedSearchAttributes.get(attentionKindKey)).toBe('DemographicsChanged');
      return handle;
    };

    it('waits for a person before enrolling; once they confirm, the change is applied and the prescription filled', async () => {
      const fake = fakeActivities({ copayCents: 0, demographics: held });
      const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
        const handle = await untilAsked(workflowId);
        expect(fake.calls).toEqual(['validatePrescription']);
        await handle.signal(operatorDecisionSignal, 'retry');
      });
      expect(outcome).toMatchObject({ status: 'Delivered' });
      expect(fake.calls.slice(0, 3)).toEqual(['validatePrescription', 'enrollPatient:confirmed', 'selectPharmacy']);
    });

    it('ends Ineligible, with nothing asked of the insurer, pharmacy or carrier, when the person refuses the change', async () => {
      const fake = fakeActivities({ copayCents: 0, demographics: held });
      const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
        await (await untilAsked(workflowId)).signal(operatorDecisionSignal, 'abort');
      });
      expect(outcome).toMatchObject({ status: 'Ineligible', reason: "an operator refused this intake's change of the patient's demographics" });
      expect(fake.calls).toEqual(['validatePrescription', 'enrollPatient:refused']);
    });

    it('does not wait when no other prescription of the patient is open, nor when nothing changes', async () => {
      for (const demographics of [{ changedFields: ['address'], openPrescriptionIds: [] }, { changedFields: [], openPrescriptionIds: ['rx-other'] }]) {
        const fake = fakeActivities({ copayCents: 0, demographics });
        expect(await run(fake.activities)).toMatchObject({ status: 'Delivered' });
        expect(fake.calls.slice(0, 3)).toEqual(['validatePrescription', 'enrollPatient', 'selectPharmacy']);
      }
    });
  });

  it('a carrier outage during tracking is retried and the parcel is still tracked to delivery', async () => {
    const fake = fakeActivities({ tracking: ['down', 'down', 'delivered'] });
    const outcome = await run(fake.activities);
    expect(outcome).toMatchObject({ status: 'Delivered' });
    expect(fake.polls).toHaveLength(3);
  });

  it('a prescription that had ended before the run (its intake came again after retention) ends the run as recorded, with no other step', async () => {
    const id = randomUUID();
    const recorded = {
      status: 'Delivered' as const,
      prescriptionId: id,
      reason: 'already Delivered when this run started; nothing was done again',
      paymentId: 'pay-123',
      trackingNumber: 'TRK1',
      deliveredAt: '2030-01-05T10:00:00.000Z',
    };
    const fake = fakeActivities({ ended: recorded });
    const outcome = await run(fake.activities, id);
    expect(outcome).toEqual(recorded);
    expect(fake.calls).toEqual(['validatePrescription']);
    const { typedSearchAttributes } = await env.client.workflow.getHandle(prescriptionWorkflowId(id)).describe();
    expect(typedSearchAttributes.get(pipelineStatusKey)).toBe('Completed');
  });

  it.each([
    [{ valid: false }, 'Invalid', 'quantity must be between 1 and 360', 'validatePrescription'],
    [{ eligible: false }, 'Ineligible', 'coverage lapsed', 'enrollPatient'],
    [{ claim: 'rejected' as const }, 'ClaimRejected', 'not on formulary', 'adjudicateClaim'],
  ])('a business refusal (%o) ends the run as %s at its step, with the reason', async (scenario, status, reason, lastStep) => {
    const fake = fakeActivities(scenario);
    const outcome = await run(fake.activities);
    expect(outcome).toMatchObject({ status, reason });
    expect(fake.calls.at(-1)).toBe(lastStep);
  });
});

describe('deliveredAt, the answer of each tracking poll', () => {
  it('is the carrier’s delivery time once delivered', () => {
    expect(deliveredAt({ trackingNumber: 'TRK1', status: 'delivered', deliveredAt: '2030-01-04T09:00:00.000Z' })).toBe('2030-01-04T09:00:00.000Z');
  });

  it('fails the attempt while the parcel is on its way: retryable, and benign, so the worker does not warn at every poll', () => {
    let failure: unknown;
    try {
      deliveredAt({ trackingNumber: 'TRK1', status: 'in_transit' });
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'ParcelNotDelivered', nonRetryable: false, category: 'BENIGN', message: 'parcel TRK1 is in_transit, not delivered yet' });
  });
});
