/**
 * Seed 002's outbox worker, for the seed-style payment service of `npm run bench:payments`: it
 * polls `outbox_events` every 5 seconds, publishes what is unpublished to Kafka, marks it
 * published, and retries a failed publish with exponential backoff, 5 attempts, after which the
 * row stays for the DLQ (seed 002, "Outbox Worker"). Not the project's code.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import type { PaymentPurpose } from '../../src/contracts/payment-events';
import type { Logger } from '../../src/logger';
import { inTransaction } from '../seed-worker/framework';

/** Seed 002's command queue, `payment.commands.process`, as a Kafka topic. */
export const paymentCommandsTopic = 'payment.commands.process';

export interface ProcessPaymentCommand {
  type: 'ProcessPayment';
  paymentId: string;
  amountCents: number;
  currency: string;
  card: string;
  purpose: PaymentPurpose;
}

export const outboxPollMs = 5_000;
const maxAttempts = 5;
// One poll publishes everything unpublished, this many rows per Kafka batch, so a burst waits for
// one poll, not for several.
const batchSize = 500;

export async function runOutboxWorker(db: Pool, producer: Producer, log: Logger, running: () => boolean): Promise<void> {
  while (running()) {
    try {
      let published: number;
      do published = await publishBatch(db, producer, log);
      while (published === batchSize);
    } catch (err) {
      log.error({ err }, 'Outbox poll failed');
    }
    await sleep(outboxPollMs);
  }
}

/** One batch, held under FOR UPDATE SKIP LOCKED while it is sent, so two outbox workers never send the same row. */
async function publishBatch(db: Pool, producer: Producer, log: Logger): Promise<number> {
  return inTransaction(db, async (tx) => {
    const { rows } = await tx.query<{ id: string; topic: string; event_key: string; payload: unknown }>(
      `SELECT id, topic, event_key, payload FROM outbox_events
        WHERE published_at IS NULL AND attempts < $1 AND next_attempt_at <= now()
        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [maxAttempts, batchSize],
    );
    if (rows.length === 0) return 0;
    const ids = rows.map((r) => r.id);
    const topics = [...new Set(rows.map((r) => r.topic))];
    try {
      await producer.sendBatch({
        topicMessages: topics.map((topic) => ({
          topic,
          messages: rows.filter((r) => r.topic === topic).map((r) => ({ key: r.event_key, value: JSON.stringify(r.payload) })),
        })),
      });
      await tx.query('UPDATE outbox_events SET published_at = now() WHERE id = ANY($1)', [ids]);
      log.info({ published: rows.length }, 'Outbox events published');
    } catch (err) {
      await tx.query(
        `UPDATE outbox_events SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + interval '1 second' * 2 ^ attempts
          WHERE id = ANY($1)`,
        [ids, String(err)],
      );
      log.warn({ err, events: rows.length }, 'Outbox publish failed; retrying with backoff');
    }
    return rows.length;
  });
}
