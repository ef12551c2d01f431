import type { IHeaders, KafkaMessage, Producer } from 'kafkajs';
import type { DatabaseError, Pool } from 'pg';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { ENCRYPTED_ENCODING, EncryptionCodec, METADATA_ENCRYPTION_KEY_ID } from '../codec/encryption-codec';
import type { KeyRing } from '../codec/key-ring';
import { describeDatabaseError } from '../database-errors';
import type { Logger } from '../logger';
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
  /**
   * Set for a record parked from a route whose events carry personal data: its value is stored
   * encrypted under this key ID (`record.value` is the ciphertext; `replay` decrypts it), and the
   * row is deleted at `expiresAt`.
   */
  personal: { keyId: string | null; expiresAt: Date } | null;
}

export interface ParkedEventsOptions {
  /** Encrypts the value of a record with personal data; without a ring such a record is kept as its coordinates only. */
  ring?: KeyRing;
  /** How long a record with personal data is kept (config PARKED_PERSONAL_DATA_RETENTION_DAYS). */
  personalDataRetentionDays?: number;
}

/** The ring's encryption, as the payload codec does it, for one value: its key ID and ciphertext. */
async function seal(ring: KeyRing, value: Buffer): Promise<{ keyId: string; data: Buffer }> {
  const [sealed] = await new EncryptionCodec(ring).encode([{ data: value }]);
  return { keyId: ring.currentKeyId, data: Buffer.from(sealed!.data!) };
}

async function unseal(ring: KeyRing, keyId: string, data: Buffer): Promise<Buffer> {
  const [payload] = await new EncryptionCodec(ring).decode([
    { metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [METADATA_ENCRYPTION_KEY_ID]: Buffer.from(keyId) }, data },
  ]);
  return Buffer.from(payload!.data ?? []);
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
 *
 * A record whose route's events carry personal data (PHI: a prescription intake) is kept with its
 * value encrypted by `ring` and no readable rendering of it, and only for the retention; its key
 * and headers stay readable (an ID and a trace).
 */
export function createParkedEvents(db: Pool, { ring, personalDataRetentionDays = 30 }: ParkedEventsOptions = {}) {
  async function select(where: string, params: unknown[]): Promise<ParkedEvent[]> {
    const { rows } = await db.query(
      `SELECT id, topic, kafka_partition AS partition, kafka_offset::text AS offset, key_bytes, value_bytes,
              header_names, header_values, reason, correlation_id AS "correlationId", parked_at AS "parkedAt",
              replayed_at AS "replayedAt", value_key_id, expires_at
         FROM parked_events ${where} ORDER BY id`,
      params,
    );
    return rows.map(({ key_bytes, value_bytes, header_names, header_values, value_key_id, expires_at, ...r }) => ({
      ...r,
      id: Number(r.id),
      record: header_names && { key: key_bytes, value: value_bytes, headers: headersFrom(header_names, header_values) },
      personal: expires_at && { keyId: value_key_id, expiresAt: expires_at },
    }));
  }

  const expiry = `now() + make_interval(days => ${Number(personalDataRetentionDays)})`;

  return {
    /**
     * Throws only while PostgreSQL cannot be reached, so the bridge holds the partition and
     * retries. A record PostgreSQL refuses is kept as its coordinates and reason: the partition
     * must not stop for it, and Kafka still has it until retention.
     */
    /**
     * `personalData`: the record's route carries personal data, so its value is stored encrypted
     * (or, without a ring, not at all) and the row expires.
     */
    async park(topic: string, partition: number, message: KafkaMessage, reason: string, correlationId: string, personalData = false) {
      const coordinatesOnly = async (why: string) =>
        db.query(
          `INSERT INTO parked_events (topic, kafka_partition, kafka_offset, reason, expires_at)
           VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN ${expiry} END)
           ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING`,
          [topic, partition, message.offset, printable(`${reason}; ${why}`), personalData],
        );
      if (personalData && !ring) return void (await coordinatesOnly('personal data, and no key ring to encrypt it: only where the record is was kept'));
      const headers = headerPairs(message.headers);
      const sealed = personalData && message.value ? await seal(ring!, message.value) : undefined;
      try {
        await db.query(
          `INSERT INTO parked_events (topic, kafka_partition, kafka_offset, reason, correlation_id,
                                      key_bytes, value_bytes, header_names, header_values, message_key, payload, headers,
                                      value_key_id, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, CASE WHEN $14 THEN ${expiry} END)
           ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING`,
          [
            topic,
            partition,
            message.offset,
            printable(reason),
            printable(correlationId),
            message.key,
            sealed ? sealed.data : message.value,
            headers.map(([name]) => name),
            headers.map(([, value]) => value),
            message.key && readable(message.key),
            personalData ? null : message.value && readable(message.value),
            JSON.stringify(readableHeaders(message.headers)),
            sealed?.keyId ?? null,
            personalData,
          ],
        );
      } catch (err) {
        if (!isRowRefused(err)) throw err;
        await coordinatesOnly(`the record itself was refused: ${describeDatabaseError(err as DatabaseError, 'PostgreSQL refused it')}`);
      }
    },

    /** Deletes the records with personal data past their retention; answers how many. The bridge runs it hourly. */
    async deleteExpired(asOf: Date = new Date()): Promise<number> {
      const { rowCount } = await db.query('DELETE FROM parked_events WHERE expires_at <= $1', [asOf]);
      return rowCount ?? 0;
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
    async replay(producer: Producer, id: number, correctedPayload?: Buffer): Promise<ParkedEvent> {
      const [event] = await select('WHERE id = $1', [id]);
      if (!event) throw new Error(`No parked event with id ${id}`);
      if (!event.record) {
        throw new Error(
          `Parked event ${id} kept only where the record is (${event.topic} partition ${event.partition} offset ${event.offset}): ${event.reason}`,
        );
      }
      const { key, headers } = event.record;
      let { value } = event.record;
      const keyId = event.personal?.keyId;
      if (correctedPayload === undefined && keyId && value) {
        if (!ring) throw new Error(`Parked event ${id} is encrypted (key ID ${keyId}): give this command the payload key ring (PAYLOAD_KEY_RING_FILE)`);
        value = await unseal(ring, keyId, value);
      }
      await producer.send({ topic: event.topic, messages: [{ key, value: correctedPayload ?? value, headers }] });
      await db.query('UPDATE parked_events SET replayed_at = now() WHERE id = $1', [id]);
      return event;
    },
  };
}

export type ParkedEvents = ReturnType<typeof createParkedEvents>;

/**
 * The bridge's side of the retention: deletes parked records with personal data past their expiry
 * at once and every `everyMs` after. A failed sweep is logged and the next one tries again. Stop it
 * with clearInterval.
 */
export function keepingRetention(parkedEvents: Pick<ParkedEvents, 'deleteExpired'>, log: Logger, everyMs = 60 * 60_000): NodeJS.Timeout {
  const sweep = () => {
    parkedEvents.deleteExpired().then(
      (deleted) => deleted > 0 && log.info({ deleted }, 'Deleted parked records with personal data past their retention'),
      (err: unknown) => log.warn({ err }, 'Could not delete parked records past their retention; trying again later'),
    );
  };
  sweep();
  return setInterval(sweep, everyMs).unref();
}
