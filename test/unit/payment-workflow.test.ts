import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CardPaymentActivities } from '../../src/activities/card-payment';
import { refundRefusedErrorType, type RefundActivities } from '../../src/activities/refund';
import { paymentStateQuery, paymentTaskQueue, paymentWorkflowId, type PaymentOrder, type RefundRequest } from '../../src/contracts/payment';
import {
  attentionKindKey,
  attentionQuery,
  failedStepKey,
  operatorDecisionSignal,
  pipelineStatusKey,
  refundStatusKey,
  type Attention,
} from '../../src/contracts/pipeline';
import { paymentWorkflow } from '../../src/workflows/payment';
import { createTimeSkippingEnv, withWorker } from '../support/time-skipping';

type Activities = CardPaymentActivities & RefundActivities;
type Step = keyof Activities;
/** How a fake step answers an attempt: as it should, an outage (retryable), or a refusal (non-retryable). */
type Answer = 'ok' | 'outage' | 'refusal';

const order = (paymentId: string, card = '4242424242424242'): PaymentOrder => ({
  paymentId,
  amountCents: 2_500,
  currency: 'USD',
  card,
  purpose: { kind: 'course', studentId: 'student_1', courseId: 'course_typescript' },
  acceptedAt: '2030-01-10T09:00:00Z',
  trace: { correlationId: `corr-${paymentId}` },
});

/**
 * In-memory stand-ins with the real activities' types: a card processor whose test card
 * 4000000000000002 is declined, and a ledger. `answers[step]` decides each attempt of that step.
 */
function fakeActivities(answers: Partial<Record<Step, () => Answer>> = {}) {
  const attempts: Record<Step, number> = { chargeCard: 0, recordCharge: 0, recordDecline: 0, announcePayment: 0, refundPayment: 0, lookUpPayment: 0 };
  const done: Step[] = [];
  const announced: Array<Parameters<Activities['announcePayment']>[0]> = [];
  const refunds: RefundRequest[] = [];
  const attempt = (step: Step) => {
    attempts[step]++;
    const answer = answers[step]?.() ?? 'ok';
    if (answer === 'outage') throw ApplicationFailure.create({ message: `connection refused (${step})` });
    if (answer === 'refusal') {
      const type = step === 'refundPayment' ? refundRefusedErrorType : 'PaymentLedgerRefused';
      throw ApplicationFailure.create({ type, message: `${step} refused`, nonRetryable: true });
    }
    done.push(step);
  };
  const activities: Activities = {
    async chargeCard({ paymentId, card }) {
      attempt('chargeCard');
      return card === '4000000000000002'
        ? { status: 'Declined', providerPaymentId: `ch_${paymentId}`, declineCode: 'card_declined' }
        : { status: 'Charged', providerPaymentId: `ch_${paymentId}` };
    },
    async recordCharge() {
      attempt('recordCharge');
    },
    async recordDecline() {
      attempt('recordDecline');
    },
    async announcePayment(event) {
      attempt('announcePayment');
      announced.push(event);
    },
    async refundPayment(request) {
      attempt('refundPayment');
      refunds.push(request);
      return { paymentId: request.paymentId, refundId: `re_${request.paymentId}`, amountCents: 2_500, reason: request.reason };
    },
    async lookUpPayment() {
      attempt('lookUpPayment');
      return undefined;
    },
  };
  return { activities, attempts, done, announced, refunds };
}

