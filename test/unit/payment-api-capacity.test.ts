import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing } from '../../src/codec/key-ring';
import type { PaymentOrder, PaymentRequestBody } from '../../src/contracts/payment';
import { PaymentRunStarter } from '../../src/payment-api/run-starter';
import { createPaymentApi, paymentIdOf } from '../../src/payment-api/server';
import { fakePaymentLedger } from '../support/fake-payment-ledger';

/**
 * The payment API while Temporal has fallen behind, without a stack: a ledger that writes every row
 * and a Temporal client whose starts hang until the test lets them go.
 */
describe('payment API while the runs wait for Temporal', () => {
  const body: PaymentRequestBody = {
    amountCents: 4_900,
    currency: 'EUR',
    card: '4242424242424242',
    purpose: { kind: 'course', studentId: 's-1', courseId: 'c-1' },
  };

  function fakes() {
    const starts: Array<{ workflowId: string; release: () => void }> = [];
    const { db, queries: written } = fakePaymentLedger(body);
    const client = {
      options: { dataConverter: dataConverterWith(newKeyRing()) },
      workflow: {
        start: (_type: string, { workflowId }: { workflowId: string }) =>
          new Promise<void>((release) => starts.push({ workflowId, release })),
      },
    } as unknown as Client;
    return { db, client, starts, written };
  }

  const post = (app: ReturnType<typeof createPaymentApi>, key: string) =>
    app.inject({ method: 'POST', url: '/payments', headers: { 'idempotency-key': key }, payload: body });

  it('answers 202 without waiting for the start, starts each run once, and answers 503 with Retry-After past its backlog', async () => {
    const { db, client, starts } = fakes();
    const starter = new PaymentRunStarter({ db, client, taskQueue: 'payments', concurrency: 1, maxWaiting: 2 });
    const app = createPaymentApi({ db, client, starter });

    // Neither start has returned: both were answered all the same.
    expect((await post(app, 'key-00000001')).statusCode).toBe(202);
    expect((await post(app, 'key-00000001')).statusCode).toBe(202);
    expect((await post(app, 'key-00000002')).statusCode).toBe(202);
    expect(starts.map((s) => s.workflowId)).toEqual([`payment-${paymentIdOf('key-00000001')}`]);

    const third = await post(app, 'key-00000003');
    expect(third.statusCode).toBe(503);
    expect(third.headers['retry-after']).toBe('1');
    expect(third.json().error).toBe('the payment API is at capacity; retry with the same Idempotency-Key');

    starts[0]!.release();
    await expect.poll(() => starts.length).toBe(2);
    expect(starts[1]!.workflowId).toBe(`payment-${paymentIdOf('key-00000002')}`);
    expect((await post(app, 'key-00000003')).json()).toMatchObject({ paymentId: paymentIdOf('key-00000003'), status: 'Accepted' });
  });

  it('keeps the order in the ledger encrypted, with no card number in clear, and reads it back whole', async () => {
    const { db, client, written } = fakes();
    const starter = new PaymentRunStarter({ db, client, taskQueue: 'payments' });
    const app = createPaymentApi({ db, client, starter });
    expect((await post(app, 'key-00000004')).statusCode).toBe(202);

    const runOrder = written[0]!.at(-1) as Buffer;
    expect(Buffer.isBuffer(runOrder)).toBe(true);
    expect(runOrder.includes(body.card)).toBe(false);
    expect(runOrder.includes('course')).toBe(false);

    const order: PaymentOrder = { ...body, paymentId: 'pay_x', acceptedAt: new Date(0).toISOString(), trace: { correlationId: 'c' } };
    expect(await starter.decode(await starter.encode(order))).toEqual({ order, taskQueue: 'payments' });
  });
});
