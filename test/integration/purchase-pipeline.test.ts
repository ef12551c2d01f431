import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCardPaymentActivities } from '../../src/activities/card-payment';
import { createRefundActivities } from '../../src/activities/refund';
import { createSessionActivities } from '../../src/activities/sessions';
import { createAdminService, ensureAdminSchema, upsertTrainer, type AdminService } from '../../stand-ins/admin-service/server';
import { purchaseRoutes } from '../../src/bridges/purchase-routes';
import { createRedis } from '../../src/connections';
import { chargeIdempotencyKey } from '../../src/contracts/payment';
import { attentionQuery, correlationIdKey, operatorDecisionSignal, pipelineStatusKey, refundStatusKey } from '../../src/contracts/pipeline';
import {
  purchaseStateQuery,
  purchaseWorkflowId,
  sessionWindowWorkflowId,
  type PurchaseCreated,
  type PurchaseOutcome,
  type TrainerAllocated,
} from '../../src/contracts/purchase';
import { createPaymentProviderClient, paymentProviderOptions } from '../../src/partners/payment-provider';
import { paymentIdOf } from '../../src/payment-api/server';
import { paymentApiWithRuns } from '../support/payment-api';
import { createPurchaseToSessionsActivities } from '../../src/pipelines/purchase-to-sessions';
import { maxKeywordLength } from '../../src/trace';
import { correlationIdFor } from '../../src/trace-node';
import { headersAsText } from '../support/kafka-headers';
import { connectRealStack, deleteAsRetentionWould, eventually, type RealStack } from '../support/real-stack';
import { stepsOf } from '../support/history-steps';
import { temporalCli } from '../support/temporal-cli';

/**
 * Kafka → bridge → Temporal → PostgreSQL, Redis, the admin service over HTTP and back onto Kafka,
 * all real. This file runs its own admin service on a free port, so it can make it fail or refuse
 * without touching the one the stack runs; and its own payment API and payment workers, which
 * charge and refund at the stack's payment provider and confirm purchases on this file's topic.
 */
