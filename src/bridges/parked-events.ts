import type { KafkaMessage, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { headersAsText } from '../trace';

export interface ParkedEvent {
  id: number;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  payload: string | null;
  reason: string;
  correlationId: string | null;
  parkedAt: Date;
  replayedAt: Date | null;
}

/**
 * Where the bridge keeps Kafka records that can never become a workflow, with the reason.
 * Parking is idempotent per record (topic, partition, offset), so a redelivered bad record
 * stays one row.
 */
export function createParkedEvents(db: Pool) {
  async function select(where: string, params: unknown[]): Promise<ParkedEvent[]> {
    const { rows } = await db.query(
      `SELECT id, topic, kafka_partition AS partition, kafka_offset::text AS offset, message_key AS key, headers,
              payload, reason, correlation_id AS "correlationId", parked_at AS "parkedAt", replayed_at AS "replayedAt"
         FROM parked_events ${where} ORDER BY id`,
      params,
    );
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }

  return {
    async park(topic: string, partition: number, message: KafkaMessage, reason: string, correlationId: string) {
      await db.query(
        `INSERT INTO parked_events (topic, kafka_partition, kafka_offset, message_key, headers, payload, reason, correlation_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING`,
        [
          topic,
          partition,
          message.offset,
          message.key?.toString() ?? null,
          JSON.stringify(headersAsText(message.headers)),
          message.value?.toString() ?? null,
          reason,
          correlationId,
        ],
      );
    },

    async list(options: { topic?: string; includeReplayed?: boolean } = {}): Promise<ParkedEvent[]> {
      return select('WHERE ($1::text IS NULL OR topic = $1) AND ($2 OR replayed_at IS NULL)', [
        options.topic ?? null,
        options.includeReplayed ?? false,
      ]);
    },

    /**
     * Publishes a parked record again, unchanged or with a corrected payload, to its original
     * topic, and marks it replayed. The bridge then treats it like any other record.
     */
    async replay(producer: Producer, id: number, correctedPayload?: string): Promise<ParkedEvent> {
      const [event] = await select('WHERE id = $1', [id]);
      if (!event) throw new Error(`No parked event with id ${id}`);
      await producer.send({
        topic: event.topic,
        messages: [{ key: event.key, value: correctedPayload ?? event.payload, headers: event.headers }],
      });
      await db.query('UPDATE parked_events SET replayed_at = now() WHERE id = $1', [id]);
      return event;
    },
  };
}

export type ParkedEvents = ReturnType<typeof createParkedEvents>;
