import { describe, expect, it } from 'vitest';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing } from '../../src/codec/key-ring';
import type { PaymentRequestBody } from '../../src/contracts/payment';
import { decodeRun } from '../../src/payment-api/run-order';
import { createPaymentApi } from '../../src/payment-api/server';
import { correlationIdFor } from '../../src/trace-node';
import { fakePaymentLedger } from '../support/fake-payment-ledger';

describe("the payment API's correlation header", () => {
  const body: PaymentRequestBody = { amountCents: 4_900, currency: 'EUR', card: '4242424242424242', purpose: { kind: 'course', studentId: 's-1', courseId: 'c-1' } };
  const dataConverter = dataConverterWith(newKeyRing());

  /** The correlation ID the payment's run will be started with, for a request with this header. */
  async function startedWith(correlationId: string): Promise<string> {
    const { db, queries } = fakePaymentLedger(body);
    const app = createPaymentApi({ db, dataConverter });
    const response = await app.inject({
      method: 'POST',
      url: '/payments',
      headers: { 'idempotency-key': 'key-00000001', 'x-correlation-id': correlationId },
      payload: body,
    });
    expect(response.statusCode).toBe(202);
    // The run's order, as the ledger row carries it to the bridge that starts it (src/bridges/payment-runs.ts).
    const runOrder = queries.find((params) => params.length === 14)!.at(-1) as Buffer;
    return (await decodeRun(runOrder, dataConverter.payloadCodecs!)).order.trace.correlationId;
  }

  it('is kept when it is a safe token, and replaced by its hash, as the bridge does, when it is not', async () => {
    expect(await startedWith('corr-pay-1')).toBe('corr-pay-1');
    expect(await startedWith('jane.public@example.com')).toBe(correlationIdFor('jane.public@example.com'));
    expect(correlationIdFor('jane.public@example.com')).toMatch(/^sha256:[0-9a-f]{32}$/);
  });
});
