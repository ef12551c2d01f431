import { afterEach, describe, expect, it, vi } from 'vitest';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing } from '../../src/codec/key-ring';
import type { PaymentRequestBody } from '../../src/contracts/payment';
import { decodeRun } from '../../src/payment-api/run-order';
import { createPaymentApi, paymentIdOf } from '../../src/payment-api/server';
import { fakePaymentLedger } from '../support/fake-payment-ledger';

/** The payment API without a stack: a ledger that writes every row and says how many wait for their start. */
describe('payment API while the runs wait for Temporal', () => {
  const body: PaymentRequestBody = {
    amountCents: 4_900,
    currency: 'EUR',
    card: '4242424242424242',
    purpose: { kind: 'course', studentId: 's-1', courseId: 'c-1' },
  };
  const dataConverter = dataConverterWith(newKeyRing());

  const post = (app: ReturnType<typeof createPaymentApi>, key: string) =>
    app.inject({ method: 'POST', url: '/payments', headers: { 'idempotency-key': key }, payload: body });

  afterEach(() => vi.useRealTimers());

  it('answers 503 with Retry-After once the ledger holds as many payments waiting for their start as it may, and 202 again once they have started', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { db, ledger } = fakePaymentLedger(body);
    ledger.waiting = 2;
    const app = createPaymentApi({ db, dataConverter, taskQueue: 'payments', maxWaitingStarts: 2 });

    // The count is asked beside the requests, never before one: the first ones may pass.
    await expect.poll(async () => (await post(app, 'key-00000001')).statusCode).toBe(503);
    const refused = await post(app, 'key-00000002');
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json().error).toBe('the payment API is at capacity; retry with the same Idempotency-Key');

    // Started meanwhile; the count is at most a second old.
    ledger.waiting = 1;
    vi.advanceTimersByTime(1_001);
    await expect.poll(async () => (await post(app, 'key-00000002')).statusCode).toBe(202);
    expect((await post(app, 'key-00000002')).json()).toMatchObject({ paymentId: paymentIdOf('key-00000002'), status: 'Accepted' });
  });

  it('keeps the order in the ledger encrypted, with no card number in clear, and it reads back whole', async () => {
    const { db, queries } = fakePaymentLedger(body);
    const app = createPaymentApi({ db, dataConverter, taskQueue: 'payments-test' });
    expect((await post(app, 'key-00000004')).statusCode).toBe(202);

    const runOrder = queries.find((params) => params.length === 14)!.at(-1) as Buffer;
    expect(Buffer.isBuffer(runOrder)).toBe(true);
    expect(runOrder.includes(body.card)).toBe(false);
    expect(runOrder.includes('course')).toBe(false);

    const { order, taskQueue } = await decodeRun(runOrder, dataConverter.payloadCodecs!);
    expect(taskQueue).toBe('payments-test');
    expect(order).toMatchObject({ ...body, paymentId: paymentIdOf('key-00000004') });
  });
});
