import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import { createRefundActivities } from '../../../src/activities/refund';
import type { SessionActivities } from '../../../src/activities/sessions';
import { chargeIdempotencyKey } from '../../../src/contracts/payment';
import { createPaymentProviderClient, paymentProviderOptions } from '../../../src/partners/payment-provider';
import { createAdminService, ensureAdminSchema, upsertTrainer } from '../../../stand-ins/admin-service/server';
import { operatorDecisionSignal } from '../../../src/contracts/pipeline';
import { allocationEndedSignal, purchaseWorkflowId, sessionWindowStateQuery, sessionWindowWorkflowId } from '../../../src/contracts/purchase';
import { purchaseToSessionsWorkflow } from '../../../src/workflows/purchase';
import { sessionWindowWorkflow } from '../../../src/workflows/session-window';
import type { PipelineHistories, StackRecordingContext, TestServerContext } from './scenarios';
import { createPurchaseToSessionsActivities } from '../../../src/pipelines/purchase-to-sessions';

async function onStack({ config, db, producer, redis, client, taskQueue, run, trace, waitUntilParked }: StackRecordingContext) {
  // The real dependencies, with the recorder's own admin service.
  await ensureAdminSchema(db);
  const course = `course_rec_${run}`;
  const fullCourse = `course_rec_full_${run}`;
  await upsertTrainer(db, { trainerId: `trainer_rec_${run}`, courses: [course], capacity: 10 });
  await upsertTrainer(db, { trainerId: `trainer_rec_full_${run}`, courses: [fullCourse], capacity: 0 });
  const abortedCourse = `course_rec_aborted_${run}`;
  await upsertTrainer(db, { trainerId: `trainer_rec_none_${run}`, courses: [abortedCourse], capacity: 0 });
  const admin = createAdminService(db);
  const adminUrl = await admin.listen(0);

  let failCaches = false;
  const real = createPurchaseToSessionsActivities({ db, producer, redis, adminService: { url: adminUrl } });
  const provider = createPaymentProviderClient(paymentProviderOptions(config));
  const activities = {
    ...real,
    // The payment workers' refunds, here on the recorder's task queue (the runs name it).
    ...createRefundActivities({ db, provider }),
    invalidateStudentCaches: async (...args: Parameters<typeof real.invalidateStudentCaches>) => {
      if (failCaches) throw ApplicationFailure.create({ message: 'recorded Redis outage' });
      return real.invalidateStudentCaches(...args);
    },
  };

  /** A confirmation as the bridge starts it; `paid`: its payment charged at the provider and in our ledger first, as the payment API's are. */
  const purchase = async (n: string, courseId = course, studentKey = n, confirmedAt = '2030-03-01T09:30:00Z', paid = false) => {
    const paymentId = `pay_rec_${run}_${n}`;
    const studentId = `student_rec_${run}_${studentKey}`;
    if (paid) await chargeInLedger(paymentId, studentId, courseId);
    return client.workflow.start(purchaseToSessionsWorkflow, {
      workflowId: purchaseWorkflowId(paymentId),
      taskQueue,
      args: [{ paymentId, studentId, courseId, confirmedAt, trace, paymentTaskQueue: taskQueue }],
    });
  };
  /** What the payment workflow leaves behind for a course it charged: the provider's charge, and the ledger's row. */
  const chargeInLedger = async (paymentId: string, studentId: string, courseId: string) => {
    const charge = await provider.charge({
      idempotencyKey: chargeIdempotencyKey(paymentId),
      amountCents: 4900,
      currency: 'EUR',
      card: '4242424242424242',
      description: `course ${courseId}`,
    });
    await db.query(
      `INSERT INTO payments (payment_id, idempotency_key, request_fingerprint, purpose, student_id, course_id, amount_cents, currency,
                             card_last4, status, provider_payment_id, charged_at)
       VALUES ($1, $1, 'recorded', 'course', $2, $3, 4900, 'EUR', '4242', 'Charged', $4, now())`,
      [paymentId, studentId, courseId, charge.chargeId],
    );
  };
  /** Ends a purchase's session window once it has opened; returns the window's workflow ID. */
  const endWindow = async (allocationId: string) => {
    const window = client.workflow.getHandle(sessionWindowWorkflowId(allocationId));
    while ((await window.query(sessionWindowStateQuery)).sessionsAdded === 0) await new Promise((r) => setTimeout(r, 200));
    await window.signal(allocationEndedSignal);
    await window.result();
    return window.workflowId;
  };

  const scenarios: Record<string, () => Promise<string>> = {
    'purchase-sessions-scheduled': async () => {
      const h = await purchase('scheduled');
      await endWindow((await h.result()).allocationId!);
      return h.workflowId;
    },
    // From v4 the second payment, which is not in our ledger (as the legacy payment service's are
    // not), is left flagged for a person to refund by hand.
    'purchase-already-active': async () => {
      const first = await purchase('first');
      await endWindow((await first.result()).allocationId!);
      const h = await purchase('second', course, 'first', '2030-03-02T09:30:00Z');
      await h.result();
      return h.workflowId;
    },
    'purchase-cache-invalidation-failed': async () => {
      failCaches = true;
      const h = await purchase('cache_down');
      const outcome = await h.result();
      failCaches = false;
      await endWindow(outcome.allocationId!);
      return h.workflowId;
    },
    'purchase-no-trainer-parked-then-retried': async () => {
      const h = await purchase('no_trainer', fullCourse);
      await waitUntilParked(h.workflowId);
      await upsertTrainer(db, { trainerId: `trainer_rec_full_${run}`, courses: [fullCourse], capacity: 1 });
      await h.signal(operatorDecisionSignal, 'retry');
      await endWindow((await h.result()).allocationId!);
      return h.workflowId;
    },
    'purchase-second-payment-refunded': async () => {
      const first = await purchase('paid_first', course, 'paid', '2030-03-01T09:30:00Z', true);
      await endWindow((await first.result()).allocationId!);
      const h = await purchase('paid_second', course, 'paid', '2030-03-02T09:30:00Z', true);
      await h.result();
      return h.workflowId;
    },
    'purchase-no-trainer-aborted': async () => {
      const h = await purchase('aborted', abortedCourse, 'aborted', '2030-03-01T09:30:00Z', true);
      await waitUntilParked(h.workflowId);
      await h.signal(operatorDecisionSignal, 'abort');
      await h.result().catch(() => undefined);
      return h.workflowId;
    },
    // Its run aborted (refunded, deactivated), the confirmation comes again: a new run under the
    // same ID, as after retention.
    'purchase-deactivated-confirmed-again': async () => {
      const aborted = await purchase('deactivated', abortedCourse, 'deactivated', '2030-03-01T09:30:00Z', true);
      await waitUntilParked(aborted.workflowId);
      await aborted.signal(operatorDecisionSignal, 'abort');
      await aborted.result().catch(() => undefined);
      const paymentId = `pay_rec_${run}_deactivated`;
      const h = await client.workflow.start(purchaseToSessionsWorkflow, {
        workflowId: purchaseWorkflowId(paymentId),
        taskQueue,
        args: [{ paymentId, studentId: `student_rec_${run}_deactivated`, courseId: abortedCourse, confirmedAt: '2030-03-01T09:30:00Z', trace, paymentTaskQueue: taskQueue }],
      });
      await h.result();
      return h.workflowId;
    },
    'session-window-opened-then-ended': async () => {
      const h = await purchase('window');
      return endWindow((await h.result()).allocationId!);
    },
  };
  return { activities, scenarios, close: () => admin.close() };
}

