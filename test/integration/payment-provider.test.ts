import { randomInt, randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { partnerRefusedErrorType } from '../../src/partners/clients';
import { cardDeclinedErrorType, createPaymentProviderClient, type PaymentProviderClient } from '../../src/partners/payment-provider';
import type { Charge } from '../../src/partners/responses';
import type { StandIn } from '../../stand-ins/http';
import { createPaymentProvider, ensurePaymentProviderSchema, testCards } from '../../stand-ins/payment-provider/provider';

/**
 * The payment provider stand-in, started in this process on a free port against the stack's
 * PostgreSQL, seen through the client the payment activities will use; the stack's own instance
 * (same tables) answers too where a test needs two processes. Every key is fresh, so earlier runs
 * never answer for these.
 */
const key = () => `test-${randomUUID()}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Failure {
  kind: 'outage' | 'non-retryable';
  message: string;
  type?: string | null;
  details?: unknown[];
}

/** What a call threw: a non-retryable ApplicationFailure (its type and details) or a plain, retryable Error. */
async function failureOf(call: Promise<unknown>): Promise<Failure> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error('expected the call to fail, and it answered');
  if (err instanceof ApplicationFailure) {
    expect(err.nonRetryable).toBe(true);
    return { kind: 'non-retryable', type: err.type, message: err.message, details: err.details as unknown[] | undefined };
  }
  expect(err).toBeInstanceOf(Error);
  return { kind: 'outage', message: (err as Error).message };
}

describe('payment provider stand-in through its client', () => {
  let db: Pool;
  let provider: StandIn;
  let url: string;
  let client: PaymentProviderClient;

  /** A raw POST, for what the client does not show: the status, a missing or odd header. */
  const post = async (path: string, body: unknown, headers: Record<string, string>, base = url) => {
    const res = await fetch(new URL(path, base), { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const chargesAt = async (query: string): Promise<Charge[]> => {
    const res = await fetch(new URL(`/control/charges?${query}`, url));
    expect(res.status).toBe(200);
    return ((await res.json()) as { charges: Charge[] }).charges;
  };
  const charged = (amountCents = 5_000, card: string = testCards.succeeds) =>
    client.charge({ idempotencyKey: key(), amountCents, currency: 'USD', card, description: 'test charge' });

  beforeAll(async () => {
    db = createPool(loadConfig());
    await ensurePaymentProviderSchema(db);
    provider = createPaymentProvider(db);
    url = await provider.listen(0);
    client = createPaymentProviderClient({ url, timeoutMs: 2_000 });
  });
  afterEach(() => {
    Object.assign(provider.faults, { failNext: 0, failStatus: 503, delayMs: 0, failUntil: 0 });
  });
  afterAll(async () => {
    await provider.close();
    await db.end();
  });

  describe('charges', () => {
    it('makes one charge of 20 concurrent identical requests under one key, sent to two processes, and gives every answer its ID', async () => {
      const idempotencyKey = key();
      const request = { amountCents: 1_999, currency: 'EUR', card: testCards.succeeds, description: `order ${idempotencyKey}` };
      // Half to this process, half to the stack's: no memory of one process could keep them apart.
      const bases = [url, loadConfig().PAYMENT_PROVIDER_URL];
      // The table is locked against writes until every request waits to write, so they all meet at
      // the database at once, as a burst on a busy processor would; checking for the key before
      // inserting would then let several through. The locks wait 2 s at most (createPool's
      // lock_timeout), so the gate opens after 1 s whatever arrived. The gate and its watcher have
      // connections of their own: the provider here takes all of the test's while it waits.
      const gatePool = createPool(loadConfig(), { max: 2 });
      const gate = await gatePool.connect();
      const waiting = async () =>
        (
          await gatePool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO provider_charges%'`,
          )
        ).rows[0]!.n;
      let answers: Array<{ status: number; body: Record<string, unknown> }>;
      try {
        await gate.query('BEGIN');
        await gate.query('LOCK TABLE provider_charges IN SHARE ROW EXCLUSIVE MODE');
        const sent = Promise.all(
          Array.from({ length: 20 }, (_, i) => post('/charges', request, { 'idempotency-key': idempotencyKey }, bases[i % 2])),
        );
        for (const opensAt = Date.now() + 1_000; Date.now() < opensAt && (await waiting()) < 20; ) await sleep(20);
        await gate.query('COMMIT');
        answers = await sent;
      } finally {
        gate.release();
        await gatePool.end();
      }
      expect(answers.map((a) => a.status).sort()).toEqual([...Array<number>(19).fill(200), 201]);
      const ids = new Set(answers.map((a) => a.body.chargeId));
      expect(ids.size).toBe(1);
      const { rows } = await db.query('SELECT charge_id FROM provider_charges WHERE idempotency_key = $1', [idempotencyKey]);
      expect(rows.map((r) => r.charge_id)).toEqual([...ids]);
      expect(await chargesAt(`idempotencyKey=${encodeURIComponent(idempotencyKey)}`)).toHaveLength(1);
    });

    it('answers the same charge to the same request under the same key, through the client', async () => {
      const request = { idempotencyKey: key(), amountCents: 2_500, currency: 'USD', card: testCards.succeeds };
      const first = await client.charge(request);
      expect(first).toMatchObject({ status: 'succeeded', amountCents: 2_500, currency: 'USD', cardLast4: '4242', description: null, amountRefundedCents: 0, refunds: [] });
      expect(await client.charge(request)).toEqual(first);
      expect(await client.getCharge(first.chargeId)).toEqual(first);
    });

    it('refuses a key used before with another request (409) as a non-retryable PartnerRefused, and keeps the first charge', async () => {
      const request = { idempotencyKey: key(), amountCents: 1_000, currency: 'USD', card: testCards.succeeds };
      const first = await client.charge(request);
      const failure = await failureOf(client.charge({ ...request, amountCents: 1_001 }));
      expect(failure).toEqual({
        kind: 'non-retryable',
        type: partnerRefusedErrorType,
        message: `payment-provider charge refused (409)`,
        details: [{ partner: 'payment-provider', operation: 'charge', status: 409 }],
      });
      expect((await failureOf(client.charge({ ...request, description: 'something else' }))).type).toBe(partnerRefusedErrorType);
      expect(await chargesAt(`idempotencyKey=${encodeURIComponent(request.idempotencyKey)}`)).toEqual([first]);
    });

    it.each([
      [testCards.declined, 'card_declined'],
      [testCards.insufficientFunds, 'insufficient_funds'],
    ])('declines card %s with a 402 %s once, records it as a failed charge, and answers a retry under the key the same', async (card, code) => {
      const idempotencyKey = key();
      const request = { idempotencyKey, amountCents: 4_200, currency: 'USD', card };
      const raw = await post('/charges', request, { 'idempotency-key': idempotencyKey });
      expect(raw).toEqual({ status: 402, body: { code, message: expect.any(String), chargeId: expect.stringMatching(/^ch_/) } });

      const failure = await failureOf(client.charge(request));
      expect(failure).toEqual({
        kind: 'non-retryable',
        type: cardDeclinedErrorType,
        message: `payment-provider charge: card declined (${code}): ${raw.body.message}`,
        details: [{ code, chargeId: raw.body.chargeId }],
      });
      const recorded = await chargesAt(`idempotencyKey=${encodeURIComponent(idempotencyKey)}`);
      expect(recorded).toEqual([expect.objectContaining({ chargeId: raw.body.chargeId, status: 'failed', failureCode: code, amountRefundedCents: 0 })]);
    });

    it('refuses a request with no Idempotency-Key, a non-positive or fractional amount, or a currency that is not three capitals, with 400', async () => {
      const valid = { amountCents: 1_000, currency: 'USD', card: testCards.succeeds };
      expect(await post('/charges', valid, {})).toEqual({ status: 400, body: { error: 'an Idempotency-Key header is required' } });
      for (const invalid of [{ amountCents: 0 }, { amountCents: -5 }, { amountCents: 10.5 }, { currency: 'usd' }, { currency: 'EURO' }, { card: '4242' }]) {
        const answer = await post('/charges', { ...valid, ...invalid }, { 'idempotency-key': key() });
        expect({ invalid, status: answer.status }).toEqual({ invalid, status: 400 });
      }
      expect((await failureOf(client.charge({ idempotencyKey: key(), ...valid, currency: 'US' }))).details).toEqual([
        { partner: 'payment-provider', operation: 'charge', status: 400 },
      ]);
    });

    it('charges any other card number, finds the charges by card or description, and wants a filter', async () => {
      const card = `4111${String(randomInt(1e12)).padStart(12, '0')}`;
      const a = await charged(100, card);
      const description = `order ${randomUUID()}`;
      const b = await client.charge({ idempotencyKey: key(), amountCents: 200, currency: 'USD', card, description });
      expect([a.status, b.status]).toEqual(['succeeded', 'succeeded']);
      expect((await chargesAt(`card=${card}`)).map((c) => c.chargeId)).toEqual([a.chargeId, b.chargeId]);
      expect((await chargesAt(`card=${card}&description=${encodeURIComponent(description)}`)).map((c) => c.chargeId)).toEqual([b.chargeId]);
      expect((await fetch(new URL('/control/charges', url))).status).toBe(400);
      // A processor keeps the last four digits and a fingerprint, never the number.
      const { rows } = await db.query<{ row: string }>('SELECT c::text AS row FROM provider_charges c WHERE charge_id = ANY($1)', [[a.chargeId, b.chargeId]]);
      expect(rows).toHaveLength(2);
      for (const { row } of rows) expect(row).not.toContain(card);
    });
  });

  describe('refunds', () => {
    it('refunds in parts, once per key, and refuses more than what is left of the charge', async () => {
      const charge = await charged(1_000);
      const first = { idempotencyKey: key(), chargeId: charge.chargeId, amountCents: 300, reason: 'one item returned' };
      const refund = await client.refund(first);
      expect(refund).toMatchObject({ refundId: expect.stringMatching(/^re_/), chargeId: charge.chargeId, amountCents: 300, reason: 'one item returned' });
      expect(await client.refund(first)).toEqual(refund);
      expect(await post('/refunds', first, { 'idempotency-key': first.idempotencyKey })).toEqual({ status: 200, body: refund });

      const tooMuch = await failureOf(client.refund({ idempotencyKey: key(), chargeId: charge.chargeId, amountCents: 701 }));
      expect(tooMuch).toEqual({
        kind: 'non-retryable',
        type: partnerRefusedErrorType,
        message: `payment-provider refund refused (422)`,
        details: [{ partner: 'payment-provider', operation: 'refund', status: 422 }],
      });
      const rest = await client.refund({ idempotencyKey: key(), chargeId: charge.chargeId, amountCents: 700 });
      expect(await client.getCharge(charge.chargeId)).toMatchObject({ amountRefundedCents: 1_000, refunds: [refund, rest] });
      expect((await failureOf(client.refund({ idempotencyKey: key(), chargeId: charge.chargeId, amountCents: 1 }))).message).toContain('(422)');

      const res = await fetch(new URL(`/refunds/${rest.refundId}`, url));
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: rest });
    });

    it('refuses a key used before with another refund (409)', async () => {
      const charge = await charged(1_000);
      const request = { idempotencyKey: key(), chargeId: charge.chargeId, amountCents: 100 };
      await client.refund(request);
      const failure = await failureOf(client.refund({ ...request, amountCents: 200 }));
      expect({ type: failure.type, message: failure.message }).toEqual({
        type: partnerRefusedErrorType,
        message: `payment-provider refund refused (409)`,
      });
      expect((await client.getCharge(charge.chargeId)).amountRefundedCents).toBe(100);
    });

    it('refuses to refund a declined charge (422) or an unknown one (404)', async () => {
      const declined = await failureOf(charged(1_000, testCards.declined));
      const { chargeId } = declined.details![0] as { chargeId: string };
      expect((await failureOf(client.refund({ idempotencyKey: key(), chargeId, amountCents: 1_000 }))).message).toBe(
        `payment-provider refund refused (422)`,
      );
      expect((await failureOf(client.refund({ idempotencyKey: key(), chargeId: 'ch_nobody', amountCents: 1 }))).message).toBe(
        'payment-provider refund refused (404)',
      );
      expect((await failureOf(client.getCharge('ch_nobody'))).message).toBe('payment-provider getCharge refused (404)');
    });

    it('counts concurrent refunds one after another: ten of 300 under their own keys on a 1000 charge make three, ten under one key make one', async () => {
      const charge = await charged(1_000);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, () => client.refund({ idempotencyKey: key(), chargeId: charge.chargeId, amountCents: 300 })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
      for (const o of outcomes.filter((o) => o.status === 'rejected')) expect((o.reason as ApplicationFailure).type).toBe(partnerRefusedErrorType);
      expect(await client.getCharge(charge.chargeId)).toMatchObject({ amountRefundedCents: 900 });

      const other = await charged(1_000);
      const request = { idempotencyKey: key(), chargeId: other.chargeId, amountCents: 400 };
      const same = await Promise.all(Array.from({ length: 10 }, () => client.refund(request)));
      expect(new Set(same.map((r) => r.refundId)).size).toBe(1);
      expect(await client.getCharge(other.chargeId)).toMatchObject({ amountRefundedCents: 400, refunds: [same[0]] });
    });
  });

  describe('faults', () => {
    it('answers 503 to the next failNext requests, which the client reports as retryable, then charges', async () => {
      Object.assign(provider.faults, { failNext: 2, failStatus: 503 });
      const before = provider.requests;
      const request = { idempotencyKey: key(), amountCents: 700, currency: 'USD', card: testCards.succeeds };
      expect(await failureOf(client.charge(request))).toEqual({
        kind: 'outage',
        message: 'payment-provider charge answered 503',
      });
      expect((await failureOf(client.charge(request))).kind).toBe('outage');
      expect((await client.charge(request)).status).toBe('succeeded');
      expect(provider.requests - before).toBe(3);
      expect(await chargesAt(`idempotencyKey=${encodeURIComponent(request.idempotencyKey)}`)).toHaveLength(1);
    });

    it('reports 429 and 500 as retryable', async () => {
      for (const failStatus of [429, 500]) {
        Object.assign(provider.faults, { failNext: 1, failStatus });
        expect(await failureOf(charged())).toEqual({ kind: 'outage', message: expect.stringContaining(`answered ${failStatus}`) });
      }
    });

    it('fails every business request for failForMs, set over HTTP, until it is set back to 0', async () => {
      const set = async (faults: object) =>
        (await fetch(new URL('/control/faults', url), { method: 'POST', body: JSON.stringify(faults) })).json() as Promise<Record<string, number>>;
      const faults = await set({ failForMs: 60_000, failStatus: 503 });
      expect(faults.failForMs).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) expect((await failureOf(charged())).kind).toBe('outage');
      // Health and control stay up while it fails.
      expect((await fetch(new URL('/health', url))).status).toBe(200);
      expect(await set({ failForMs: 0 })).toMatchObject({ failForMs: 0 });
      expect((await charged()).status).toBe('succeeded');
    });

    it('holds answers delayMs and still charges after the client gave up; its retry under the key gets that charge, one in all', async () => {
      const impatient = createPaymentProviderClient({ url, timeoutMs: 200 });
      Object.assign(provider.faults, { delayMs: 600 });
      const delayed = provider.delayed;
      const request = { idempotencyKey: key(), amountCents: 3_300, currency: 'USD', card: testCards.succeeds };
      const byKey = `idempotencyKey=${encodeURIComponent(request.idempotencyKey)}`;
      expect(await failureOf(impatient.charge(request))).toEqual({ kind: 'outage', message: 'payment-provider charge: no answer within 200 ms' });
      expect(provider.delayed - delayed).toBe(1);
      Object.assign(provider.faults, { delayMs: 0 });
      let made = await chargesAt(byKey);
      for (const until = Date.now() + 10_000; made.length === 0 && Date.now() < until; made = await chargesAt(byKey)) await sleep(50);
      expect(made).toHaveLength(1);
      expect(await client.charge(request)).toEqual(made[0]);
      expect(await chargesAt(byKey)).toEqual(made);
    });
  });
});
