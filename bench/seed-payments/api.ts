/**
 * Seed 002's payment API, written the seed's way, as the baseline of `npm run bench:payments`:
 * POST /payments runs the ProcessPayment use case's "Save to DB + Outbox (Transactional)" — the
 * payment row and its ProcessPayment command in one transaction — and answers 202; the outbox
 * worker and the command worker (./workers.ts) do the rest. It is Fastify, as src/payment-api is,
 * and takes the same requests (same schemas, same payment ID from the Idempotency-Key, same 409),
 * so the benchmark compares the two designs, not two frameworks. The benchmark points
 * DATABASE_URL at a database of its own. Not the project's code.
 */
import Fastify from 'fastify';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { idempotencyKeySchema, paymentRequestSchema } from '../../src/contracts/payment-events';
import { logger } from '../../src/logger';
import { paymentIdOf, requestFingerprint } from '../../src/payment-api/server';
import { describeProblems } from '../../src/schema-problems';
import { inTransaction } from '../seed-worker/framework';
import { paymentCommandsTopic, type ProcessPaymentCommand } from './outbox';

async function main(): Promise<void> {
  const config = loadConfig();
  const port = Number(process.env.SEED_PAYMENT_API_PORT);
  if (!port) throw new Error('SEED_PAYMENT_API_PORT is not set; `npm run bench:payments` sets it');
  // The size of the project API's pool (createPool's default), so neither has more connections.
  const db = createPool(config);
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

  app.get('/health', async () => ({ status: 'ok' }));

  app.post('/payments', async (request, reply) => {
    const key = idempotencyKeySchema.safeParse(request.headers['idempotency-key']);
    if (!key.success) return reply.code(400).send({ error: `the Idempotency-Key header is required: ${describeProblems(key.error)}` });
    const body = paymentRequestSchema.safeParse(request.body);
    if (!body.success) return reply.code(422).send({ error: describeProblems(body.error) });
    const { amountCents, currency, card, purpose } = body.data;
    const paymentId = paymentIdOf(key.data);
    const fingerprint = requestFingerprint(body.data);

    const row = await inTransaction(db, async (tx) => {
      const inserted = await tx.query<{ request_fingerprint: string; status: string }>(
        `INSERT INTO payments (payment_id, idempotency_key, request_fingerprint, purpose, student_id, course_id, prescription_id, link_id,
                               amount_cents, currency, card_last4)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT DO NOTHING RETURNING request_fingerprint, status`,
        [
          paymentId,
          key.data,
          fingerprint,
          purpose.kind,
          purpose.kind === 'course' ? purpose.studentId : null,
          purpose.kind === 'course' ? purpose.courseId : null,
          purpose.kind === 'copay' ? purpose.prescriptionId : null,
          purpose.kind === 'copay' ? purpose.linkId : null,
          amountCents,
          currency,
          card.slice(-4),
        ],
      );
      if (!inserted.rows[0]) {
        // The first request under this key wrote the command already.
        const { rows } = await tx.query<{ request_fingerprint: string; status: string }>(
          'SELECT request_fingerprint, status FROM payments WHERE payment_id = $1',
          [paymentId],
        );
        return rows[0]!;
      }
      // The command carries the card as the provider stand-in takes it; the benchmark's is a test card.
      const command: ProcessPaymentCommand = { type: 'ProcessPayment', paymentId, amountCents, currency, card, purpose };
      await tx.query('INSERT INTO outbox_events (topic, event_key, payload) VALUES ($1, $2, $3)', [paymentCommandsTopic, paymentId, command]);
      return inserted.rows[0];
    });
    if (row.request_fingerprint !== fingerprint) {
      return reply.code(409).send({ error: `Idempotency-Key already used for another request (payment ${paymentId})`, paymentId });
    }
    return reply.code(202).header('location', `/payments/${paymentId}`).send({ paymentId, status: row.status });
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    logger.error({ err, url: request.url }, 'Seed-style payment API request failed');
    return reply.code(503).send({ error: 'the payment could not be accepted now; retry with the same Idempotency-Key' });
  });

  await app.listen({ port, host: '127.0.0.1' });
  logger.info({ port }, 'Seed-style payment API listening');
  const stop = async () => {
    await app.close();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  logger.fatal({ err }, 'Seed-style payment API failed');
  process.exit(1);
});
