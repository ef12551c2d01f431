import type { IHeaders, KafkaMessage, Producer } from 'kafkajs';
import type { DatabaseError, Pool } from 'pg';
import { describeDatabaseError } from '../database-errors';
import { printable, readable } from './utf8';

/** A Kafka record's bytes exactly as they arrived: what an unchanged replay publishes. */
export interface ParkedRecord {
  key: Buffer | null;
  value: Buffer | null;
  /** A header sent more than once has an array of values, as kafkajs delivers it. */
  headers: IHeaders;
}

export interface ParkedEvent {
  id: number;
  topic: string;
  partition: number;
  offset: string;
  /** Null when PostgreSQL refused the record itself and only its coordinates and reason were kept. */
  record: ParkedRecord | null;
  reason: string;
  correlationId: string | null;
  parkedAt: Date;
  replayedAt: Date | null;
}

// kafkajs delivers a header value as a Buffer, or null when it was sent without one.
type HeaderValue = string | Buffer | null | undefined;
const asBytes = (v: HeaderValue) => (v == null ? null : Buffer.from(v));
const valuesOf = (v: IHeaders[string]): HeaderValue[] => (Array.isArray(v) ? v : [v]);

/** One [name, value] pair per header, in the order kafkajs delivered them. */
const headerPairs = (headers: IHeaders = {}) =>
  Object.entries(headers).flatMap(([name, v]) => valuesOf(v).map((value) => [Buffer.from(name), asBytes(value)] as const));

function headersFrom(names: Buffer[], values: Buffer[]): IHeaders {
  const headers: IHeaders = {};
  names.forEach((name, i) => {
    const seen = headers[name.toString()];
    headers[name.toString()] = seen === undefined ? values[i] : [...valuesOf(seen), values[i]] as Buffer[];
  });
  return headers;
}

/** The headers for psql: names and values readable, a repeated header as an array. */
function readableHeaders(headers: IHeaders = {}): Record<string, unknown> {
  const text = (v: HeaderValue) => (v == null ? null : readable(asBytes(v)!));
  return Object.fromEntries(
    Object.entries(headers).map(([name, v]) => [printable(name), Array.isArray(v) ? v.map(text) : text(v)]),
  );
}

/**
 * PostgreSQL refuses this row (22 data exception, 23 integrity constraint, 54 program limit
 * exceeded) rather than being unreachable or overloaded: retrying the same row cannot help.
 */
const isRowRefused = (err: unknown) => /^(22|23|54)[0-9A-Z]{3}$/.test(String((err as { code?: unknown })?.code));

/**
 * Where the bridge keeps Kafka records that can never become a workflow, with the reason.
 * Parking is idempotent per record (topic, partition, offset), so a redelivered bad record
 * stays one row.
 */
export function createParkedEvents(db: Pool) {
  async function select(where: string, params: unknown[]): Promise<ParkedEvent[]> {
    const { rows } = await db.query(
      `SELECT id, topic, kafka_partition AS partition, kafka_offset::text AS offset, key_bytes, value_bytes,
              header_names, header_values, reason, correlation_id AS "correlationId", parked_at AS "parkedAt",
              replayed_at AS "replayedAt"
         FROM parked_events ${where} ORDER BY id`,
      params,
    );
    return rows.map(({ key_bytes, value_bytes, header_names, header_values, ...r }) => ({
      ...r,
      id: Number(r.id),
      record: header_names && { key: key_bytes, value: value_bytes, headers: headersFrom(header_names, header_values) },
    }));
  }

  return {
    /**
     * Throws only while PostgreSQL cannot be reached, so the bridge holds the partition and
     * retries. A record PostgreSQL refuses is kept as its coordinates and reason: the partition
     * must not stop for it, and Kafka still has it until retention.
     */
    async park(topic: string, partition: number, message: KafkaMessage, reason: string, correlationId: string) {
      const headers = headerPairs(message.headers);
      try {
        await db.query(
          `INSERT INTO parked_events (topic, kafka_partition, kafka_offset, reason, correlation_id,
                                      key_bytes, value_bytes, header_names, header_values, message_key, payload, headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING`,
          [
            topic,
            partition,
            message.offset,
            printable(reason),
            printable(correlationId),
            message.key,
            message.value,
            headers.map(([name]) => name),
            headers.map(([, value]) => value),
            message.key && readable(message.key),
            message.value && readable(message.value),
            JSON.stringify(readableHeaders(message.headers)),
          ],
        );
      } catch (err) {
        if (!isRowRefused(err)) throw err;
        await db.query(
          `INSERT INTO parked_events (topic, kafka_partition, kafka_offset, reason) VALUES ($1, $2, $3, $4)
           ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING`,
          [topic, partition, message.offset, printable(`${reason}; the record itself was refused: ${describeDatabaseError(err as DatabaseError, 'PostgreSQL refused it')}`)],
        );
      }
    },

    async list(options: { topic?: string; includeReplayed?: boolean } = {}): Promise<ParkedEvent[]> {
      return select('WHERE ($1::text IS NULL OR topic = $1) AND ($2 OR replayed_at IS NULL)', [
        options.topic ?? null,
        options.includeReplayed ?? false,
      ]);
    },

    /**
     * Publishes a parked record again, byte for byte or with a corrected value, to its original
     * topic, and marks it replayed. The bridge then treats it like any other record.
     */
    async replay(producer: Producer, id: number, correctedPayload?: string): Promise<ParkedEvent> {
      const [event] = await select('WHERE id = $1', [id]);
      if (!event) throw new Error(`No parked event with id ${id}`);
      if (!event.record) {
        throw new Error(
          `Parked event ${id} kept only where the record is (${event.topic} partition ${event.partition} offset ${event.offset}): ${event.reason}`,
        );
      }
      const { key, value, headers } = event.record;
      await producer.send({ topic: event.topic, messages: [{ key, value: correctedPayload ?? value, headers }] });
      await db.query('UPDATE parked_events SET replayed_at = now() WHERE id = $1', [id]);
      return event;
    },
  };
}

export type ParkedEvents = ReturnType<typeof createParkedEvents>;
