import { createHash } from 'node:crypto';
import type { DataConverter } from '@temporalio/common';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import { paymentRowColumns, purposeOf, type PaymentRow } from '../activities/payment-ledger-row';
import { paymentTaskQueue, type PaymentOrder } from '../contracts/payment';
import { idempotencyKeySchema, paymentRequestSchema, type PaymentRequestBody } from '../contracts/payment-events';
import { logger } from '../logger';
import { describeProblems } from '../schema-problems';
import { type TraceContext } from '../trace';
import { correlationIdFor } from '../trace-node';
import { encodeRun } from './run-order';

/**
 * The payment API (seed 001's "payment API cannot block", seed 002's 202 Accepted): it accepts a
 * payment and answers at once; the payment's workflow charges the card afterwards.
 *
 *   POST /payments      body: { amountCents, currency, card, purpose }, header Idempotency-Key
 *                       -> 202 { paymentId, status, ... } with Location: /payments/<paymentId>
 *                       -> 409 the key was used with another request; 400/422 an invalid one
 *   GET  /payments/:id  -> 200 the payment as the ledger has it; 404 unknown
 *
 * The key names the payment (`paymentIdOf`), and so its workflow: the same request sent again,
 * concurrently or a day later, finds the same row and the same run, and the card is charged once.
 * The row is written first and decides between concurrent requests (its unique key). The API
 * does not talk to Temporal: the row carries the run's order, and the bridges process starts it
 * (src/bridges/payment-runs.ts).
 */
export interface PaymentApiDependencies {
  db: Pool;
  /** Its payload codecs encrypt the run's order in the row, as Temporal's history holds a start's arguments. */
  dataConverter: DataConverter;
  /** The payment workers' task queue; tests give their own. */
  taskQueue?: string;
  /** Accepted payments waiting for their run's start, past which the API answers 503 (PAYMENT_API_MAX_WAITING_STARTS). */
  maxWaitingStarts?: number;
}

