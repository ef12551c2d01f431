import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AllocationActivities } from '../../src/activities/allocation';
import type { CacheActivities } from '../../src/activities/cache';
import type { EventActivities } from '../../src/activities/events';
import type { PurchaseActivities } from '../../src/activities/purchase';
import { refundRefusedErrorType, type RefundActivities } from '../../src/activities/refund';
import type { SessionActivities } from '../../src/activities/sessions';
import type { RefundRequest } from '../../src/contracts/payment';
import { attentionQuery, operatorDecisionSignal, pipelineStatusKey, refundStatusKey } from '../../src/contracts/pipeline';
import {
  allocationEndedSignal,
  allocationRefusedErrorType,
  purchaseStateQuery,
  purchaseWorkflowId,
  sessionWindowStateQuery,
  sessionWindowWorkflowId,
  type PurchaseCreated,
  type TrainerAllocated,
} from '../../src/contracts/purchase';
import { purchaseToSessionsWorkflow, sessionWindowWorkflow } from '../../src/workflows/purchase';
import { createTimeSkippingEnv, withWorker as runWorker } from '../support/time-skipping';

type Activities = PurchaseActivities & EventActivities & CacheActivities & AllocationActivities & SessionActivities & RefundActivities;

const confirmation = (paymentId: string, paymentTaskQueue: string) => ({
  type: 'PURCHASE_CONFIRMED' as const,
  paymentId,
  studentId: 'student_1',
  courseId: 'course_typescript',
  confirmedAt: '2030-01-10T09:00:00Z',
  trace: { correlationId: `corr-${paymentId}`, baggage: 'tenant=acme' },
  // The refunds go to this test's worker, which has the ledger's fakes too.
  paymentTaskQueue,
});

/**
 * In-memory stand-ins with the real activities' types. `adminService` answers each allocation
 * attempt: 'ok', 'down' (an outage, retried) or 'refuse' (no trainer available). The payment
 * ledger has every payment unless `paymentNotInLedger`.
 */
function fakeActivities(
  options: {
    activePurchaseOf?: string;
    allocatedBefore?: string;
    cache?: 'ok' | 'down' | 'hang';
    adminService?: () => 'ok' | 'down' | 'refuse' | 'hang';
    paymentNotInLedger?: boolean;
    deactivatedBefore?: boolean;
    kafka?: 'ok' | 'down';
  } = {},
) {
  const calls: string[] = [];
  const refundsAsked: RefundRequest[] = [];
  const events: Array<PurchaseCreated | TrainerAllocated> = [];
  const attempts = { cache: 0, allocation: 0 };
  const sessions: string[] = [];
  const activities: Activities = {
    async createPurchase(c) {
      calls.push('createPurchase');
      if (options.deactivatedBefore) return { outcome: 'Deactivated', purchaseId: `p-${c.paymentId}` };
      if (options.allocatedBefore) {
        return { outcome: 'AlreadyAllocated', purchaseId: `p-${c.paymentId}`, allocation: { allocationId: options.allocatedBefore, trainerId: 'trainer_ada' } };
      }
      return options.activePurchaseOf
        ? { outcome: 'AlreadyActive', purchaseId: options.activePurchaseOf }
        : { outcome: 'Created', purchaseId: `p-${c.paymentId}` };
    },
    async emitPurchaseCreated(event) {
      calls.push('emitPurchaseCreated');
      events.push(event);
    },
    async emitTrainerAllocated(event) {
      if (options.kafka === 'down') throw new Error('kafka unreachable');
      calls.push('emitTrainerAllocated');
      events.push(event);
    },
    async invalidateStudentCaches() {
      attempts.cache++;
      if (options.cache === 'down') throw new Error('redis unreachable');
      // Never answers: only the attempt's timeout ends it.
      if (options.cache === 'hang') await new Promise((resolve) => Context.current().cancellationSignal.addEventListener('abort', resolve));
      calls.push('invalidateStudentCaches');
      return 2;
    },
    async allocateTrainer(request) {
      attempts.allocation++;
      const answer = options.adminService?.() ?? 'ok';
      if (answer === 'down') throw new Error('admin service answered 503');
      // Never answers: only the activity's 30 s start-to-close timeout ends the attempt.
      if (answer === 'hang') await new Promise((resolve) => Context.current().cancellationSignal.addEventListener('abort', resolve));
      if (answer === 'refuse') {
        throw ApplicationFailure.create({ type: allocationRefusedErrorType, nonRetryable: true, message: 'no trainer available for course_typescript' });
      }
      calls.push('allocateTrainer');
      return { allocationId: `alloc-${request.purchaseId}`, trainerId: 'trainer_ada' };
    },
    async sessionWindowOf() {
      return { allocationActive: true, futureSessions: sessions.length, lastScheduledDate: sessions.at(-1) ?? null };
    },
    async scheduleSessions(_allocation, slots) {
      sessions.push(...slots.map((s) => s.date));
      return slots.length;
    },
    async deactivatePurchase(purchaseId) {
      calls.push(`deactivatePurchase ${purchaseId}`);
    },
    async lookUpPayment(paymentId) {
      calls.push('lookUpPayment');
      if (options.paymentNotInLedger) return undefined;
      return { paymentId, status: 'Charged', purpose: { kind: 'course', studentId: 'student_1', courseId: 'course_typescript' }, amountCents: 4900, currency: 'EUR' };
    },
    async refundPayment(request) {
      calls.push(`refundPayment ${request.paymentId}`);
      if (options.paymentNotInLedger) {
        throw ApplicationFailure.create({
          type: refundRefusedErrorType,
          nonRetryable: true,
          message: `payment ${request.paymentId} cannot be refunded: the ledger has no such payment`,
        });
      }
      refundsAsked.push(request);
      return { ...request, refundId: `re-${request.paymentId}`, amountCents: 4900 };
    },
  };
  return { activities, calls, events, attempts, sessions, refundsAsked };
}

