import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { createPaymentApi, paymentIdOf, requestFingerprint } from '../../src/payment-api/server';
import type { PaymentRequestBody } from '../../src/contracts/payment';

/**
 * The payment API past its capacity, without a stack: a ledger that writes every row and a Temporal
 * client whose starts hang until the test lets them go, as a Temporal server that has fallen behind.
 */
describe('payment API at capacity', () => {
  const body: PaymentRequestBody = {
    amountCents: 4_900,
    currency: 'EUR',
    card: '4242424242424242',
    purpose: { kind: 'course', studentId: 's-1', courseId: 'c-1' },
  };

  function fakes() {
    const releases: Array<() => void> = [];
    const db = {
      query: async (_sql: string, params: unknown[]) => ({
        rows: [
          {
            payment_id: params[0],
            request_fingerprint: requestFingerprint(body),
            purpose: 'course',
            student_id: 's-1',
            course_id: 'c-1',
            amount_cents: body.amountCents,
            currency: body.currency,
            card_last4: '4242',
            status: 'Accepted',
            accepted_at: new Date(),
          },
        ],
      }),
    } as unknown as Pool;
    const client = { workflow: { start: () => new Promise<void>((resolve) => releases.push(resolve)) } } as unknown as Client;
    return { db, client, releases };
  }

  const post = (app: ReturnType<typeof createPaymentApi>, key: string) =>
    app.inject({ method: 'POST', url: '/payments', headers: { 'idempotency-key': key }, payload: body });

  it('answers 503 with Retry-After at once past its capacity, and accepts again once a start has returned', async () => {
    const { db, client, releases } = fakes();
    const app = createPaymentApi({ db, client, maxAcceptingAtOnce: 2 });
    const first = post(app, 'key-00000001');
    const second = post(app, 'key-00000002');
    await expect.poll(() => releases.length).toBe(2);

    const third = await post(app, 'key-00000003');
    expect(third.statusCode).toBe(503);
    expect(third.headers['retry-after']).toBe('1');
    expect(third.json().error).toBe('the payment API is at capacity; retry with the same Idempotency-Key');

    releases.splice(0).forEach((release) => release());
    expect((await first).statusCode).toBe(202);
    expect((await second).statusCode).toBe(202);
    const retried = post(app, 'key-00000003');
    await expect.poll(() => releases.length).toBe(1);
    releases[0]!();
    expect((await retried).json()).toMatchObject({ paymentId: paymentIdOf('key-00000003'), status: 'Accepted' });
  });
});
