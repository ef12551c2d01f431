import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { createKafka, createPool, createProducer } from '../connections';
import { createParkedEvents } from './parked-events';
import { readable } from './utf8';

/**
 * Operator command: publish a parked record again to its topic, unchanged or corrected.
 *   npm run replay-parked -- <id> [--payload '<json>']
 *   npm run replay-parked -- --list [--topic <topic>]
 */
async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { payload: { type: 'string' }, list: { type: 'boolean' }, topic: { type: 'string' } },
  });
  const config = loadConfig();
  const db = createPool(config);
  const parkedEvents = createParkedEvents(db);
  try {
    if (values.list || positionals.length === 0) {
      console.table(
        (await parkedEvents.list({ topic: values.topic })).map(({ id, topic, partition, offset, correlationId, reason, record, parkedAt }) => ({
          id,
          topic,
          partition,
          offset,
          correlationId,
          reason,
          payload: record ? preview(record.value) : '(not stored)',
          parkedAt,
        })),
      );
      return;
    }
    const producer = createProducer(createKafka(config, 'replay-parked'));
    await producer.connect();
    try {
      const event = await parkedEvents.replay(producer, Number(positionals[0]), values.payload);
      console.log(`Replayed parked event ${event.id} to ${event.topic}${values.payload ? ' with a corrected payload' : ''}`);
    } finally {
      await producer.disconnect();
    }
  } finally {
    await db.end();
  }
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