describe('purchase-to-sessions workflow', () => {
  // A fresh test server per test: a session window ended by its signal in one test otherwise
  // leaves the shared server's clock locked, and later tests would wait out retry backoffs in
  // real time.
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown();
  });

  const withWorker = <T>(activities: Activities, run: (taskQueue: string) => Promise<T>) =>
    runWorker(env, activities, run);

  const start = (taskQueue: string, paymentId = `pay_${randomUUID()}`) =>
    env.client.workflow.start(purchaseToSessionsWorkflow, {
      taskQueue,
      workflowId: purchaseWorkflowId(paymentId),
      args: [confirmation(paymentId, taskQueue)],
    });

  /** The window runs on after the purchase completes; once it has opened, end it so the worker can stop. */
  async function endWindow(allocationId: string) {
    const window = env.client.workflow.getHandle(sessionWindowWorkflowId(allocationId));
    while ((await window.query(sessionWindowStateQuery)).sessionsAdded === 0) await env.sleep('1 second');
    await window.signal(allocationEndedSignal);
    return window.result();
  }

  it('creates the purchase, announces it, allocates a trainer, announces that, and opens a window of 7 sessions', async () => {
    const fake = fakeActivities();
    const { outcome, window } = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq, 'pay_1');
      const outcome = await handle.result();
      return { outcome, window: await endWindow(outcome.allocationId!) };
    });
    expect(outcome).toEqual({ status: 'SessionsScheduled', purchaseId: 'p-pay_1', allocationId: 'alloc-p-pay_1', trainerId: 'trainer_ada', refunds: [] });
    expect(fake.calls.filter((c) => c !== 'invalidateStudentCaches')).toEqual([
      'createPurchase',
      'emitPurchaseCreated',
      'allocateTrainer',
      'emitTrainerAllocated',
    ]);
    expect(fake.calls).toContain('invalidateStudentCaches');
    expect(fake.events).toMatchObject([
      { eventId: 'PURCHASE_CREATED:pay_1', type: 'PURCHASE_CREATED', purchaseId: 'p-pay_1', studentId: 'student_1' },
      { eventId: 'TRAINER_ALLOCATED:alloc-p-pay_1', type: 'TRAINER_ALLOCATED', allocationId: 'alloc-p-pay_1', trainerId: 'trainer_ada' },
    ]);
    expect(window.sessionsAdded).toBe(7);
    expect(fake.sessions).toHaveLength(7);
  });

  it('a second payment for a course the student already has active is refunded, with the reason in words, and the run ends AlreadyPurchased saying so', async () => {
    const fake = fakeActivities({ activePurchaseOf: 'p-earlier' });
    const { outcome, state, description } = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq, 'pay_second');
      const outcome = await handle.result();
      return { outcome, state: await handle.query(purchaseStateQuery), description: await handle.describe() };
    });
    const refund = {
      paymentId: 'pay_second',
      refundId: 're-pay_second',
      amountCents: 4900,
      reason: 'student student_1 already has course course_typescript (purchase p-earlier)',
    };
    expect(outcome).toEqual({ status: 'AlreadyPurchased', purchaseId: 'p-earlier', refunds: [refund] });
    expect(state).toEqual(outcome);
    expect(fake.calls).toEqual(['createPurchase', 'lookUpPayment', 'refundPayment pay_second']);
    expect(fake.events).toEqual([]);
    expect(description.typedSearchAttributes.get(refundStatusKey)).toBe('Refunded');
    expect(description.typedSearchAttributes.get(pipelineStatusKey)).toBe('Completed');
  });

  it("a refund through an outage longer than its fast retries is retried on the payment workers' queue, where its activity is, until it goes through", async () => {
    const fake = fakeActivities({ activePurchaseOf: 'p-earlier' });
    let refundAttempts = 0;
    const { lookUpPayment, refundPayment, ...purchaseOnly } = fake.activities;
    const ledger = {
      lookUpPayment,
      async refundPayment(request: RefundRequest) {
        if (++refundAttempts <= 6) throw new Error('payment provider answered 503');
        return refundPayment(request);
      },
    };
    // The purchase's own queue has no refund activity: a retry sent there would never run.
    const outcome = await runWorker(env, ledger, (ledgerQueue) =>
      withWorker(purchaseOnly as Activities, async (tq) => {
        const paymentId = 'pay_refund_outage';
        const handle = await env.client.workflow.start(purchaseToSessionsWorkflow, {
          taskQueue: tq,
          workflowId: purchaseWorkflowId(paymentId),
          args: [confirmation(paymentId, ledgerQueue)],
        });
        return handle.result();
      }),
    );
    expect(refundAttempts).toBe(7);
    expect(outcome).toMatchObject({ status: 'AlreadyPurchased', refunds: [{ paymentId: 'pay_refund_outage' }] });
  });

  it('a second payment our ledger does not have is not refunded through the provider: the run ends AlreadyPurchased, waiting for a person to refund it by hand', async () => {
    const fake = fakeActivities({ activePurchaseOf: 'p-earlier', paymentNotInLedger: true });
    const { outcome, attention, description } = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq, 'pay_legacy');
      const outcome = await handle.result();
      return { outcome, attention: await handle.query(attentionQuery), description: await handle.describe() };
    });
    expect(outcome).toEqual({ status: 'AlreadyPurchased', purchaseId: 'p-earlier', refunds: [] });
    expect(fake.calls).toEqual(['createPurchase', 'lookUpPayment']);
    expect(attention).toMatchObject({
      status: 'NeedsAttention',
      failedStep: 'refundPayment',
      kind: 'Refusal',
      lastError: 'refund payment pay_legacy by hand: it is not in our ledger',
    });
    expect(description.typedSearchAttributes.get(pipelineStatusKey)).toBe('NeedsAttention');
    expect(description.typedSearchAttributes.get(refundStatusKey)).toBeUndefined();
  });

  it('aborted where no trainer is available, the run refunds the payment and then deactivates the purchase, as its parked details said it would', async () => {
    const fake = fakeActivities({ adminService: () => 'refuse' });
    const { details, failure, attention, state, description } = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq, 'pay_aborted');
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('10 seconds');
      const { currentDetails } = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      await handle.signal(operatorDecisionSignal, 'abort');
      const failure = await handle.result().catch((err: unknown) => err);
      return {
        details: currentDetails,
        failure,
        attention: await handle.query(attentionQuery),
        state: await handle.query(purchaseStateQuery),
        description: await handle.describe(),
      };
    });
    expect(details).toContain('or give up on it (then, newest first: refund payment pay_aborted; deactivate purchase p-pay_aborted):');
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'OperatorAbort', message: 'Aborted by an operator at step allocateTrainer' });
    expect(fake.calls.filter((c) => c !== 'invalidateStudentCaches')).toEqual([
      'createPurchase',
      'emitPurchaseCreated',
      'refundPayment pay_aborted',
      'deactivatePurchase p-pay_aborted',
    ]);
    expect(fake.refundsAsked).toEqual([{ paymentId: 'pay_aborted', reason: 'purchase p-pay_aborted aborted' }]);
    expect(attention.compensations).toEqual([
      { step: 'payment', outcome: 'Compensated' },
      { step: 'createPurchase', outcome: 'Compensated' },
    ]);
    expect(state.refunds).toEqual([{ paymentId: 'pay_aborted', refundId: 're-pay_aborted', amountCents: 4900, reason: 'purchase p-pay_aborted aborted' }]);
    expect(description.typedSearchAttributes.get(refundStatusKey)).toBe('Refunded');
    expect(description.typedSearchAttributes.get(pipelineStatusKey)).toBe('Aborted');
  });

  it('a confirmation redelivered after its purchase went all the way and its run left Temporal (retention) ends as that run did, announcing and starting nothing', async () => {
    const fake = fakeActivities({ allocatedBefore: 'alloc-earlier' });
    const outcome = await withWorker(fake.activities, async (tq) => (await start(tq, 'pay_2')).result());
    expect(outcome).toEqual({ status: 'SessionsScheduled', purchaseId: 'p-pay_2', allocationId: 'alloc-earlier', trainerId: 'trainer_ada', refunds: [] });
    expect(fake.calls).toEqual(['createPurchase']);
    expect(fake.events).toEqual([]);
    const window = env.client.workflow.getHandle(sessionWindowWorkflowId('alloc-earlier'));
    await expect(window.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('aborted, a payment our ledger lacks waits for a person at refundPayment with the purchase still active; once they give the refund up, the purchase is deactivated', async () => {
    const fake = fakeActivities({ adminService: () => 'refuse', paymentNotInLedger: true });
    const { waiting, callsWhileWaiting, attention } = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq, 'pay_legacy_aborted');
      while ((await handle.query(attentionQuery)).failedStep !== 'allocateTrainer') await env.sleep('10 seconds');
      await handle.signal(operatorDecisionSignal, 'abort');
      while ((await handle.query(attentionQuery)).failedStep !== 'refundPayment') await env.sleep('10 seconds');
      const waiting = await handle.describe();
      const callsWhileWaiting = [...fake.calls];
      await handle.signal(operatorDecisionSignal, 'abort');
      await handle.result().catch(() => undefined);
      return { waiting, callsWhileWaiting, attention: await handle.query(attentionQuery) };
    });
    expect(waiting.typedSearchAttributes.get(pipelineStatusKey)).toBe('NeedsAttention');
    expect(waiting.typedSearchAttributes.get(refundStatusKey)).toBe('Refunding');
    expect(callsWhileWaiting.at(-1)).toBe('refundPayment pay_legacy_aborted');
    expect(fake.calls.at(-1)).toBe('deactivatePurchase p-pay_legacy_aborted');
    expect(attention).toMatchObject({
      status: 'Aborted',
      failedStep: 'allocateTrainer',
      compensations: [
        { step: 'payment', outcome: 'Failed', error: 'Aborted by an operator at step refundPayment' },
        { step: 'createPurchase', outcome: 'Compensated' },
      ],
    });
  });

  it('aborted after its trainer was allocated, the run refunds and deactivates but leaves the allocation, and starts no session window', async () => {
    const fake = fakeActivities({ kafka: 'down' });
    const attention = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq, 'pay_allocated');
      while ((await handle.query(attentionQuery)).failedStep !== 'emitTrainerAllocated') await env.sleep('1 minute');
      await handle.signal(operatorDecisionSignal, 'abort');
      await handle.result().catch(() => undefined);
      return handle.query(attentionQuery);
    });
    expect(fake.calls.filter((c) => c !== 'invalidateStudentCaches')).toEqual([
      'createPurchase',
      'emitPurchaseCreated',
      'allocateTrainer',
      'refundPayment pay_allocated',
      'deactivatePurchase p-pay_allocated',
    ]);
    expect(attention).toMatchObject({ status: 'Aborted', failedStep: 'emitTrainerAllocated', lastError: 'kafka unreachable' });
    const window = env.client.workflow.getHandle(sessionWindowWorkflowId('alloc-p-pay_allocated'));
    await expect(window.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('a confirmation delivered again after an aborted run deactivated its purchase (and left Temporal) changes nothing: no course for a refunded payment', async () => {
    const fake = fakeActivities({ deactivatedBefore: true });
    const outcome = await withWorker(fake.activities, async (tq) => (await start(tq, 'pay_3')).result());
    expect(outcome).toEqual({ status: 'Deactivated', purchaseId: 'p-pay_3', refunds: [] });
    expect(fake.calls).toEqual(['createPurchase']);
    expect(fake.events).toEqual([]);
  });

  // The invalidation runs inside the purchase's workflow task (a local activity), which sends the
  // allocation's command only when it ends: each attempt times out after a second, so a hung Redis
  // cannot hold the purchase for ever.
  it.each([
    { cache: 'down' as const, redis: 'refuses every attempt', ending: 'it gives up after 3 attempts' },
    { cache: 'hang' as const, redis: 'does not answer', ending: 'each of the 3 attempts times out' },
  ])('when Redis $redis, $ending and the purchase completes anyway', async ({ cache }) => {
    const fake = fakeActivities({ cache });
    const outcome = await withWorker(fake.activities, async (tq) => {
      const outcome = await (await start(tq)).result();
      await endWindow(outcome.allocationId!);
      return outcome;
    });
    expect(outcome.status).toBe('SessionsScheduled');
    expect(fake.attempts.cache).toBe(3);
    expect(fake.events.map((e) => e.type)).toEqual(['PURCHASE_CREATED', 'TRAINER_ALLOCATED']);
  });

  it('an admin-service outage is retried with backoff and the fifth attempt still succeeds without parking', async () => {
    const fake = fakeActivities({ adminService: () => (fake.attempts.allocation < 5 ? 'down' : 'ok') });
    const outcome = await withWorker(fake.activities, async (tq) => {
      const outcome = await (await start(tq)).result();
      await endWindow(outcome.allocationId!);
      return outcome;
    });
    expect(outcome.status).toBe('SessionsScheduled');
    expect(fake.attempts.allocation).toBe(5);
  });

  it('an admin-service call that outlasts its 30 s timeout is abandoned and tried again', async () => {
    const fake = fakeActivities({ adminService: () => (fake.attempts.allocation === 1 ? 'hang' : 'ok') });
    const { outcome, elapsedMs } = await withWorker(fake.activities, async (tq) => {
      const before = await env.currentTimeMs();
      const outcome = await (await start(tq)).result();
      const elapsedMs = (await env.currentTimeMs()) - before;
      await endWindow(outcome.allocationId!);
      return { outcome, elapsedMs };
    });
    expect(outcome.status).toBe('SessionsScheduled');
    expect(fake.attempts.allocation).toBe(2);
    expect(elapsedMs).toBeGreaterThanOrEqual(30_000);
  });

  it('an outage longer than 5 attempts parks as NeedsAttention at allocateTrainer', async () => {
    const fake = fakeActivities({ adminService: () => 'down' });
    const attention = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq);
      while ((await handle.query(attentionQuery)).status !== 'NeedsAttention') await env.sleep('10 seconds');
      await handle.signal(operatorDecisionSignal, 'abort');
      const failure = await handle.result().catch((err: unknown) => err);
      expect((failure as WorkflowFailedError).cause).toMatchObject({
        type: 'OperatorAbort',
        message: 'Aborted by an operator at step allocateTrainer',
      });
      return handle.query(attentionQuery);
    });
    expect(fake.attempts.allocation).toBe(5);
    expect(attention).toMatchObject({ status: 'Aborted', failedStep: 'allocateTrainer', lastError: 'admin service answered 503' });
  });

  it('"no trainer available" is not retried: it parks at once, and an operator retry after capacity was added completes it', async () => {
    let trainerFree = false;
    const fake = fakeActivities({ adminService: () => (trainerFree ? 'ok' : 'refuse') });
    const outcome = await withWorker(fake.activities, async (tq) => {
      const handle = await start(tq);
      let attention = await handle.query(attentionQuery);
      while (attention.status !== 'NeedsAttention') {
        await env.sleep('10 seconds');
        attention = await handle.query(attentionQuery);
      }
      expect(attention).toMatchObject({ failedStep: 'allocateTrainer', lastError: 'no trainer available for course_typescript' });
      expect(fake.attempts.allocation).toBe(1);
      // Parked, it waits for as long as it takes; nothing is retried behind the operator's back.
      await env.sleep('3 days');
      expect(fake.attempts.allocation).toBe(1);

      trainerFree = true;
      await handle.signal(operatorDecisionSignal, 'retry');
      const outcome = await handle.result();
      await endWindow(outcome.allocationId!);
      return outcome;
    });
    expect(outcome.status).toBe('SessionsScheduled');
    expect(fake.attempts.allocation).toBe(2);
    expect(fake.events.map((e) => e.type)).toEqual(['PURCHASE_CREATED', 'TRAINER_ALLOCATED']);
  });

  it("a session window already running for the allocation is that allocation's window: the purchase still completes", async () => {
    const fake = fakeActivities();
    const allocationId = 'alloc-p-pay_reused';
    const outcome = await withWorker(fake.activities, async (tq) => {
      await env.client.workflow.start(sessionWindowWorkflow, {
        taskQueue: tq,
        workflowId: sessionWindowWorkflowId(allocationId),
        args: [{ allocationId, studentId: 'student_1', trainerId: 'trainer_ada' }],
      });
      const outcome = await (await start(tq, 'pay_reused')).result();
      await endWindow(allocationId);
      return outcome;
    });
    expect(outcome).toMatchObject({ status: 'SessionsScheduled', allocationId });
    expect(fake.calls).toContain('emitTrainerAllocated');
  });
});
