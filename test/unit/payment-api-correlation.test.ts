import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { PaymentRequestBody } from '../../src/contracts/payment';
import { createPaymentApi } from '../../src/payment-api/server';
import { correlationIdFor } from '../../src/trace-node';
import { fakePaymentLedger } from '../support/fake-payment-ledger';

describe("the payment API's correlation header", () => {
  const body: PaymentRequestBody = { amountCents: 4_900, currency: 'EUR', card: '4242424242424242', purpose: { kind: 'course', studentId: 's-1', courseId: 'c-1' } };
  const { db } = fakePaymentLedger(body);

  /** The correlation ID the payment's run was started with, for a request with this header. */
  async function startedWith(correlationId: string): Promise<string> {
    const starts: Array<{ args: Array<{ trace: { correlationId: string } }> }> = [];
    const client = {
      options: { dataConverter: {} },
      workflow: { start: async (_: string, options: (typeof starts)[number]) => void starts.push(options) },
    } as unknown as Client;
    const app = createPaymentApi({ db, client });
    const response = await app.inject({
      method: 'POST',
      url: '/payments',
      headers: { 'idempotency-key': 'key-00000001', 'x-correlation-id': correlationId },
      payload: body,
    });
    expect(response.statusCode).toBe(202);
    // The run is started after the answer (src/payment-api/run-starter.ts).
    await expect.poll(() => starts.length).toBe(1);
    return starts[0]!.args[0]!.trace.correlationId;
  }

  it('is kept when it is a safe token, and replaced by its hash, as the bridge does, when it is not', async () => {
    expect(await startedWith('corr-pay-1')).toBe('corr-pay-1');
    expect(await startedWith('jane.public@example.com')).toBe(correlationIdFor('jane.public@example.com'));
    expect(correlationIdFor('jane.public@example.com')).toMatch(/^sha256:[0-9a-f]{32}$/);
  });
});
