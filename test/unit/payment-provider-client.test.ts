import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardDeclinedErrorType, createPaymentProviderClient, type PaymentProviderClient } from '../../src/partners/payment-provider';

/** The client against a scripted server: what it sends, and what it makes of answers the stand-in never gives. */
describe('payment provider client', () => {
  let server: Server;
  let client: PaymentProviderClient;
  const seen: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = [];
  let answer: { status: number; body: string } = { status: 200, body: '{}' };

  const charge = {
    chargeId: 'ch_1',
    status: 'succeeded',
    amountCents: 1_000,
    currency: 'USD',
    cardLast4: '4242',
    description: null,
    failureCode: null,
    amountRefundedCents: 0,
    refunds: [],
    createdAt: '2026-12-01T00:00:00.000Z',
  };
  const refund = { refundId: 're_1', chargeId: 'ch_1', amountCents: 100, reason: null, createdAt: '2026-12-01T00:00:00.000Z' };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = createPaymentProviderClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 2_000 });
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('sends the idempotency key as the Idempotency-Key header of a charge and a refund, and never in the body', async () => {
    seen.length = 0;
    answer = { status: 201, body: JSON.stringify(charge) };
    await client.charge({ idempotencyKey: 'payment-42/charge', amountCents: 1_000, currency: 'USD', card: '4242424242424242' });
    answer = { status: 201, body: JSON.stringify(refund) };
    await client.refund({ idempotencyKey: 'payment-42/refund', chargeId: 'ch_1', amountCents: 100 });
    answer = { status: 200, body: JSON.stringify(charge) };
    await client.getCharge('ch_1');
    expect(seen.map((s) => [s.method, s.url, s.headers['idempotency-key']])).toEqual([
      ['POST', '/charges', 'payment-42/charge'],
      ['POST', '/refunds', 'payment-42/refund'],
      ['GET', '/charges/ch_1', undefined],
    ]);
    expect(JSON.parse(seen[0]!.body)).toEqual({ amountCents: 1_000, currency: 'USD', card: '4242424242424242' });
    expect(JSON.parse(seen[1]!.body)).toEqual({ chargeId: 'ch_1', amountCents: 100 });
  });

  it('throws a readable 402 as a non-retryable CardDeclined with its code and charge', async () => {
    answer = { status: 402, body: JSON.stringify({ code: 'insufficient_funds', message: 'Your card has insufficient funds.', chargeId: 'ch_2' }) };
    const err = await client.charge({ idempotencyKey: 'k', amountCents: 1, currency: 'USD', card: '4000000000009995' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: cardDeclinedErrorType, nonRetryable: true, details: [{ code: 'insufficient_funds', chargeId: 'ch_2' }] });
  });

  it('treats a 402 it cannot read as retryable, not as a decline it cannot name', async () => {
    for (const body of ['not json', JSON.stringify({ code: 'stolen_card', message: 'x', chargeId: 'ch_3' })]) {
      answer = { status: 402, body };
      const err = await client.charge({ idempotencyKey: 'k', amountCents: 1, currency: 'USD', card: '4000000000000002' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(ApplicationFailure);
      expect((err as Error).message).toMatch(/^payment-provider charge answered 402 with (a body that is not JSON|an unexpected body: code: )/);
    }
  });
});
