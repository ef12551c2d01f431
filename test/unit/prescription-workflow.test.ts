import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrescriptionActivities } from '../../src/activities/prescription';
import type { PaymentActivities } from '../../src/activities/prescription-payment';
import {
  fulfillmentStateQuery,
  paymentCompletedSignal,
  prescriptionWorkflowId,
  type FulfillmentTimings,
  type PrescriptionRequest,
  type TrackingUpdate,
  type Validation,
} from '../../src/contracts/prescription';
import { prescriptionFulfillmentWorkflow } from '../../src/workflows/prescription';
import { attentionKindKey, attentionQuery, operatorDecisionSignal, pipelineStatusKey, type Attention } from '../../src/contracts/pipeline';
import { prescriptionRequest } from '../support/prescription-intake';
import { createTimeSkippingEnv, withWorker } from '../support/time-skipping';

const day = 86_400_000;
const timings: FulfillmentTimings = { paymentWindow: '2 days', trackingInterval: '1 day', deliveryDeadline: '5 days' };

const intake = (prescriptionId: string): PrescriptionRequest => prescriptionRequest(prescriptionId, timings);

interface Scenario {
  valid?: boolean;
  eligible?: boolean;
  claim?: 'approved' | 'rejected';
  copayCents?: number;
  /** Attempts of expirePaymentLink that fail as an outage before one succeeds. */
  expiryOutage?: number;
  /** The carrier's answers to each tracking poll; 'down' is an outage, the last answer repeats. */
  tracking?: Array<TrackingUpdate['status'] | 'down'>;
  /** What validation finds recorded for a prescription that ended before the run. */
  ended?: Validation['ended'];
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
    async enrollPatient() {
      calls.push('enrollPatient');
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
    async recordPayment() {
      calls.push('recordPayment');
    },
    async expirePaymentLink() {
      calls.push('expirePaymentLink');
      if ((scenario.expiryOutage ?? 0) > calls.filter((c) => c === 'expirePaymentLink').length - 1) throw new Error('database unreachable');
    },
    async createShippingLabel({ prescriptionId }) {
      calls.push('createShippingLabel');
      return { shipmentId: `shipment-${prescriptionId}`, carrier: 'stand-in', trackingNumber: 'TRK1', labelUrl: 'https://labels/1' };
    },
    async trackShipment(trackingNumber) {
      const answers = scenario.tracking ?? ['delivered'];
      const answer = answers[Math.min(poll++, answers.length - 1)]!;
      // The server's (skipped) clock: when the workflow scheduled this poll.
      polls.push(Context.current().info.currentAttemptScheduledTimestampMs);
      if (answer === 'down') throw new Error('carrier answered 503');
      return { trackingNumber, status: answer, ...(answer === 'delivered' ? { deliveredAt: new Date().toISOString() } : {}) };
    },
    async recordDelivery({ deliveredAt }) {
      calls.push(deliveredAt ? 'recordDelivery:delivered' : 'recordDelivery:overdue');
    },
  };
  return { activities, calls, polls };
}

describe('prescription fulfillment workflow', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  const run = (activities: object, id = randomUUID(), during?: (workflowId: string) => Promise<void>) =>
    withWorker(env, activities, async (taskQueue) => {
      const workflowId = prescriptionWorkflowId(id);
      const handle = await env.client.workflow.start(prescriptionFulfillmentWorkflow, { workflowId, taskQueue, args: [intake(id)] });
      await during?.(workflowId);
      return handle.result();
    });

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

  it('when a copay is owed, the run waits for the payment signal, records it and ships', async () => {
    const fake = fakeActivities({ copayCents: 1500 });
    const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
      await untilStatus(workflowId, 'AwaitingPayment');
      const { prescriptionId } = (await env.client.workflow.getHandle(workflowId).query(fulfillmentStateQuery));
      await env.client.workflow.getHandle(workflowId).signal(paymentCompletedSignal, {
        prescriptionId,
        paymentId: 'pay-123',
        amountCents: 1500,
        paidAt: '2030-01-02T10:00:00Z',
      });
    });
    expect(outcome).toMatchObject({ status: 'Delivered', copayCents: 1500, paymentId: 'pay-123', paymentLinkId: expect.any(String) });
    expect(fake.calls).toEqual(expect.arrayContaining(['requestPayment', 'recordPayment', 'createShippingLabel']));
    expect(fake.calls.indexOf('recordPayment')).toBeLessThan(fake.calls.indexOf('createShippingLabel'));
    expect(fake.calls).not.toContain('expirePaymentLink');
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

  it('a payment that arrives while the expiring link is held by an outage ends the run asking a person, not silently', async () => {
    const fake = fakeActivities({ copayCents: 1500, expiryOutage: 3 });
    let attention: Attention | undefined;
    let searchAttributes: Record<string, unknown> = {};
    const outcome = await run(fake.activities, randomUUID(), async (workflowId) => {
      const handle = env.client.workflow.getHandle(workflowId);
      await untilStatus(workflowId, 'AwaitingPayment');
      while (!fake.calls.includes('expirePaymentLink')) await env.sleep('1 day');
      const { prescriptionId } = await handle.query(fulfillmentStateQuery);
      await handle.signal(paymentCompletedSignal, { prescriptionId, paymentId: 'pay-late', amountCents: 1500, paidAt: '2030-01-05T10:00:00Z' });
      await handle.result();
      // A closed run answers queries through a worker: this one, before it stops.
      attention = await handle.query(attentionQuery);
      const { typedSearchAttributes } = await handle.describe();
      searchAttributes = { status: typedSearchAttributes.get(pipelineStatusKey), kind: typedSearchAttributes.get(attentionKindKey) };
    });
    expect(outcome).toMatchObject({ status: 'PaymentExpired', unclaimedPaymentId: 'pay-late' });
    expect(fake.calls).not.toContain('recordPayment');
    expect(attention).toMatchObject({ status: 'NeedsAttention', kind: 'LatePayment', failedStep: 'expirePaymentLink' });
    expect(attention!.lastError).toContain('payment pay-late arrived while the payment link was being closed');
    expect(searchAttributes).toEqual({ status: 'NeedsAttention', kind: 'LatePayment' });
  });

  it('tracks the parcel once a day across days until the carrier reports it delivered', async () => {
    const fake = fakeActivities({ tracking: ['label_created', 'in_transit', 'in_transit', 'delivered'] });
    const outcome = await run(fake.activities);
    expect(outcome).toMatchObject({ status: 'Delivered', deliveredAt: expect.any(String) });
    expect(fake.polls).toHaveLength(4);
    // Each poll came a day of workflow time after the one before.
    for (let i = 1; i < fake.polls.length; i++) expect(fake.polls[i]! - fake.polls[i - 1]!).toBeGreaterThanOrEqual(day - 1000);
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