/** A payment's ID from its Idempotency-Key: stable, opaque, and safe in a URL and a workflow ID. */
export const paymentIdOf = (idempotencyKey: string): string =>
  `pay_${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;

/** The request's fingerprint: the same fields in any order are the same request. */
export const requestFingerprint = (body: PaymentRequestBody): string => {
  const { amountCents, currency, card, purpose } = body;
  const canonical = JSON.stringify([amountCents, currency, card, Object.entries(purpose).sort(([a], [b]) => a.localeCompare(b))]);
  return createHash('sha256').update(canonical).digest('hex');
};

export function createPaymentApi({ db, dataConverter, taskQueue = paymentTaskQueue, maxWaitingStarts = 20_000 }: PaymentApiDependencies): FastifyInstance {
  const codecs = dataConverter.payloadCodecs ?? [];
  const waitingStarts = waitingStartsOf(db);
  // Card numbers travel in request bodies: Fastify logs none of them (its logger is off), and ours
  // logs payment IDs only.
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

  app.get('/health', async () => ({ status: 'ok' }));

  app.post('/payments', async (request, reply) => {
    // The runs' starts have fallen far behind (Temporal is down or slower than the requests): a
    // quick "retry" under the same key, which makes no second payment, beats an unbounded backlog.
    if (waitingStarts() >= maxWaitingStarts) {
      return reply.code(503).header('retry-after', '1').send({ error: 'the payment API is at capacity; retry with the same Idempotency-Key' });
    }
    return acceptPayment(request, reply);
  });

  async function acceptPayment(request: FastifyRequest, reply: FastifyReply) {
    const key = idempotencyKeySchema.safeParse(request.headers['idempotency-key']);
    if (!key.success) {
      return reply.code(400).send({ error: `the Idempotency-Key header is required: ${describeProblems(key.error)}` });
    }
    const body = paymentRequestSchema.safeParse(request.body);
    if (!body.success) return reply.code(422).send({ error: describeProblems(body.error) });

    const paymentId = paymentIdOf(key.data);
    const fingerprint = requestFingerprint(body.data);
    const order: PaymentOrder = { ...body.data, paymentId, acceptedAt: new Date().toISOString(), trace: traceOf(request.headers, paymentId) };
    const runOrder = await encodeRun({ order, taskQueue }, codecs);
    const { row, inserted } = await accept(db, order, key.data, fingerprint, runOrder);
    if (row.request_fingerprint !== fingerprint) {
      return reply.code(409).send({ error: `Idempotency-Key already used for another request (payment ${paymentId})`, paymentId });
    }
    // A repeat for a row still Accepted whose order is gone (its start was acknowledged, or an API
    // before migration 008 wrote it and died) asks for the start again, which is idempotent. Once
    // the run has moved the row on, it exists (or existed): nothing to ask.
    if (!inserted && row.status === 'Accepted') {
      const again = await encodeRun({ order: { ...order, acceptedAt: row.accepted_at.toISOString() }, taskQueue }, codecs);
      await db.query(`UPDATE payments SET run_order = $2 WHERE payment_id = $1 AND status = 'Accepted' AND run_order IS NULL`, [paymentId, again]);
    }
    return reply.code(202).header('location', `/payments/${paymentId}`).send(view(row));
  }

  app.get<{ Params: { paymentId: string } }>('/payments/:paymentId', async (request, reply) => {
    const { rows } = await db.query<PaymentRow>(`SELECT ${paymentRowColumns} FROM payments WHERE payment_id = $1`, [request.params.paymentId]);
    if (!rows[0]) return reply.code(404).send({ error: `no payment ${request.params.paymentId}` });
    return view(rows[0]);
  });

  // Where a copay's payment link points (`paymentLinksUrl`): the link, and what was paid through it.
  app.get<{ Params: { linkId: string } }>('/payment-links/:linkId', async (request) => {
    const { rows } = await db.query<PaymentRow>(`SELECT ${paymentRowColumns} FROM payments WHERE link_id = $1 ORDER BY accepted_at`, [request.params.linkId]);
    return {
      linkId: request.params.linkId,
      pay: 'POST /payments with an Idempotency-Key and purpose { kind: "copay", prescriptionId, linkId }',
      payments: rows.map(view),
    };
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    // A malformed JSON body is the client's; anything else (the database unreachable)
    // is ours, and the client retries with the same key.
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    logger.error({ err, url: request.url }, 'Payment API request failed');
    return reply.code(503).send({ error: 'the payment could not be accepted now; retry with the same Idempotency-Key' });
  });

  return app;
}

/**
 * How many accepted payments wait for their run's start, as the ledger said at most a second ago:
 * a request never waits for the count.
 */
function waitingStartsOf(db: Pool, maxAgeMs = 1_000): () => number {
  let count = 0;
  let countedAt = 0;
  let counting: Promise<void> | undefined;
  return () => {
    if (!counting && Date.now() - countedAt > maxAgeMs) {
      counting = db
        .query<{ n: string }>('SELECT count(*) AS n FROM payments WHERE run_order IS NOT NULL')
        .then(({ rows }) => {
          count = Number(rows[0]?.n ?? 0);
          countedAt = Date.now();
        })
        .catch(() => undefined)
        .finally(() => (counting = undefined));
    }
    return count;
  };
}

/** The ledger row for this key: written now, or the one an earlier request with this key wrote. */
async function accept(
  db: Pool,
  order: PaymentOrder,
  idempotencyKey: string,
  fingerprint: string,
  runOrder: Buffer,
): Promise<{ row: PaymentRow; inserted: boolean }> {
  const { paymentId, amountCents, currency, card, purpose } = order;
  const course = purpose.kind === 'course' ? purpose : undefined;
  const copay = purpose.kind === 'copay' ? purpose : undefined;
  const inserted = await db.query<PaymentRow>(
    `INSERT INTO payments (payment_id, idempotency_key, request_fingerprint, purpose, student_id, course_id, prescription_id, link_id,
                           amount_cents, currency, card_last4, correlation_id, accepted_at, run_order)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT DO NOTHING RETURNING ${paymentRowColumns}`,
    [
      paymentId,
      idempotencyKey,
      fingerprint,
      purpose.kind,
      course?.studentId ?? null,
      course?.courseId ?? null,
      copay?.prescriptionId ?? null,
      copay?.linkId ?? null,
      amountCents,
      currency,
      card.slice(-4),
      order.trace.correlationId,
      order.acceptedAt,
      runOrder,
    ],
  );
  if (inserted.rows[0]) return { row: inserted.rows[0], inserted: true };
  const { rows } = await db.query<PaymentRow>(`SELECT ${paymentRowColumns} FROM payments WHERE payment_id = $1`, [paymentId]);
  // ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit, so it is there.
  if (!rows[0]) throw new Error(`payment ${paymentId}: the insert conflicted but no row was found`);
  return { row: rows[0], inserted: false };
}

type Headers = Record<string, string | string[] | undefined>;
const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) || undefined;
};

/** The caller's correlation ID, or its hash when it is not a safe token (as the bridge does); the payment ID when it sent none. */
function correlationIdOf(headers: Headers, paymentId: string): string {
  const given = header(headers, 'x-correlation-id') ?? header(headers, 'correlation-id');
  return given ? correlationIdFor(given) : paymentId;
}

function traceOf(headers: Headers, paymentId: string): TraceContext {
  const traceparent = header(headers, 'traceparent');
  return { correlationId: correlationIdOf(headers, paymentId), ...(traceparent ? { traceparent: traceparent.slice(0, 100) } : {}) };
}

/** The payment as `GET /payments/:id` answers it: no card number, which the ledger never had. */
function view(row: PaymentRow) {
  return {
    paymentId: row.payment_id,
    status: row.status,
    amountCents: row.amount_cents,
    currency: row.currency,
    cardLast4: row.card_last4,
    purpose: purposeOf(row),
    providerPaymentId: row.provider_payment_id ?? undefined,
    declineCode: row.decline_code ?? undefined,
    refund: row.provider_refund_id
      ? { refundId: row.provider_refund_id, reason: row.refund_reason, refundedAt: row.refunded_at?.toISOString() }
      : undefined,
    acceptedAt: row.accepted_at.toISOString(),
    chargedAt: row.charged_at?.toISOString(),
  };
}
