import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attentionKindKey,
  attentionQuery,
  failedStepKey,
  operatorDecisionSignal,
  pipelineStatusKey,
  type Attention,
} from '../../src/contracts/pipeline';
import type { ReservationActivities, ReservationOptions } from '../fixtures/operator-workflows';
import { reservationWorkflow } from '../fixtures/operator-workflows';
import { failureConverterPath } from '../../src/codec/data-converter';
import { createTimeSkippingEnv, testDataConverter } from '../support/time-skipping';

type Step = keyof ReservationActivities;
type Fault = 'outage' | 'refusal' | undefined;

/** Fakes typed from the fixture's activities; each counts its attempts and fails as told. */
function fakeActivities() {
  const faults: Partial<Record<Step, Fault>> = {};
  const attempts: Record<Step, number> = { reserveRoom: 0, releaseRoom: 0, chargeCard: 0, refundCard: 0, sendConfirmation: 0 };
  const done: Step[] = [];
  const act = (step: Step) => async () => {
    attempts[step]++;
    if (faults[step] === 'outage') throw ApplicationFailure.create({ message: `connection refused (${step})` });
    if (faults[step] === 'refusal') throw ApplicationFailure.create({ message: `${step} declined`, nonRetryable: true });
    done.push(step);
  };
  const activities: ReservationActivities = {
    reserveRoom: act('reserveRoom'),
    releaseRoom: act('releaseRoom'),
    chargeCard: act('chargeCard'),
    refundCard: act('refundCard'),
    sendConfirmation: act('sendConfirmation'),
  };
  return { activities, faults, attempts, done };
}

