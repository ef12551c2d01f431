import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Consumer } from 'kafkajs';
import type { Client } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCardPaymentActivities } from '../../src/activities/card-payment';
import { createRefundActivities } from '../../src/activities/refund';
import { chargeIdempotencyKey, paymentWorkflowId, type PaymentRequestBody } from '../../src/contracts/payment';
import { createPaymentProviderClient } from '../../src/partners/payment-provider';
import type { Charge } from '../../src/partners/responses';
import { PaymentRunStarter } from '../../src/bridges/payment-runs';
import { encodeRun } from '../../src/payment-api/run-order';
import { createPaymentApi, paymentIdOf, requestFingerprint } from '../../src/payment-api/server';
import type { StandIn } from '../../stand-ins/http';
import { createPaymentProvider, ensurePaymentProviderSchema, testCards } from '../../stand-ins/payment-provider/provider';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * The payment API, run in this process against the stack's PostgreSQL and Temporal, with a worker
 * of this file's own (task queue, event topics) and a card processor of its own, so its faults
 * touch nobody else's calls. The provider's client gives up after 1 s, so a slower provider is a
 * lost answer, as a timeout in production is.
 */
describe('payment API on the real stack', () => {
  let stack: RealStack;
  let api: FastifyInstance;
  let runs: PaymentRunStarter;
  let apiUrl: string;
  let provider: StandIn;
  let providerUrl: string;
  let eventsConsumer: Consumer;
  let topics: { purchaseConfirmed: string; paymentCompleted: string };
  let taskQueue: string;
  const emitted: Array<{ topic: string; key: string; event: Record<string, unknown> }> = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    const id = stack.runId;
    await ensurePaymentProviderSchema(stack.db);
    provider = createPaymentProvider(stack.db);
    providerUrl = await provider.listen(0);
    const providerClient = createPaymentProviderClient({ url: providerUrl, timeoutMs: 1_000 });

    topics = { purchaseConfirmed: `purchase-confirmed-${id}`, paymentCompleted: `payment-completed-${id}` };
    await stack.createTopics(topics.purchaseConfirmed, topics.paymentCompleted);
    taskQueue = `payments-${id}`;
    await stack.startWorker(taskQueue, {
      ...createCardPaymentActivities({ db: stack.db, producer: stack.producer, provider: providerClient, topics }),
      ...createRefundActivities({ db: stack.db, provider: providerClient }),
    });
    api = createPaymentApi({ db: stack.db, dataConverter: stack.client.options.dataConverter, taskQueue });
    // As the bridges process runs it, but never looking by itself: every start here follows a notification.
    runs = new PaymentRunStarter({ db: stack.db, client: stack.client, lookEveryMs: 600_000 });
    await runs.start();
    apiUrl = await api.listen({ port: 0, host: '127.0.0.1' });

    eventsConsumer = stack.kafka.consumer({ groupId: `test-payment-events-${id}` });
    await eventsConsumer.connect();
    await eventsConsumer.subscribe({ topics: [topics.purchaseConfirmed, topics.paymentCompleted], fromBeginning: true });
    await eventsConsumer.run({
      eachMessage: async ({ topic, message }) =>
        void emitted.push({ topic, key: message.key!.toString(), event: JSON.parse(message.value!.toString()) }),
    });
  });

  afterEach(() => {
    Object.assign(provider.faults, { failNext: 0, failStatus: 503, delayMs: 0, failUntil: 0 });
  });

  afterAll(async () => {
    await eventsConsumer?.disconnect();
    await api?.close();
    await runs?.stop();
    await provider?.close();
    await stack?.stop();
  });

  const course = (): PaymentRequestBody => ({
    amountCents: 4_900,
    currency: 'USD',
    card: testCards.succeeds,
    purpose: { kind: 'course', studentId: `student_${randomUUID().slice(0, 8)}`, courseId: 'course_typescript' },
  });
  const newKey = () => `test-${randomUUID()}`;

  async function post(body: unknown, key?: string) {
    const res = await fetch(`${apiUrl}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, location: res.headers.get('location'), body: (await res.json()) as Record<string, unknown> };
  }
  async function get(path: string) {
    const res = await fetch(`${apiUrl}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  const statusOf = async (paymentId: string) => (await get(`/payments/${paymentId}`)).body.status;
  /** Waits until the payment's run has moved its row past Accepted. */
  const settled = (paymentId: string) => eventually(() => statusOf(paymentId), (s) => s !== 'Accepted');
  async function chargesOf(paymentId: string): Promise<Charge[]> {
    const res = await fetch(`${providerUrl}/control/charges?idempotencyKey=${encodeURIComponent(chargeIdempotencyKey(paymentId))}`);
    return ((await res.json()) as { charges: Charge[] }).charges;
  }

  /** A course payment's ledger row as an API writes it, with its run's order or none. */
  async function writeLedgerRow(key: string, body: PaymentRequestBody, runOrder: Buffer | null) {
    const purpose = body.purpose as Extract<PaymentRequestBody['purpose'], { kind: 'course' }>;
    const paymentId = paymentIdOf(key);
    await stack.db.query(
      `INSERT INTO payments (payment_id, idempotency_key, request_fingerprint, purpose, student_id, course_id,
                             amount_cents, currency, card_last4, correlation_id, run_order)
       VALUES ($1, $2, $3, 'course', $4, $5, $6, $7, $8, $1, $9)`,
      [paymentId, key, requestFingerprint(body), purpose.studentId, purpose.courseId, body.amountCents, body.currency, body.card.slice(-4), runOrder],
    );
  }

  it('answers 20 concurrent identical requests 202 with the same payment, writes one row and charges the card once', async () => {
    const key = newKey();
    const body = course();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(body, key)));
    const paymentId = paymentIdOf(key);
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    expect(new Set(answers.map((a) => a.body.paymentId))).toEqual(new Set([paymentId]));
    expect(new Set(answers.map((a) => a.location))).toEqual(new Set([`/payments/${paymentId}`]));

    expect(await settled(paymentId)).toBe('Charged');
    const { rows } = await stack.db.query('SELECT payment_id FROM payments WHERE idempotency_key = $1', [key]);
    expect(rows).toEqual([{ payment_id: paymentId }]);
    const charges = await chargesOf(paymentId);
    expect(charges).toHaveLength(1);
    expect((await get(`/payments/${paymentId}`)).body).toMatchObject({ providerPaymentId: charges[0]!.chargeId, cardLast4: '4242' });
  });

  it('refuses the same key with another request (409), and changes nothing of the first', async () => {
    const key = newKey();
    const body = course();
    expect((await post(body, key)).status).toBe(202);
    const other = await post({ ...body, amountCents: body.amountCents + 1 }, key);
    expect(other).toMatchObject({ status: 409, body: { paymentId: paymentIdOf(key) } });
    expect(other.body.error).toMatch(/Idempotency-Key already used for another request/);
    expect(await settled(paymentIdOf(key))).toBe('Charged');
    expect((await get(`/payments/${paymentIdOf(key)}`)).body).toMatchObject({ amountCents: body.amountCents });
  });

  it.each([
    ['missing', undefined],
    ['too short', 'abc'],
    ['holding a space', 'key with spaces'],
  ])('refuses a request whose Idempotency-Key is %s with 400', async (_what, key) => {
    const answer = await post(course(), key);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(/^the Idempotency-Key header is required: /);
  });

  it('refuses an invalid body with 422 and says what is wrong with it', async () => {
    const answer = await post({ ...course(), currency: 'usd', amountCents: -5 }, newKey());
    expect(answer.status).toBe(422);
    expect(answer.body.error).toContain('currency: a three-letter currency code in capitals, e.g. USD');
    expect(answer.body.error).toMatch(/amountCents: /);
  });

  it('answers 404 for a payment it does not know', async () => {
    expect(await get(`/payments/${paymentIdOf(newKey())}`)).toMatchObject({ status: 404 });
  });

  it('answers 202 while the card processor still holds the charge: the API never waits for it', async () => {
    const delayedBefore = provider.delayed;
    provider.faults.delayMs = 4_000;
    const key = newKey();
    const accepted = await post(course(), key);
    const paymentId = paymentIdOf(key);
    // The processor takes its charge only once its delay has passed; the API has answered before that.
    expect(await chargesOf(paymentId)).toEqual([]);
    expect(accepted).toMatchObject({ status: 202, body: { paymentId, status: 'Accepted' } });
    await eventually(async () => provider.delayed, (n) => n > delayedBefore);
    provider.faults.delayMs = 0;
    expect(await settled(paymentId)).toBe('Charged');
    expect(await chargesOf(paymentId)).toHaveLength(1);
  });

  it('a charge whose answer was lost (the processor slower than the client) is asked again under its key and charged once', async () => {
    const { requests: requestsBefore, delayed: delayedBefore } = provider;
    provider.faults.delayMs = 2_500;
    const key = newKey();
    expect((await post(course(), key)).status).toBe(202);
    const paymentId = paymentIdOf(key);
    // The first attempt is held past the client's 1 s; the processor still charges at 2.5 s.
    await eventually(async () => provider.delayed, (n) => n > delayedBefore);
    provider.faults.delayMs = 0;
    expect(await settled(paymentId)).toBe('Charged');
    expect(provider.requests - requestsBefore).toBeGreaterThanOrEqual(2);
    const charges = await chargesOf(paymentId);
    expect(charges).toHaveLength(1);
    expect((await get(`/payments/${paymentId}`)).body).toMatchObject({ providerPaymentId: charges[0]!.chargeId });
  });

  it("starts the run of a payment whose row was written but whose run never started, at the client's retry with the same key", async () => {
    const key = newKey();
    const body = course();
    const paymentId = paymentIdOf(key);
    // As an API before migration 008 wrote it (no run order), then died before starting the run.
    await writeLedgerRow(key, body, null);
    await expect(stack.client.workflow.getHandle(paymentWorkflowId(paymentId)).describe()).rejects.toThrow(/not found/i);

    expect(await post(body, key)).toMatchObject({ status: 202, body: { paymentId } });
    expect(await settled(paymentId)).toBe('Charged');
    expect(await chargesOf(paymentId)).toHaveLength(1);
  });

  it('starts the run of a payment whose row carries its order, with no request from the client: written while no starter listened, it starts at the next look', async () => {
    const key = newKey();
    const body = course();
    const paymentId = paymentIdOf(key);
    const order = { ...body, paymentId, acceptedAt: new Date().toISOString(), trace: { correlationId: paymentId } };
    const codecs = stack.client.options.dataConverter.payloadCodecs ?? [];
    // The bridges process is down: the row the API wrote waits, Accepted, with nothing charged.
    await runs.stop();
    await writeLedgerRow(key, body, await encodeRun({ order, taskQueue }, codecs));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await expect(stack.client.workflow.getHandle(paymentWorkflowId(paymentId)).describe()).rejects.toThrow(/not found/i);
    expect(await statusOf(paymentId)).toBe('Accepted');

    // Back: it looks at once, and starts the run; the row's order is cleared.
    runs = new PaymentRunStarter({ db: stack.db, client: stack.client, lookEveryMs: 600_000 });
    await runs.start();
    expect(await settled(paymentId)).toBe('Charged');
    expect(await chargesOf(paymentId)).toHaveLength(1);
    const { rows } = await stack.db.query('SELECT run_order FROM payments WHERE payment_id = $1', [paymentId]);
    expect(rows).toEqual([{ run_order: null }]);
  });

  it('two starters (two bridges processes) share the waiting payments: each run is asked for once between them', async () => {
    const codecs = stack.client.options.dataConverter.payloadCodecs ?? [];
    await runs.stop();
    const keys = Array.from({ length: 12 }, newKey);
    for (const key of keys) {
      const paymentId = paymentIdOf(key);
      const order = { ...course(), paymentId, acceptedAt: new Date().toISOString(), trace: { correlationId: paymentId } };
      await writeLedgerRow(key, order, await encodeRun({ order, taskQueue }, codecs));
    }
    // The real client, counting what each starter asks of it.
    const asked: string[] = [];
    const counting = (): Client =>
      Object.assign(Object.create(stack.client), {
        workflow: { start: (type: string, options: { workflowId: string }) => (asked.push(options.workflowId), stack.client.workflow.start(type, options as never)) },
      });
    const starters = [1, 2].map(() => new PaymentRunStarter({ db: stack.db, client: counting(), batchSize: 2, lookEveryMs: 600_000 }));
    await Promise.all(starters.map((s) => s.start()));
    try {
      for (const key of keys) expect(await settled(paymentIdOf(key))).toBe('Charged');
      const ours = asked.filter((id) => keys.some((key) => id === paymentWorkflowId(paymentIdOf(key))));
      expect(ours.sort()).toEqual(keys.map((key) => paymentWorkflowId(paymentIdOf(key))).sort());
    } finally {
      await Promise.all(starters.map((s) => s.stop()));
      runs = new PaymentRunStarter({ db: stack.db, client: stack.client, lookEveryMs: 600_000 });
      await runs.start();
    }
  });

  it('clears the run order from the ledger once the run has started', async () => {
    const key = newKey();
    expect((await post(course(), key)).status).toBe(202);
    const paymentId = paymentIdOf(key);
    expect(await settled(paymentId)).toBe('Charged');
    const { rows } = await stack.db.query('SELECT run_order FROM payments WHERE payment_id = $1', [paymentId]);
    expect(rows).toEqual([{ run_order: null }]);
  });

  it('announces a course payment as purchase-confirmed with its fields, keyed by the student', async () => {
    const key = newKey();
    const body = course();
    const purpose = body.purpose as Extract<PaymentRequestBody['purpose'], { kind: 'course' }>;
    expect((await post(body, key)).status).toBe(202);
    const paymentId = paymentIdOf(key);
    const [announced] = await eventually(
      async () => emitted.filter((e) => e.event.paymentId === paymentId),
      (found) => found.length > 0,
    );
    expect(announced).toMatchObject({
      topic: topics.purchaseConfirmed,
      key: purpose.studentId,
      event: { type: 'PURCHASE_CONFIRMED', paymentId, studentId: purpose.studentId, courseId: purpose.courseId, amount: 49, currency: 'USD' },
    });
    const { charged_at } = (await stack.db.query('SELECT charged_at FROM payments WHERE payment_id = $1', [paymentId])).rows[0];
    expect(Date.parse(announced!.event.confirmedAt as string)).toBeGreaterThanOrEqual((charged_at as Date).getTime() - 60_000);
  });

  it('announces a copay as payment.completed with its prescription, link and amount, keyed by the prescription', async () => {
    const key = newKey();
    const prescriptionId = `rx_${randomUUID().slice(0, 8)}`;
    const linkId = `link_${randomUUID().slice(0, 8)}`;
    const body: PaymentRequestBody = { amountCents: 1_500, currency: 'USD', card: testCards.succeeds, purpose: { kind: 'copay', prescriptionId, linkId } };
    expect((await post(body, key)).status).toBe(202);
    const paymentId = paymentIdOf(key);
    const [announced] = await eventually(
      async () => emitted.filter((e) => e.event.paymentId === paymentId),
      (found) => found.length > 0,
    );
    expect(announced).toMatchObject({
      topic: topics.paymentCompleted,
      key: prescriptionId,
      event: { type: 'PAYMENT_COMPLETED', eventId: `PAYMENT_COMPLETED:${paymentId}`, paymentId, prescriptionId, linkId, amountCents: 1_500 },
    });
    expect((await get(`/payment-links/${linkId}`)).body).toMatchObject({ linkId, payments: [{ paymentId, status: 'Charged' }] });
  });

  it('a declined card ends the payment Declined with its code, charged nowhere and announced nowhere', async () => {
    const key = newKey();
    expect((await post({ ...course(), card: testCards.insufficientFunds }, key)).status).toBe(202);
    const paymentId = paymentIdOf(key);
    expect(await settled(paymentId)).toBe('Declined');
    expect((await get(`/payments/${paymentId}`)).body).toMatchObject({ declineCode: 'insufficient_funds' });
    const result = await stack.client.workflow.getHandle(paymentWorkflowId(paymentId)).result();
    expect(result).toMatchObject({ status: 'Declined', declineCode: 'insufficient_funds' });
    expect(emitted.filter((e) => e.event.paymentId === paymentId)).toEqual([]);
  });

  it('refunds a charge whose recording the ledger refused, though the ledger never recorded it', async () => {
    // A run whose payment has no ledger row: recordCharge is refused ("not in the ledger") after the charge.
    const paymentId = paymentIdOf(newKey());
    const order = { ...course(), paymentId, acceptedAt: new Date().toISOString(), trace: { correlationId: paymentId } };
    const handle = await stack.client.workflow.start('paymentWorkflow', { taskQueue, workflowId: paymentWorkflowId(paymentId), args: [order] });
    await expect(handle.result()).rejects.toThrow();
    const [charge] = await chargesOf(paymentId);
    expect(charge).toMatchObject({ status: 'succeeded', amountCents: order.amountCents, amountRefundedCents: order.amountCents });
    const { refunds } = await handle.query<{ refunds?: unknown; refund?: { amountCents: number } }>('paymentState');
    expect(refunds ?? (await handle.query<{ refund?: { amountCents: number } }>('paymentState')).refund).toBeDefined();
  });
});