describe('payment workflow', () => {
  // A fresh test server per test, as in the purchase tests: a clock one test left locked would make
  // the next wait out its retry backoffs in real time.
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown();
  });

  /**
   * Refunds go to the payment pipeline's task queue whichever run asks (src/workflows/refunds.ts),
   * so the run is started there: this test's own server has no other poller of it.
   */
  const run = <T>(activities: Activities, body: (handle: WorkflowHandle<typeof paymentWorkflow>) => Promise<T>, card?: string) =>
    withWorker(
      env,
      activities,
      async (taskQueue) => {
        const paymentId = `pay_${randomUUID().slice(0, 8)}`;
        const handle = await env.client.workflow.start(paymentWorkflow, { taskQueue, workflowId: paymentWorkflowId(paymentId), args: [order(paymentId, card)] });
        return body(handle);
      },
      paymentTaskQueue,
    );

  async function searchAttributes(handle: WorkflowHandle) {
    const { typedSearchAttributes } = await handle.describe();
    return {
      status: typedSearchAttributes.get(pipelineStatusKey),
      failedStep: typedSearchAttributes.get(failedStepKey),
      kind: typedSearchAttributes.get(attentionKindKey),
      refund: typedSearchAttributes.get(refundStatusKey),
    };
  }

  /** Skips workflow time a minute at a time until `accept` holds. */
  async function until(handle: WorkflowHandle, accept: (a: Attention) => boolean): Promise<Attention> {
    for (let i = 0; i < 120; i++) {
      const attention = await handle.query(attentionQuery);
      if (accept(attention)) return attention;
      await env.sleep('1 minute');
    }
    throw new Error(`attention never matched; last: ${JSON.stringify(await handle.query(attentionQuery))}`);
  }

  /** The run's failure, with its cause: a compensated payment ends failed, as every saga's run does. */
  const failureOf = (handle: WorkflowHandle) =>
    handle.result().then(
      () => expect.fail('the run completed'),
      (err: unknown) => {
        expect(err).toBeInstanceOf(WorkflowFailedError);
        return (err as WorkflowFailedError).cause;
      },
    );

  it('charges the card, records the charge and announces the payment, then completes', async () => {
    const fake = fakeActivities();
    const { outcome, attributes, paymentId } = await run(fake.activities, async (handle) => ({
      outcome: await handle.result(),
      attributes: await searchAttributes(handle),
      paymentId: (await handle.query(paymentStateQuery)).paymentId,
    }));
    expect(outcome).toEqual({ paymentId, status: 'Charged', providerPaymentId: `ch_${paymentId}` });
    expect(fake.done).toEqual(['chargeCard', 'recordCharge', 'announcePayment']);
    expect(fake.announced).toMatchObject([{ paymentId, amountCents: 2_500, purpose: { kind: 'course', studentId: 'student_1' } }]);
    expect(fake.announced[0]!.chargedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(attributes).toEqual({ status: 'Completed', failedStep: undefined, kind: undefined, refund: undefined });
  });

  it('a declined card ends the payment Declined: the decline is recorded, nothing is announced, and the card is asked once', async () => {
    const fake = fakeActivities();
    const { outcome, attributes } = await run(
      fake.activities,
      async (handle) => ({ outcome: await handle.result(), attributes: await searchAttributes(handle) }),
      '4000000000000002',
    );
    expect(outcome).toMatchObject({ status: 'Declined', declineCode: 'card_declined' });
    expect(fake.done).toEqual(['chargeCard', 'recordDecline']);
    expect(fake.attempts.chargeCard).toBe(1);
    expect(fake.announced).toEqual([]);
    expect(attributes).toMatchObject({ status: 'Rejected', refund: undefined });
  });

  it.each(['recordCharge', 'announcePayment'] as const)(
    'when %s is refused for good after the charge, the payment is refunded: RefundStatus Refunded, and its state shows the refund',
    async (step) => {
      const fake = fakeActivities({ [step]: () => 'refusal' });
      const { cause, state, attributes } = await run(fake.activities, async (handle) => ({
        cause: await failureOf(handle),
        state: await handle.query(paymentStateQuery),
        attributes: await searchAttributes(handle),
      }));
      expect(cause).toMatchObject({ type: 'StepRefused', message: `Step ${step} refused: ${step} refused` });
      expect(fake.attempts[step]).toBe(1);
      expect(fake.refunds).toEqual([{ paymentId: state.paymentId, reason: `payment ${state.paymentId} was not completed after its charge` }]);
      expect(state).toMatchObject({
        status: 'Refunded',
        providerPaymentId: `ch_${state.paymentId}`,
        refund: { paymentId: state.paymentId, refundId: `re_${state.paymentId}`, amountCents: 2_500 },
      });
      expect(attributes).toEqual({ status: 'Rejected', failedStep: undefined, kind: undefined, refund: 'Refunded' });
      expect(fake.announced).toEqual([]);
    },
  );

  it('a refund the provider cannot take for a while (an outage) is retried by itself until it goes through, with nobody asked', async () => {
    let providerDown = true;
    const fake = fakeActivities({ announcePayment: () => 'refusal', refundPayment: () => (providerDown ? 'outage' : 'ok') });
    const { cause, state, attributes } = await run(fake.activities, async (handle) => {
      const parked = await until(handle, (a) => a.status === 'NeedsAttention');
      expect(parked).toMatchObject({ failedStep: 'refundPayment', kind: 'Outage', retryingEvery: '5 minutes', lastError: 'connection refused (refundPayment)' });
      expect(await searchAttributes(handle)).toEqual({ status: 'NeedsAttention', failedStep: 'refundPayment', kind: 'Outage', refund: 'Refunding' });
      // Its five fast attempts, then Temporal's every 5 minutes.
      expect(fake.attempts.refundPayment).toBe(5);
      await env.sleep('11 minutes');
      // The attempt Temporal made runs in real time on this worker.
      for (let i = 0; i < 200 && fake.attempts.refundPayment < 6; i++) await new Promise((r) => setTimeout(r, 50));
      expect(fake.attempts.refundPayment).toBeGreaterThanOrEqual(6);

      providerDown = false; // no signal is sent
      return { cause: await failureOf(handle), state: await handle.query(paymentStateQuery), attributes: await searchAttributes(handle) };
    });
    expect(cause).toMatchObject({ type: 'StepRefused' });
    expect(state).toMatchObject({ status: 'Refunded', refund: { refundId: `re_${state.paymentId}` } });
    expect(attributes).toEqual({ status: 'Rejected', failedStep: undefined, kind: undefined, refund: 'Refunded' });
    expect(fake.refunds).toHaveLength(1);
  });

  it("an operator's abort after the charge, while announcePayment is down, refunds the payment, as the parked run's details say", async () => {
    const fake = fakeActivities({ announcePayment: () => 'outage' });
    const { cause, state, attributes } = await run(fake.activities, async (handle) => {
      await until(handle, (a) => a.status === 'NeedsAttention' && a.failedStep === 'announcePayment');
      const { currentDetails } = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      const { paymentId } = await handle.query(paymentStateQuery);
      expect(currentDetails).toContain(`or give up on it (then, newest first: refund payment ${paymentId} (2500 cents)):`);
      await handle.signal(operatorDecisionSignal, 'abort');
      return { cause: await failureOf(handle), state: await handle.query(paymentStateQuery), attributes: await searchAttributes(handle) };
    });
    expect(cause).toMatchObject({ type: 'OperatorAbort', message: 'Aborted by an operator at step announcePayment' });
    expect(fake.refunds).toHaveLength(1);
    expect(state).toMatchObject({ status: 'Refunded', refund: { refundId: `re_${state.paymentId}` } });
    expect(attributes).toEqual({ status: 'Aborted', failedStep: undefined, kind: undefined, refund: 'Refunded' });
  });

  it('a refund the provider refuses waits for a person at refundPayment, still Refunding; their retry refunds it', async () => {
    let refuse = true;
    const fake = fakeActivities({ recordCharge: () => 'refusal', refundPayment: () => (refuse ? 'refusal' : 'ok') });
    const { cause, state, attributes } = await run(fake.activities, async (handle) => {
      const parked = await until(handle, (a) => a.status === 'NeedsAttention');
      expect(parked).toMatchObject({ failedStep: 'refundPayment', kind: 'Refusal', lastError: 'refundPayment refused' });
      expect(await searchAttributes(handle)).toEqual({ status: 'NeedsAttention', failedStep: 'refundPayment', kind: 'Refusal', refund: 'Refunding' });
      const waiting = await handle.query(paymentStateQuery);
      expect(waiting.status).toBe('Accepted');
      expect(waiting.refund).toBeUndefined();
      // Nothing is retried behind the person's back, however long they take.
      await env.sleep('2 days');
      expect(fake.attempts.refundPayment).toBe(1);

      refuse = false;
      await handle.signal(operatorDecisionSignal, 'retry');
      return { cause: await failureOf(handle), state: await handle.query(paymentStateQuery), attributes: await searchAttributes(handle) };
    });
    expect(cause).toMatchObject({ type: 'StepRefused', message: 'Step recordCharge refused: recordCharge refused' });
    expect(fake.attempts.refundPayment).toBe(2);
    expect(state).toMatchObject({ status: 'Refunded', refund: { refundId: `re_${state.paymentId}` } });
    expect(attributes).toEqual({ status: 'Rejected', failedStep: undefined, kind: undefined, refund: 'Refunded' });
  });
});