describe('operator steps: outage versus refusal, and compensation', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
    bundle = await bundleWorkflowCode({
      workflowsPath: path.resolve(__dirname, '..', 'fixtures', 'operator-workflows.ts'),
      failureConverterPath,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
    });
  });
  afterAll(async () => {
    await env?.teardown();
  });

  async function run<T>(
    activities: ReservationActivities,
    options: ReservationOptions,
    body: (handle: WorkflowHandle<typeof reservationWorkflow>) => Promise<T>,
  ): Promise<T> {
    const taskQueue = `test-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities, dataConverter: testDataConverter });
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(reservationWorkflow, {
        taskQueue,
        workflowId: `reservation-${randomUUID()}`,
        args: [randomUUID(), options],
      });
      return body(handle);
    });
  }

  /** Skips workflow time a minute at a time until `accept` holds (or fails after `limit`). */
  async function until(handle: WorkflowHandle, accept: (a: Attention) => boolean, limit = 60): Promise<Attention> {
    for (let i = 0; i < limit; i++) {
      const attention = await handle.query(attentionQuery);
      if (accept(attention)) return attention;
      await env.sleep('1 minute');
    }
    throw new Error(`attention never matched; last: ${JSON.stringify(await handle.query(attentionQuery))}`);
  }

  async function realTimeUntil(accept: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !accept(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(accept()).toBe(true);
  }

  async function searchAttributes(handle: WorkflowHandle) {
    const { typedSearchAttributes } = await handle.describe();
    return {
      status: typedSearchAttributes.get(pipelineStatusKey),
      failedStep: typedSearchAttributes.get(failedStepKey),
      kind: typedSearchAttributes.get(attentionKindKey),
    };
  }

  async function currentDetails(handle: WorkflowHandle): Promise<string> {
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    return metadata.currentDetails ?? '';
  }

  it('an outage that outlives the fast retries parks as Outage, keeps retrying by itself, and resumes with nobody when it ends', async () => {
    const fake = fakeActivities();
    fake.faults.chargeCard = 'outage';
    const result = await run(fake.activities, {}, async (handle) => {
      const parked = await until(handle, (a) => a.status === 'NeedsAttention');
      expect(parked).toMatchObject({ failedStep: 'chargeCard', kind: 'Outage', lastError: 'connection refused (chargeCard)' });
      expect(parked).toMatchObject({ retryingEvery: '5 minutes' });
      expect(await searchAttributes(handle)).toEqual({ status: 'NeedsAttention', failedStep: 'chargeCard', kind: 'Outage' });
      expect(await currentDetails(handle)).toContain(
        `temporal workflow signal \\\n  --workflow-id ${handle.workflowId} \\\n  --name operatorDecision --input '"retry"'`,
      );
      // What abort would undo here: the room reserved before the charge, and nothing else.
      expect(await currentDetails(handle)).toMatch(/or give up on it \(then, newest first: release room [^;)]+\):/);

      // After the step's five fast attempts, Temporal tries it again every 5 minutes.
      expect(fake.attempts.chargeCard).toBe(5);
      await env.sleep('12 minutes');
      await realTimeUntil(() => fake.attempts.chargeCard >= 7);

      delete fake.faults.chargeCard; // the outage ends; no signal is sent
      const result = await handle.result();
      expect(await searchAttributes(handle)).toEqual({ status: 'Completed', failedStep: undefined, kind: undefined });
      expect(await handle.query(attentionQuery)).toEqual({ status: 'Completed' });
      expect(await currentDetails(handle)).toBe('');
      return result;
    });
    expect(result).toBe('Confirmed');
    expect(fake.done).toEqual(['reserveRoom', 'chargeCard', 'sendConfirmation']);
  });

  it('an outage that outlives its deadline stops retrying and waits for a person', async () => {
    const fake = fakeActivities();
    fake.faults.sendConfirmation = 'outage';
    await run(fake.activities, { shortOutage: true }, async (handle) => {
      await until(handle, (a) => a.status === 'NeedsAttention');
      await env.sleep('2 hours'); // the step retries by itself for one hour
      const waiting = await handle.query(attentionQuery);
      expect(waiting).toMatchObject({ status: 'NeedsAttention', kind: 'Outage', failedStep: 'sendConfirmation' });
      expect(waiting.nextRetryAt).toBeUndefined();
      expect(await currentDetails(handle)).toContain('Stopped retrying by itself');

      const attemptsAtDeadline = fake.attempts.sendConfirmation;
      await env.sleep('3 days');
      expect(fake.attempts.sendConfirmation).toBe(attemptsAtDeadline);

      delete fake.faults.sendConfirmation;
      await handle.signal(operatorDecisionSignal, 'retry');
      expect(await handle.result()).toBe('Confirmed');
      expect(await currentDetails(handle)).toBe('');
    });
  });

  it('a refusal parks as Refusal after one attempt and is never retried by itself', async () => {
    const fake = fakeActivities();
    fake.faults.chargeCard = 'refusal';
    await run(fake.activities, {}, async (handle) => {
      const parked = await until(handle, (a) => a.status === 'NeedsAttention');
      expect(parked).toMatchObject({ failedStep: 'chargeCard', kind: 'Refusal', lastError: 'chargeCard declined' });
      expect(parked.nextRetryAt).toBeUndefined();
      expect(await searchAttributes(handle)).toEqual({ status: 'NeedsAttention', failedStep: 'chargeCard', kind: 'Refusal' });
      await env.sleep('3 days');
      expect(fake.attempts.chargeCard).toBe(1);

      delete fake.faults.chargeCard;
      await handle.signal(operatorDecisionSignal, 'retry');
      expect(await handle.result()).toBe('Confirmed');
    });
    expect(fake.attempts.chargeCard).toBe(2);
  });

  it('an abort sent while a self-retry is in flight is honoured when that attempt fails, not lost', async () => {
    const fake = fakeActivities();
    fake.faults.chargeCard = 'outage';
    const failure = await run(fake.activities, {}, async (handle) => {
      await until(handle, (a) => a.status === 'NeedsAttention');
      await env.sleep('5 minutes'); // externalCall retries by itself every 5 minutes
      // The self-retry's fast attempts are under way (their backoff runs in real time here).
      await realTimeUntil(() => fake.attempts.chargeCard > 5);
      await handle.signal(operatorDecisionSignal, 'abort');
      return handle.result().catch((err: unknown) => err);
    });
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'OperatorAbort' });
    expect(fake.done).toEqual(['reserveRoom', 'releaseRoom']);
  });

  it('a decision sent while the run only shows a flag answers nothing, not the next question', async () => {
    const fake = fakeActivities();
    fake.faults.chargeCard = 'refusal';
    await run(fake.activities, { flagBeforeCharge: true }, async (handle) => {
      let attention = await handle.query(attentionQuery);
      for (let i = 0; i < 100 && attention.kind !== 'PaymentRefused'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        attention = await handle.query(attentionQuery);
      }
      expect(attention).toMatchObject({ status: 'NeedsAttention', kind: 'PaymentRefused', failedStep: 'chargeCard' });
      await handle.signal(operatorDecisionSignal, 'abort'); // nobody waits on a flag
      await env.sleep('2 hours');
      await until(handle, (a) => a.kind === 'Refusal');
      await env.sleep('1 day');
      // The refusal waits for its own decision: the one sent at the flag was not kept for it.
      expect(await handle.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', kind: 'Refusal', failedStep: 'chargeCard' });
      expect(fake.done).toEqual(['reserveRoom']);

      delete fake.faults.chargeCard;
      await handle.signal(operatorDecisionSignal, 'retry');
      expect(await handle.result()).toBe('Confirmed');
    });
    expect(fake.done).toEqual(['reserveRoom', 'chargeCard', 'sendConfirmation']);
  });

  it('a flag raised while a step waits for a person does not hide the step\'s question, which its decision still answers', async () => {
    const fake = fakeActivities();
    fake.faults.chargeCard = 'refusal';
    await run(fake.activities, { flagDuringCharge: true }, async (handle) => {
      await until(handle, (a) => a.kind === 'Refusal');
      await env.sleep('2 hours'); // the flag is raised an hour into the charge
      expect(await handle.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', kind: 'Refusal', failedStep: 'chargeCard' });
      expect(await searchAttributes(handle)).toEqual({ status: 'NeedsAttention', failedStep: 'chargeCard', kind: 'Refusal' });
      expect(await currentDetails(handle)).toContain('at step `chargeCard`: refusal.');

      delete fake.faults.chargeCard;
      await handle.signal(operatorDecisionSignal, 'retry');
      expect(await handle.result()).toBe('Confirmed');
    });
    expect(fake.done).toEqual(['reserveRoom', 'chargeCard', 'sendConfirmation']);
  });

  it('a decision sent to a run that is not waiting for one is ignored', async () => {
    const fake = fakeActivities();
    fake.faults.chargeCard = 'outage';
    await run(fake.activities, {}, async (handle) => {
      await realTimeUntil(() => fake.attempts.chargeCard > 0);
      expect((await handle.query(attentionQuery)).status).toBe('Running');
      await handle.signal(operatorDecisionSignal, 'abort'); // still in its fast retries: not parked yet
      await until(handle, (a) => a.status === 'NeedsAttention');
      await env.sleep('10 minutes');
      expect(await handle.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', kind: 'Outage' });
      delete fake.faults.chargeCard;
      expect(await handle.result()).toBe('Confirmed');
    });
  });

  it("an operator's abort undoes the completed steps newest first, and records each undo's outcome", async () => {
    const fake = fakeActivities();
    fake.faults.sendConfirmation = 'refusal';
    fake.faults.refundCard = 'outage'; // the refund fails for good: its own policy allows 3 attempts
    const { failure, attention } = await run(fake.activities, {}, async (handle) => {
      await until(handle, (a) => a.status === 'NeedsAttention');
      await handle.signal(operatorDecisionSignal, 'abort');
      const failure = await handle.result().catch((err: unknown) => err);
      return { failure, attention: await handle.query(attentionQuery) };
    });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({
      type: 'OperatorAbort',
      message: 'Aborted by an operator at step sendConfirmation',
    });
    expect(fake.attempts.refundCard).toBe(3);
    // The failed refund did not keep the room from being released.
    expect(fake.done).toEqual(['reserveRoom', 'chargeCard', 'releaseRoom']);
    expect(attention).toMatchObject({
      status: 'Aborted',
      compensations: [
        { step: 'refundCard', outcome: 'Failed', error: 'connection refused (refundCard)' },
        { step: 'releaseRoom', outcome: 'Compensated' },
      ],
    });
  });

  it('a refused step whose options say compensate undoes the steps before it at once, with no operator', async () => {
    const fake = fakeActivities();
    fake.faults.chargeCard = 'refusal';
    const failure = await run(fake.activities, { compensateOnRefusal: true }, async (handle) => {
      const failure = await handle.result().catch((err: unknown) => err);
      expect(await handle.query(attentionQuery)).toMatchObject({
        status: 'Rejected',
        compensations: [{ step: 'releaseRoom', outcome: 'Compensated' }],
      });
      expect(await searchAttributes(handle)).toMatchObject({ status: 'Rejected', failedStep: undefined });
      return failure;
    });
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'StepRefused', message: 'Step chargeCard refused: chargeCard declined' });
    expect(fake.done).toEqual(['reserveRoom', 'releaseRoom']);
    expect(fake.attempts.chargeCard).toBe(1);
  });
});
