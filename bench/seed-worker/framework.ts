/**
 * The shared worker framework of the legacy system (seed 001, `shared/worker/`): a Kafka consumer
 * per worker, the `processed_events` idempotency guard, retries with exponential backoff, and a
 * dead-letter publisher. Written the way the seeds describe it, as the baseline the project is
 * compared with; it is not the project's code.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { logger } from '../../src/logger';

export const deadLetterTopic = 'dead-letter-queue';

export interface SeedWorker {
  /** Its consumer group, as the seeds name them. */
  group: string;
  topics: string[];
  /** Attempts before the event goes to the dead-letter topic (or, for a non-critical worker, is only logged). */
  maxAttempts: number;
  critical: boolean;
  handle(topic: string, event: unknown): Promise<void>;
}

/** An answer that retrying cannot change (a 4xx from the admin service): straight to the DLQ. */
export class NonRetryable extends Error {}

/** The seeds' topics have 3 partitions, and the Go worker ran one goroutine per partition. */
const partitionsPerTopic = 3;
const firstBackoffMs = 500;

export async function runWorker(kafka: Kafka, producer: Producer, worker: SeedWorker) {
  const log = logger.child({ worker: worker.group });
  const consumer = kafka.consumer({ groupId: worker.group, allowAutoTopicCreation: false });
  await consumer.connect();
  for (const topic of worker.topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: worker.topics.length * partitionsPerTopic,
    // kafkajs commits the offset after this returns: after the DB commit, as the seeds require.
    eachMessage: async ({ topic, message }) => {
      const text = message.value?.toString() ?? '';
      for (let attempt = 1; ; attempt++) {
        try {
          await worker.handle(topic, JSON.parse(text));
          return;
        } catch (err) {
          // Bad input (unparseable, failing its schema) and refusals fail the same way every time.
          const retryable = !(err instanceof NonRetryable || err instanceof SyntaxError || err instanceof z.ZodError);
          if (retryable && attempt < worker.maxAttempts) {
            await new Promise((r) => setTimeout(r, firstBackoffMs * 2 ** (attempt - 1)));
            continue;
          }
          log.error({ err, topic, attempt }, worker.critical ? 'Giving up; sending to the DLQ' : 'Giving up (non-critical)');
          if (worker.critical) {
            await producer.send({
              topic: deadLetterTopic,
              messages: [{ key: message.key, value: JSON.stringify({ topic, error: String(err), payload: text }) }],
            });
          }
          return;
        }
      }
    },
  });
  return consumer;
}

export async function inTransaction<T>(db: Pool, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  const tx = await db.connect();
  try {
    await tx.query('BEGIN');
    const result = await work(tx);
    await tx.query('COMMIT');
    return result;
  } catch (err) {
    await tx.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    tx.release();
  }
}

/**
 * The idempotency guard: records the event inside the caller's transaction; false when an earlier
 * delivery already did (then the caller skips it). A rollback forgets the record with the writes.
 */
export async function firstDelivery(tx: PoolClient, eventId: string, eventType: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    'INSERT INTO processed_events (event_id, event_type) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [eventId, eventType],
  );
  return rowCount === 1;
}

/** The check before an expensive call that cannot sit inside the transaction (the admin service). */
export async function alreadyProcessed(db: Pool, eventId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM processed_events WHERE event_id = $1', [eventId]);
  return rowCount === 1;
}
