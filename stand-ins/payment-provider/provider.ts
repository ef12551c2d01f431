import { createHash, randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { logger } from '../../src/logger';
import type { Charge, CardDecline, DeclineCode, Refund } from '../../src/partners/responses';
import { createStandIn, ensureTables, HttpError, parse, type StandIn } from '../http';

/**
 * Stand-in for the card processor the payment pipeline charges through, Stripe-like where it
 * matters to a caller: idempotency keys, declines, partial refunds.
 *
 *   POST /charges       { amountCents, currency, card, description? } + Idempotency-Key header
 *                       -> 201 the charge (200 when the key was used before with the same request)
 *                       -> 402 { code, message, chargeId } when the card is declined
 *                       -> 409 when the key was used before with another request; 400 when invalid
 *   POST /refunds       { chargeId, amountCents, reason? } + Idempotency-Key header
 *                       -> 201 the refund (200 again for the same key and request)
 *                       -> 404 unknown charge; 422 a failed charge, or more than what is left of it;
 *                          409 when the key was used before with another request
 *   GET  /charges/:id   the charge, with its refunds and amountRefundedCents
 *   GET  /refunds/:id   the refund
 *   GET  /control/charges?card=&idempotencyKey=&description=   { charges }: what it did, for tests
 *
 * Rules. A key is answered once: the first request under it decides, and every later one with the
 * same request gets that answer (a declined card's 402 included: a retry is not a new attempt),
 * however concurrently they arrive; the table's unique key on it decides, so several instances
 * agree. The card number picks the outcome (`testCards`; any other number is charged). An amount
 * is a positive whole number of cents (at most 99,999,999), a currency three capital letters.
 * Refunds of a charge never add up to more than it: the charge row counts what was refunded, under
 * a CHECK, in the refund's transaction. Card numbers are never stored or logged: the last four
 * digits and a fingerprint (SHA-256, as a processor keeps one to recognise a card) are.
 */
export const paymentProviderSchema = `
CREATE TABLE IF NOT EXISTS provider_charges (
  charge_id             text PRIMARY KEY,
  idempotency_key       text NOT NULL UNIQUE,
  amount_cents          integer NOT NULL CHECK (amount_cents > 0),
  currency              text NOT NULL,
  card_fingerprint      text NOT NULL,
  card_last4            text NOT NULL,
  description           text,
  status                text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  failure_code          text,
  amount_refunded_cents integer NOT NULL DEFAULT 0 CHECK (amount_refunded_cents BETWEEN 0 AND amount_cents),
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS provider_charges_by_card ON provider_charges (card_fingerprint);
CREATE TABLE IF NOT EXISTS provider_refunds (
  refund_id       text PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE,
  charge_id       text NOT NULL REFERENCES provider_charges (charge_id),
  amount_cents    integer NOT NULL CHECK (amount_cents > 0),
  reason          text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS provider_refunds_by_charge ON provider_refunds (charge_id);
`;

/** Stripe's test numbers for the outcomes a caller must handle; any other card number is charged. */
export const testCards = {
  succeeds: '4242424242424242',
  declined: '4000000000000002',
  insufficientFunds: '4000000000009995',
} as const;

const declinedCards: Record<string, DeclineCode> = {
  [testCards.declined]: 'card_declined',
  [testCards.insufficientFunds]: 'insufficient_funds',
};
const declineMessages: Record<DeclineCode, string> = {
  card_declined: 'Your card was declined.',
  insufficient_funds: 'Your card has insufficient funds.',
};

const chargeRequest = z.object({
  amountCents: z.number().int().positive().max(99_999_999),
  currency: z.string().regex(/^[A-Z]{3}$/, 'a three-letter currency code in capitals, e.g. USD'),
  card: z.string().regex(/^\d{12,19}$/, 'a card number of 12 to 19 digits'),
  description: z.string().min(1).max(500).optional(),
});
type ChargeRequest = z.infer<typeof chargeRequest>;

const refundRequest = z.object({
  chargeId: z.string().min(1),
  amountCents: z.number().int().positive().max(99_999_999),
  reason: z.string().min(1).max(500).optional(),
});
type RefundRequest = z.infer<typeof refundRequest>;

interface ChargeRow {
  charge_id: string;
  idempotency_key: string;
  amount_cents: number;
  currency: string;
  card_fingerprint: string;
  card_last4: string;
  description: string | null;
  status: 'succeeded' | 'failed';
  failure_code: DeclineCode | null;
  amount_refunded_cents: number;
  created_at: Date;
}

interface RefundRow {
  refund_id: string;
  idempotency_key: string;
  charge_id: string;
  amount_cents: number;
  reason: string | null;
  created_at: Date;
}

export const ensurePaymentProviderSchema = (db: Pool) => ensureTables(db, 727_304, paymentProviderSchema);

const fingerprint = (card: string) => createHash('sha256').update(card).digest('hex');
const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

function idempotencyKey(header: string | undefined): string {
  const key = header?.trim();
  if (!key) throw new HttpError(400, 'an Idempotency-Key header is required');
  if (key.length > 255) throw new HttpError(400, 'the Idempotency-Key header is longer than 255 characters');
  return key;
}

const sameCharge = (row: ChargeRow, req: ChargeRequest) =>
  row.amount_cents === req.amountCents &&
  row.currency === req.currency &&
  row.card_fingerprint === fingerprint(req.card) &&
  row.description === (req.description ?? null);

const sameRefund = (row: RefundRow, req: RefundRequest) =>
  row.charge_id === req.chargeId && row.amount_cents === req.amountCents && row.reason === (req.reason ?? null);

// A key names one request: another request under it is the caller's bug, never a retry to answer.
const reusedKey = (key: string, what: string) =>
  new HttpError(409, `Idempotency-Key ${key} was used before with another ${what} request`);

const refundOf = (row: RefundRow): Refund => ({
  refundId: row.refund_id,
  chargeId: row.charge_id,
  amountCents: row.amount_cents,
  reason: row.reason,
  createdAt: row.created_at.toISOString(),
});

async function chargeOf(db: Pool | PoolClient, row: ChargeRow): Promise<Charge> {
  const refunds = await db.query<RefundRow>('SELECT * FROM provider_refunds WHERE charge_id = $1 ORDER BY created_at, refund_id', [row.charge_id]);
  return {
    chargeId: row.charge_id,
    status: row.status,
    amountCents: row.amount_cents,
    currency: row.currency,
    cardLast4: row.card_last4,
    description: row.description,
    failureCode: row.failure_code,
    amountRefundedCents: row.amount_refunded_cents,
    refunds: refunds.rows.map(refundOf),
    createdAt: row.created_at.toISOString(),
  };
}

export function createPaymentProvider(db: Pool): StandIn {
  const log = logger.child({ component: 'payment-provider' });

  async function charge(key: string, req: ChargeRequest) {
    const decline = declinedCards[req.card];
    const chargeId = newId('ch');
    // The unique key settles concurrent first requests: one insert wins, the others get its row.
    const { rows } = await db.query<ChargeRow>(
      `INSERT INTO provider_charges
         (charge_id, idempotency_key, amount_cents, currency, card_fingerprint, card_last4, description, status, failure_code)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
       RETURNING *`,
      [chargeId, key, req.amountCents, req.currency, fingerprint(req.card), req.card.slice(-4), req.description ?? null,
        decline ? 'failed' : 'succeeded', decline ?? null],
    );
    const row = rows[0]!;
    const repeated = row.charge_id !== chargeId;
    if (!sameCharge(row, req)) throw reusedKey(key, 'charge');
    log.info({ chargeId: row.charge_id, idempotencyKey: key, status: row.status, failureCode: row.failure_code, repeated }, 'Charge requested');
    if (row.status === 'failed') {
      const code = row.failure_code!;
      return { status: 402, body: { code, message: declineMessages[code], chargeId: row.charge_id } satisfies CardDecline };
    }
    return { status: repeated ? 200 : 201, body: await chargeOf(db, row) };
  }

  /** The refund a key already made, if any; a different request under the key is refused. */
  async function earlierRefund(client: PoolClient, key: string, req: RefundRequest): Promise<RefundRow | undefined> {
    const row = (await client.query<RefundRow>('SELECT * FROM provider_refunds WHERE idempotency_key = $1', [key])).rows[0];
    if (row && !sameRefund(row, req)) throw reusedKey(key, 'refund');
    return row;
  }

  /** Why a refund cannot be made: the charge is unknown, failed, or has not that much left. */
  async function refusal(client: PoolClient, req: RefundRequest): Promise<HttpError> {
    const row = (await client.query<ChargeRow>('SELECT * FROM provider_charges WHERE charge_id = $1', [req.chargeId])).rows[0];
    if (!row) return new HttpError(404, `no charge ${req.chargeId}`);
    if (row.status === 'failed') return new HttpError(422, `charge ${req.chargeId} failed (${row.failure_code}): there is nothing to refund`);
    const left = row.amount_cents - row.amount_refunded_cents;
    return new HttpError(422, `refund of ${req.amountCents} exceeds the ${left} cents left of charge ${req.chargeId}`);
  }

  async function refund(key: string, req: RefundRequest) {
    const client = await db.connect();
    const replay = async (row: RefundRow) => {
      await client.query('ROLLBACK');
      log.info({ refundId: row.refund_id, chargeId: row.charge_id, idempotencyKey: key, repeated: true }, 'Refund requested');
      return { status: 200, body: refundOf(row) };
    };
    try {
      await client.query('BEGIN');
      const earlier = await earlierRefund(client, key, req);
      if (earlier) return await replay(earlier);
      // Locks the charge until commit, so concurrent refunds of it are counted one after another.
      const counted = await client.query(
        `UPDATE provider_charges SET amount_refunded_cents = amount_refunded_cents + $2
          WHERE charge_id = $1 AND status = 'succeeded' AND amount_refunded_cents + $2 <= amount_cents`,
        [req.chargeId, req.amountCents],
      );
      if (counted.rowCount === 0) {
        // A concurrent request under the same key may have taken what was left: it is the answer.
        const taken = await earlierRefund(client, key, req);
        if (taken) return await replay(taken);
        throw await refusal(client, req);
      }
      const refundId = newId('re');
      const inserted = await client.query<RefundRow>(
        `INSERT INTO provider_refunds (refund_id, idempotency_key, charge_id, amount_cents, reason)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
        [refundId, key, req.chargeId, req.amountCents, req.reason ?? null],
      );
      // Another request under this key committed first (its insert held ours): undo our count, answer with it.
      if (inserted.rowCount === 0) {
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        return await replay((await earlierRefund(client, key, req))!);
      }
      await client.query('COMMIT');
      log.info({ refundId, chargeId: req.chargeId, idempotencyKey: key, repeated: false }, 'Refund requested');
      return { status: 201, body: refundOf(inserted.rows[0]!) };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async function getCharge(chargeId: string) {
    const row = (await db.query<ChargeRow>('SELECT * FROM provider_charges WHERE charge_id = $1', [chargeId])).rows[0];
    if (!row) throw new HttpError(404, `no charge ${chargeId}`);
    return { status: 200, body: await chargeOf(db, row) };
  }

  async function getRefund(refundId: string) {
    const row = (await db.query<RefundRow>('SELECT * FROM provider_refunds WHERE refund_id = $1', [refundId])).rows[0];
    if (!row) throw new HttpError(404, `no refund ${refundId}`);
    return { status: 200, body: refundOf(row) };
  }

  /** The charges matching every filter given; at least one is required, so nobody dumps the table. */
  async function listCharges(query: URLSearchParams) {
    const filters: Array<[string, string]> = [];
    const card = query.get('card');
    if (card) filters.push(['card_fingerprint', fingerprint(card)]);
    for (const [param, column] of [['idempotencyKey', 'idempotency_key'], ['description', 'description']] as const) {
      const value = query.get(param);
      if (value) filters.push([column, value]);
    }
    if (filters.length === 0) throw new HttpError(400, 'filter by card, idempotencyKey or description');
    const where = filters.map(([column], i) => `${column} = $${i + 1}`).join(' AND ');
    const { rows } = await db.query<ChargeRow>(
      `SELECT * FROM provider_charges WHERE ${where} ORDER BY created_at, charge_id`,
      filters.map(([, value]) => value),
    );
    return { status: 200, body: { charges: await Promise.all(rows.map((row) => chargeOf(db, row))) } };
  }

  return createStandIn('payment-provider', db, {
    business: (req) => {
      if (req.method === 'POST' && req.pathname === '/charges') {
        return async () => charge(idempotencyKey(req.header('idempotency-key')), parse(chargeRequest, await req.json()));
      }
      if (req.method === 'POST' && req.pathname === '/refunds') {
        return async () => refund(idempotencyKey(req.header('idempotency-key')), parse(refundRequest, await req.json()));
      }
      const chargePath = /^\/charges\/([^/]+)$/.exec(req.pathname);
      if (req.method === 'GET' && chargePath) return () => getCharge(decodeURIComponent(chargePath[1]!));
      const refundPath = /^\/refunds\/([^/]+)$/.exec(req.pathname);
      if (req.method === 'GET' && refundPath) return () => getRefund(decodeURIComponent(refundPath[1]!));
      return undefined;
    },
    control: (req) => (req.method === 'GET' && req.pathname === '/control/charges' ? () => listCharges(req.query) : undefined),
  }, log);
}