function onTestServer() {
  const dates: string[] = [];
  let allocationActive = true;
  const activities = {
    async sessionWindowOf(_allocationId: string, now: string) {
      const future = dates.filter((d) => Date.parse(`${d}T10:00:00Z`) > Date.parse(now)).length;
      return { allocationActive, futureSessions: future, lastScheduledDate: dates.at(-1) ?? null };
    },
    async scheduleSessions(_allocation: unknown, slots: Array<{ date: string }>) {
      dates.push(...slots.map((s) => s.date));
      return slots.length;
    },
  } satisfies Partial<SessionActivities>;
  const startWindow = ({ client, taskQueue }: TestServerContext) => {
    const allocationId = `alloc_rec_${randomUUID().slice(0, 8)}`;
    return client.workflow.start(sessionWindowWorkflow, {
      workflowId: sessionWindowWorkflowId(allocationId),
      taskQueue,
      args: [{ allocationId, studentId: 'student_rec', trainerId: 'trainer_rec' }],
    });
  };
  const scenarios = {
    'session-window-topped-up-continued-as-new': async (recording: TestServerContext) => {
      const h = await startWindow(recording);
      await recording.env.sleep('8 days');
      // The file holds the first run, which ends by continuing as new.
      return { workflowId: h.workflowId, runId: h.firstExecutionRunId, done: () => h.terminate('recorded').then(() => undefined) };
    },
    'session-window-allocation-ended': async (recording: TestServerContext) => {
      allocationActive = true;
      const h = await startWindow(recording);
      await recording.env.sleep('7 hours');
      allocationActive = false; // the allocation ended in the database; the next check sees it
      await recording.env.sleep('6 hours');
      await h.result();
      return { workflowId: h.workflowId, done: async () => undefined };
    },
  };
  return { activities, scenarios };
}

export const histories: PipelineHistories = { onStack, onTestServer };
