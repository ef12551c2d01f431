import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readKeyRing } from '../codec/key-ring';
import { loadConfig } from '../config';
import { createKafka, createPool, createProducer } from '../connections';
import { createParkedEvents, type ParkedEvent } from './parked-events';
import { readable } from './utf8';

/**
 * Operator command: publish a parked record again to its topic, unchanged or corrected.
 *   npm run replay-parked -- <id> [--payload-file <file>]   (`--payload-file -` reads standard input)
 *   npm run replay-parked -- --list [--topic <topic>]
 * A corrected payload never comes on the command line, where `ps` and the shell's history would
 * keep it: a correction of an intake is PHI.
 */
async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'payload-file': { type: 'string' }, payload: { type: 'string' }, list: { type: 'boolean' }, topic: { type: 'string' } },
  });
  if (values.payload !== undefined) {
    throw new Error(
      '--payload is not accepted: the command line is visible to `ps` and kept in shell history. ' +
        'Put the corrected payload in a file readable only by you and pass --payload-file <file>, or pipe it with --payload-file -',
    );
  }
  const config = loadConfig();
  const db = createPool(config);
  // The ring decrypts a parked record with personal data; a replay of any other record needs none.
  const ring = existsSync(config.PAYLOAD_KEY_RING_FILE) ? readKeyRing(config.PAYLOAD_KEY_RING_FILE) : undefined;
  const parkedEvents = createParkedEvents(db, { ring });
  try {
    if (values.list || positionals.length === 0) {
      console.table(
        (await parkedEvents.list({ topic: values.topic })).map(({ id, topic, partition, offset, correlationId, reason, parkedAt, ...event }) => ({
          id,
          topic,
          partition,
          offset,
          correlationId,
          reason,
          payload: payloadColumn(event),
          parkedAt,
        })),
      );
      return;
    }
    const file = values['payload-file'];
    const corrected = file === undefined ? undefined : readFileSync(file === '-' ? 0 : file);
    const producer = createProducer(createKafka(config, 'replay-parked'));
    await producer.connect();
    try {
      const event = await parkedEvents.replay(producer, Number(positionals[0]), corrected);
      console.log(`Replayed parked event ${event.id} to ${event.topic}${corrected ? ' with a corrected payload' : ''}`);
    } finally {
      await producer.disconnect();
    }
  } finally {
    await db.end();
  }
}

/** What the list shows of the payload: a preview, or nothing of one with personal data. */
function payloadColumn({ record, personal }: Pick<ParkedEvent, 'record' | 'personal'>): string | null {
  const expires = personal && `expires ${personal.expiresAt.toISOString().slice(0, 10)}`;
  if (!record) return personal ? `(not stored: personal data; ${expires})` : '(not stored)';
  if (!personal) return preview(record.value);
  // Intakes parked before migration 011 are personal data stored in clear: still no preview.
  return personal.keyId ? `(encrypted: personal data; ${expires})` : `(personal data, parked before encryption; ${expires})`;
}

/** Enough of the payload to recognise the record in a table row, on one line, binary or not. */
function preview(payload: Buffer | null, width = 60): string | null {
  const line = payload && readable(payload).replace(/\s+/g, ' ');
  return line && line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