describe('purchase-to-sessions pipeline on the real stack', () => {
  let stack: RealStack;
  let admin: AdminService;
  let adminUrl: string;
  let redis: Redis;
  let eventsConsumer: Consumer;
  let bridge: Consumer;
  let topics: { confirmed: string; created: string; allocated: string };
  let course: string;
  let fullCourse: string;
  let abortedCourse: string;
  let paymentApi: FastifyInstance;
  const emitted: Array<{ event: PurchaseCreated | TrainerAllocated; headers: Record<string, string> }> = [];
  const workflowIds: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    const id = stack.runId;
    topics = { confirmed: `purchase-confirmed-${id}`, created: `purchase-created-${id}`, allocated: `trainer-allocated-${id}` };
    course = `course_typescript_${id}`;
    fullCourse = `course_fully_booked_${id}`;
    abortedCourse = `course_aborted_${id}`;
    await stack.createTopics(topics.confirmed, topics.created, topics.allocated);

    await ensureAdminSchema(stack.db);
    await upsertTrainer(stack.db, { trainerId: `trainer_${id}`, courses: [course], capacity: 20 });
    await upsertTrainer(stack.db, { trainerId: `trainer_busy_${id}`, courses: [fullCourse], capacity: 0 });
    await upsertTrainer(stack.db, { trainerId: `trainer_none_${id}`, courses: [abortedCourse], capacity: 0 });
    admin = createAdminService(stack.db);
    adminUrl = await admin.listen(0);

    redis = createRedis(stack.config);
    const taskQueue = `purchases-${id}`;
    await stack.startWorker(
      taskQueue,
      createPurchaseToSessionsActivities({
        db: stack.db,
        producer: stack.producer,
        redis,
        adminService: { url: adminUrl },
        eventTopics: { purchaseCreated: topics.created, trainerAllocated: topics.allocated },
      }),
    );
    const paymentTaskQueue = `payments-${id}`;
    const provider = createPaymentProviderClient(paymentProviderOptions(stack.config));
    await stack.startWorker(paymentTaskQueue, {
      ...createCardPaymentActivities({
        db: stack.db,
        producer: stack.producer,
        provider,
        topics: { purchaseConfirmed: topics.confirmed, paymentCompleted: `payment-completed-${id}` },
      }),
      ...createRefundActivities({ db: stack.db, provider }),
    });
    paymentApi = await paymentApiWithRuns({ db: stack.db, client: stack.client, taskQueue: paymentTaskQueue });
    bridge = await stack.startBridge(purchaseRoutes({ taskQueue, topic: topics.confirmed, paymentTaskQueue }));

    // What the existing consumers of the legacy topics would see.
    eventsConsumer = stack.kafka.consumer({ groupId: `test-purchase-events-${id}` });
    await eventsConsumer.connect();
    await eventsConsumer.subscribe({ topics: [topics.created, topics.allocated], fromBeginning: true });
    await eventsConsumer.run({
      eachMessage: async ({ message }) =>
        void emitted.push({ event: JSON.parse(message.value!.toString()), headers: headersAsText(message.headers) }),
    });
  });

  afterAll(async () => {
    // Session windows run for as long as their allocation; this file's worker is about to stop.
    await Promise.all(
      workflowIds.map((w) => stack.client.workflow.getHandle(w).terminate('test finished').catch(() => undefined)),
    );
    await eventsConsumer?.disconnect();
    await admin?.close();
    await paymentApi?.close();
    redis?.disconnect();
    await stack?.stop();
  });

  let purchases = 0;
  const newPurchase = (courseId = course) => {
    const n = purchases++;
    const paymentId = `pay_${stack.runId}_${n}`;
    workflowIds.push(purchaseWorkflowId(paymentId));
    return { paymentId, studentId: `student_${stack.runId}_${n}`, courseId };
  };
  const confirmation = (p: { paymentId: string; studentId: string; courseId: string }) => ({
    type: 'PURCHASE_CONFIRMED',
    ...p,
    amount: 49.0,
    currency: 'EUR',
    confirmedAt: '2030-03-01T09:30:00Z',
  });

  /**
   * A course paid through the payment API with a card that succeeds; its payment ID, and so the
   * purchase's, comes from the Idempotency-Key. The payment's workflow confirms the purchase on
   * this file's topic.
   */
  let payments = 0;
  function newPaidPurchase(courseId = course, studentId = `student_${stack.runId}_paid_${payments}`) {
    const idempotencyKey = `course-${stack.runId}-${payments++}`;
    const p = { paymentId: paymentIdOf(idempotencyKey), studentId, courseId };
    workflowIds.push(purchaseWorkflowId(p.paymentId));
    const pay = async () => {
      const response = await paymentApi.inject({
        method: 'POST',
        url: '/payments',
        headers: { 'idempotency-key': idempotencyKey, 'x-correlation-id': `corr-${p.paymentId}` },
        payload: { amountCents: 4900, currency: 'EUR', card: '4242424242424242', purpose: { kind: 'course', studentId, courseId } },
      });
      expect(response.statusCode).toBe(202);
    };
    return { ...p, pay };
  }
  /** The payment as the ledger has it (`GET /payments/:id`) and as the provider has its charge (`/control/charges`). */
  async function moneyOf(paymentId: string) {
    const ledger = (await paymentApi.inject({ method: 'GET', url: `/payments/${paymentId}` })).json();
    const query = new URLSearchParams({ idempotencyKey: chargeIdempotencyKey(paymentId) });
    const { charges } = (await (await fetch(`${stack.config.PAYMENT_PROVIDER_URL}/control/charges?${query}`)).json()) as {
      charges: Array<{ amountCents: number; amountRefundedCents: number }>;
    };
    return { ledger, charges: charges.map(({ amountCents, amountRefundedCents }) => ({ amountCents, amountRefundedCents })) };
  }

  const publish = (value: object, key: string, correlationId: string) =>
    stack.publish(topics.confirmed, key, value, { 'correlation-id': correlationId });

  /** The purchase workflow's result, once the bridge has started it and it has finished. */
  async function outcomeOf(paymentId: string): Promise<PurchaseOutcome> {
    const handle = stack.client.workflow.getHandle(purchaseWorkflowId(paymentId));
    await eventually(
      () => handle.describe().then(() => true, (err) => (err instanceof WorkflowNotFoundError ? false : Promise.reject(err))),
      (exists) => exists,
    );
    const outcome: PurchaseOutcome = await handle.result();
    if (outcome.allocationId) workflowIds.push(sessionWindowWorkflowId(outcome.allocationId));
    return outcome;
  }

  const count = async (sql: string, params: unknown[]) => Number((await stack.db.query(sql, params)).rows[0].count);

  /**
   * One purchase, one allocation, a full window of 7 weekday sessions, no cache, one event of each
   * kind; rows and events carry the confirmation's correlation ID (`corr-<paymentId>` unless told).
   */
  async function expectCompletedPurchase(
    p: { paymentId: string; studentId: string; courseId: string },
    outcome: PurchaseOutcome,
    correlationId = `corr-${p.paymentId}`,
  ) {
    expect(outcome).toMatchObject({ status: 'SessionsScheduled', allocationId: expect.any(String) });
    const purchaseRows = await stack.db.query(
      'SELECT id::text, payment_id, is_active, correlation_id FROM student_course_purchases WHERE student_id = $1 AND course_id = $2',
      [p.studentId, p.courseId],
    );
    expect(purchaseRows.rows).toEqual([{ id: outcome.purchaseId, payment_id: p.paymentId, is_active: true, correlation_id: correlationId }]);
    const allocations = await stack.db.query(
      'SELECT allocation_id, status, correlation_id FROM trainer_allocations WHERE student_id = $1 AND course_id = $2',
      [p.studentId, p.courseId],
    );
    expect(allocations.rows).toEqual([{ allocation_id: outcome.allocationId, status: 'approved', correlation_id: correlationId }]);

    const sessions = await eventually(
      async () =>
        (
          await stack.db.query<{ date: string; time: string }>(
            `SELECT to_char(scheduled_date, 'YYYY-MM-DD') AS date, to_char(scheduled_time, 'HH24:MI') AS time
               FROM sessions WHERE allocation_id = $1 ORDER BY scheduled_date`,
            [outcome.allocationId],
          )
        ).rows,
      (rows) => rows.length >= 7,
    );
    expect(sessions).toHaveLength(7);
    const dates = sessions.map((s) => s.date);
    // Weekdays only, each the next weekday after the one before (Friday → Monday).
    expect(dates.every((d) => ![0, 6].includes(new Date(`${d}T00:00:00Z`).getUTCDay()))).toBe(true);
    const gap = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000;
    expect(dates.slice(1).filter((d, i) => gap(dates[i]!, d) !== (new Date(`${dates[i]}T00:00:00Z`).getUTCDay() === 5 ? 3 : 1))).toEqual([]);

    expect(await redis.exists(`student:home:${p.studentId}`, `student:learning:${p.studentId}`)).toBe(0);
    const events = await eventually(
      async () => emitted.filter((e) => e.event.studentId === p.studentId),
      (es) => es.length >= 2,
    );
    // Two topics: no order between them.
    expect(events.sort((a, b) => a.event.type.localeCompare(b.event.type))).toEqual([
      {
        event: expect.objectContaining({ type: 'PURCHASE_CREATED', eventId: `PURCHASE_CREATED:${p.paymentId}`, purchaseId: outcome.purchaseId }),
        headers: { 'correlation-id': correlationId },
      },
      {
        event: expect.objectContaining({ type: 'TRAINER_ALLOCATED', allocationId: outcome.allocationId, trainerId: outcome.trainerId }),
        headers: { 'correlation-id': correlationId },
      },
    ]);
  }

  it('a purchase confirmed on Kafka ends with one purchase, one allocation, 7 sessions, no stale cache and both events', async () => {
    const p = newPurchase();
    await redis.set(`student:home:${p.studentId}`, '{"cached":"home"}');
    await redis.set(`student:learning:${p.studentId}`, '{"cached":"learning"}');
    await publish(confirmation(p), p.studentId, `corr-${p.paymentId}`);
    await expectCompletedPurchase(p, await outcomeOf(p.paymentId));
    const description = await stack.client.workflow.getHandle(purchaseWorkflowId(p.paymentId)).describe();
    expect(description.typedSearchAttributes.get(pipelineStatusKey)).toBe('Completed');
  });

  it('a purchase whose correlation ID is 3,000 characters schedules its sessions under its hash, and its window is found by the same search attribute', async () => {
    const p = newPurchase();
    // Over Temporal's 2,048-byte limit for a keyword.
    const sent = `corr-${p.paymentId}-`.padEnd(3_000, 'x');
    await publish(confirmation(p), p.studentId, sent);
    // Not a safe token: the bridge replaces it by its hash, which every row, event and attribute carries.
    const correlationId = correlationIdFor(sent);
    const outcome = await outcomeOf(p.paymentId);
    await expectCompletedPurchase(p, outcome, correlationId);

    const purchase = await stack.client.workflow.getHandle(purchaseWorkflowId(p.paymentId)).describe();
    const window = await stack.client.workflow.getHandle(sessionWindowWorkflowId(outcome.allocationId!)).describe();
    const searchedBy = purchase.typedSearchAttributes.get(correlationIdKey)!;
    expect(searchedBy.length).toBeLessThanOrEqual(maxKeywordLength);
    expect(window.typedSearchAttributes.get(correlationIdKey)).toBe(searchedBy);
    expect(window.typedSearchAttributes.get(pipelineStatusKey)).toBe('Running');
    expect(window.memo).toEqual({ trace: { correlationId } });
  });

  it('the same confirmation delivered ten times change nothing, and a second payment our ledger lacks (sent straight to Kafka, as the legacy payment service did) is left to a person to refund by hand', async () => {
    const p = newPurchase();
    for (let i = 0; i < 10; i++) await publish(confirmation(p), p.studentId, `corr-${p.paymentId}`);
    const outcome = await outcomeOf(p.paymentId);
    await expectCompletedPurchase(p, outcome);

    const second = { ...p, paymentId: `${p.paymentId}_again` };
    workflowIds.push(purchaseWorkflowId(second.paymentId));
    await publish(confirmation(second), p.studentId, `corr-${second.paymentId}`);
    expect(await outcomeOf(second.paymentId)).toEqual({ status: 'AlreadyPurchased', purchaseId: outcome.purchaseId, refunds: [] });
    const secondRun = stack.client.workflow.getHandle(purchaseWorkflowId(second.paymentId));
    expect(await secondRun.query(attentionQuery)).toMatchObject({
      status: 'NeedsAttention',
      failedStep: 'refundPayment',
      lastError: `refund payment ${second.paymentId} by hand: it is not in our ledger`,
    });
    expect((await secondRun.describe()).typedSearchAttributes.get(pipelineStatusKey)).toBe('NeedsAttention');

    await expectCompletedPurchase(p, outcome);

    // Delivered again after the run closed and the bridge committed past every copy: still the one
    // run (its ID is the latest run's), nothing parked, nothing written.
    const handle = stack.client.workflow.getHandle(purchaseWorkflowId(p.paymentId));
    const firstRunId = (await handle.describe()).runId;
    const late = await stack.producer.send({
      topic: topics.confirmed,
      messages: [{ key: p.studentId, value: JSON.stringify(confirmation(p)), headers: { 'correlation-id': `corr-${p.paymentId}` } }],
    });
    await eventually(
      () => stack.committedOffset(bridge, topics.confirmed, late[0]!.partition),
      (offset) => offset > Number(late[0]!.baseOffset),
    );
    expect((await handle.describe()).runId).toBe(firstRunId);
    expect((await stack.parkedEvents.list({ topic: topics.confirmed })).filter((e) => e.correlationId === `corr-${p.paymentId}`)).toEqual([]);
    await expectCompletedPurchase(p, outcome);
  });

  it('a course paid through the payment API is charged, confirmed on Kafka and ends with its sessions scheduled, nothing refunded', async () => {
    const p = newPaidPurchase();
    await p.pay();
    const outcome = await outcomeOf(p.paymentId);
    await expectCompletedPurchase(p, outcome);
    expect(outcome.refunds).toEqual([]);
    expect(await moneyOf(p.paymentId)).toMatchObject({ ledger: { status: 'Charged' }, charges: [{ amountCents: 4900, amountRefundedCents: 0 }] });
  });

  it('a second payment for a course the student has active is refunded at the provider and in the ledger, with the reason, and changes nothing else', async () => {
    const p = newPaidPurchase();
    await p.pay();
    const outcome = await outcomeOf(p.paymentId);
    await expectCompletedPurchase(p, outcome);

    const second = newPaidPurchase(p.courseId, p.studentId);
    await second.pay();
    const reason = `student ${p.studentId} already has course ${p.courseId} (purchase ${outcome.purchaseId})`;
    expect(await outcomeOf(second.paymentId)).toEqual({
      status: 'AlreadyPurchased',
      purchaseId: outcome.purchaseId,
      refunds: [{ paymentId: second.paymentId, refundId: expect.any(String), amountCents: 4900, reason }],
    });
    expect(await moneyOf(second.paymentId)).toMatchObject({
      ledger: { status: 'Refunded', refund: { reason } },
      charges: [{ amountCents: 4900, amountRefundedCents: 4900 }],
    });
    const secondRun = await stack.client.workflow.getHandle(purchaseWorkflowId(second.paymentId)).describe();
    expect(secondRun.typedSearchAttributes.get(refundStatusKey)).toBe('Refunded');
    expect(secondRun.typedSearchAttributes.get(pipelineStatusKey)).toBe('Completed');
    // The operator's query in docs/purchase-to-sessions.md finds it.
    const refunded = `RefundStatus='Refunded' AND WorkflowType='purchaseToSessionsWorkflow' AND WorkflowId='${secondRun.workflowId}'`;
    expect(await eventually(() => temporalCli('workflow', 'list', '--query', refunded, '--output', 'json'), (out) => out.includes(secondRun.workflowId))).toContain(
      secondRun.workflowId,
    );

    expect(await moneyOf(p.paymentId)).toMatchObject({ ledger: { status: 'Charged' }, charges: [{ amountRefundedCents: 0 }] });
    await expectCompletedPurchase(p, outcome);
  });

  it("an operator's abort of a paid purchase waiting for a trainer refunds the payment and deactivates the purchase", async () => {
    const p = newPaidPurchase(abortedCourse);
    await p.pay();
    const handle = stack.client.workflow.getHandle(purchaseWorkflowId(p.paymentId));
    await eventually(
      () => handle.query(attentionQuery).catch(() => undefined),
      (attention) => attention?.failedStep === 'allocateTrainer',
      90_000,
    );
    await handle.signal(operatorDecisionSignal, 'abort');
    const failure = await handle.result().catch((err: unknown) => err);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'OperatorAbort' });

    const { purchaseId, refunds } = await handle.query(purchaseStateQuery);
    const reason = `purchase ${purchaseId} aborted`;
    expect(refunds).toEqual([{ paymentId: p.paymentId, refundId: expect.any(String), amountCents: 4900, reason }]);
    const rows = await stack.db.query('SELECT id::text, is_active FROM student_course_purchases WHERE payment_id = $1', [p.paymentId]);
    expect(rows.rows).toEqual([{ id: purchaseId, is_active: false }]);
    expect(await moneyOf(p.paymentId)).toMatchObject({
      ledger: { status: 'Refunded', refund: { reason } },
      charges: [{ amountCents: 4900, amountRefundedCents: 4900 }],
    });
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(pipelineStatusKey)).toBe('Aborted');
    expect(description.typedSearchAttributes.get(refundStatusKey)).toBe('Refunded');
    expect(await count('SELECT count(*) FROM trainer_allocations WHERE student_id = $1', [p.studentId])).toBe(0);

    // Its confirmation delivered again once the run has left Temporal (retention) gives no course
    // back for the refunded payment, and refunds nothing twice.
    await deleteAsRetentionWould(stack.client, handle.workflowId);
    await publish(confirmation(p), p.studentId, `corr-${p.paymentId}`);
    expect(await outcomeOf(p.paymentId)).toEqual({ status: 'Deactivated', purchaseId, refunds: [] });
    expect((await stack.db.query('SELECT is_active FROM student_course_purchases WHERE payment_id = $1', [p.paymentId])).rows).toEqual([
      { is_active: false },
    ]);
    expect((await moneyOf(p.paymentId)).charges).toEqual([{ amountCents: 4900, amountRefundedCents: 4900 }]);
  });

  it('a confirmation delivered again after its purchase went all the way and its run left Temporal (retention) ends as recorded: no row, session or event is added', async () => {
    const p = newPurchase();
    await publish(confirmation(p), p.studentId, `corr-${p.paymentId}`);
    const outcome = await outcomeOf(p.paymentId);
    await expectCompletedPurchase(p, outcome);
    const everything = async () => ({
      purchases: (await stack.db.query('SELECT * FROM student_course_purchases WHERE student_id = $1 ORDER BY id', [p.studentId])).rows,
      allocations: (await stack.db.query('SELECT * FROM trainer_allocations WHERE student_id = $1 ORDER BY id', [p.studentId])).rows,
      sessions: (await stack.db.query('SELECT * FROM sessions WHERE student_id = $1 ORDER BY id', [p.studentId])).rows,
      events: emitted.filter((e) => e.event.studentId === p.studentId).map((e) => e.event.eventId),
    });
    const before = await everything();
    const handle = stack.client.workflow.getHandle(purchaseWorkflowId(p.paymentId));
    const window = stack.client.workflow.getHandle(sessionWindowWorkflowId(outcome.allocationId!));
    const [firstRun, windowRun] = [(await handle.describe()).runId, (await window.describe()).runId];

    await deleteAsRetentionWould(stack.client, purchaseWorkflowId(p.paymentId));
    const [late] = await stack.producer.send({
      topic: topics.confirmed,
      messages: [{ key: p.studentId, value: JSON.stringify(confirmation(p)), headers: { 'correlation-id': `corr-${p.paymentId}` } }],
    });
    await eventually(() => stack.committedOffset(bridge, topics.confirmed, late!.partition), (offset) => offset > Number(late!.baseOffset));
    // A new run, ended as the first one did; the allocation's window is the one the first run started.
    expect(await outcomeOf(p.paymentId)).toEqual(outcome);
    expect((await handle.describe()).runId).not.toBe(firstRun);
    expect((await window.describe()).runId).toBe(windowRun);

    await sleep(3_000); // time for any event a step might still have emitted to arrive
    expect(await everything()).toEqual(before);
    expect(stepsOf(await handle.fetchHistory())).toEqual(['createPurchase']);
  });

  it('the admin service failing three times and answering slowly (300 ms, well within its timeout), then recovering, changes nothing in the outcome', async () => {
    const p = newPurchase();
    const before = admin.requests;
    Object.assign(admin.faults, { failNext: 3, failStatus: 503, delayMs: 300 });
    try {
      await publish(confirmation(p), p.studentId, `corr-${p.paymentId}`);
      await expectCompletedPurchase(p, await outcomeOf(p.paymentId));
    } finally {
      Object.assign(admin.faults, { failNext: 0, delayMs: 0 });
    }
    expect(admin.requests - before).toBe(4);
    const description = await stack.client.workflow.getHandle(purchaseWorkflowId(p.paymentId)).describe();
    expect(description.typedSearchAttributes.get(pipelineStatusKey)).toBe('Completed');
  });

  it('when no trainer is available the purchase parks, visible to the temporal CLI, and an operator retry completes it', async () => {
    const p = newPurchase(fullCourse);
    const workflowId = purchaseWorkflowId(p.paymentId);
    await publish(confirmation(p), p.studentId, `corr-${p.paymentId}`);

    const parked = await eventually(
      () => temporalCli('workflow', 'list', '--query', `PipelineStatus='NeedsAttention' AND WorkflowId='${workflowId}'`, '--output', 'json'),
      (out) => out.includes(workflowId),
      90_000,
    );
    expect(parked).toContain(workflowId);
    const attention = await temporalCli('workflow', 'query', '--workflow-id', workflowId, '--name', 'attention', '--output', 'json');
    expect(attention).toContain('allocateTrainer');
    // The admin service's own text ("no trainer available for course …") is not carried: a partner's error text may quote the request.
    expect(attention).toContain('admin service refused (422)');
    // The purchase itself is made and announced; only the allocation waits.
    expect(await count('SELECT count(*) FROM student_course_purchases WHERE payment_id = $1', [p.paymentId])).toBe(1);
    expect(await count('SELECT count(*) FROM trainer_allocations WHERE student_id = $1', [p.studentId])).toBe(0);

    // The admin gives the trainer room, then the operator retries.
    const raised = await fetch(`${adminUrl}/trainers/trainer_busy_${stack.runId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ courses: [fullCourse], capacity: 1 }),
    });
    expect(raised.status).toBe(200);
    await temporalCli('workflow', 'signal', '--workflow-id', workflowId, '--name', 'operatorDecision', '--input', '"retry"');

    await expectCompletedPurchase(p, await outcomeOf(p.paymentId));
  });

  it('on the real tables, the window counts the sessions ahead of a given time, and scheduling the same slots twice adds them once', async () => {
    const p = newPurchase();
    await publish(confirmation(p), p.studentId, `corr-${p.paymentId}`);
    const outcome = await outcomeOf(p.paymentId);
    await expectCompletedPurchase(p, outcome);
    // Stop the workflow's own window so only this test writes.
    await stack.client.workflow.getHandle(sessionWindowWorkflowId(outcome.allocationId!)).terminate('test takes over');

    const sessions = createSessionActivities(stack.db);
    const allocation = { allocationId: outcome.allocationId!, studentId: p.studentId, trainerId: outcome.trainerId! };
    // Times are taken from the stored rows, not this machine's clock.
    const stored = (
      await stack.db.query<{ date: string }>(
        `SELECT to_char(scheduled_date, 'YYYY-MM-DD') AS date FROM sessions WHERE allocation_id = $1 ORDER BY scheduled_date`,
        [allocation.allocationId],
      )
    ).rows.map((r) => r.date);
    expect(stored).toHaveLength(7);
    const initial = await sessions.sessionWindowOf(allocation.allocationId, `${stored[0]}T00:00:00Z`);
    expect(initial).toEqual({ allocationActive: true, futureSessions: 7, lastScheduledDate: stored[6] });
    // Just after the fifth session (10:00 UTC), two remain.
    const afterFifth = `${stored[4]}T12:00:00Z`;
    expect(await sessions.sessionWindowOf(allocation.allocationId, afterFifth)).toEqual({
      allocationActive: true,
      futureSessions: 2,
      lastScheduledDate: stored[6],
    });

    const dayAfter = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
    const slots = [1, 2, 3, 4, 5].map((n) => ({ date: dayAfter(stored[6]!, n), time: '10:00' }));
    expect(await sessions.scheduleSessions(allocation, slots)).toBe(5);
    expect(await sessions.scheduleSessions(allocation, slots)).toBe(0);
    expect((await sessions.sessionWindowOf(allocation.allocationId, afterFifth)).futureSessions).toBe(7);
    expect(await count('SELECT count(*) FROM sessions WHERE allocation_id = $1', [allocation.allocationId])).toBe(12);
  });
});
