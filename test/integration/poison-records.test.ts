import type { Consumer, KafkaMessage, Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import type { ParkedEvent } from '../../src/bridges/parked-events';
import { correlationIdFor } from '../../src/trace-node';
import { bookingWorkflowId } from '../../src/contracts/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * Records PostgreSQL's text types or a UTF-8 decoder cannot take as they are: each is parked with
 * its exact bytes, the partition moves on, and a replay publishes those bytes again.
 */
describe('poison records on the real stack', () => {
  let stack: RealStack;
  let taskQueue: string;
  let user: string;
  let room: string;
  const started: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    user = `user_poison_${stack.runId}`;
    room = `room_poison_${stack.runId}`;
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [user]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);
    taskQueue = `bookings-poison-${stack.runId}`;
    await stack.startWorker(taskQueue);
  });

  afterAll(async () => {
    await Promise.all(
      started.map((b) => stack.client.workflow.getHandle(bookingWorkflowId(b)).terminate('test finished').catch(() => undefined)),
    );
    await stack?.stop();
  });

  const newBookingId = () => {
    const bookingId = `booking_poison_${stack.runId}_${started.length}`;
    started.push(bookingId);
    return bookingId;
  };
  const bookingJson = (bookingId: string, extra: object = {}) =>
    JSON.stringify({ ...bookingRequested(bookingId, user, room), ...extra });

  const bookingStatus = async (bookingId: string): Promise<string | undefined> =>
    (await stack.db.query('SELECT status FROM bookings WHERE booking_id = $1', [bookingId])).rows[0]?.status;

  /** The record at `offset` and after, as a consumer group of its own reads it. */
  async function readBack(topic: string, partition: number, after: string): Promise<KafkaMessage> {
    const consumer = stack.kafka.consumer({ groupId: `poison-readback-${stack.runId}-${topic}` });
    const seen: KafkaMessage[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition: p, message }) => {
          if (p === partition && BigInt(message.offset) > BigInt(after)) seen.push(message);
        },
      });
      return (await eventually(async () => seen, (s) => s.length > 0))[0]!;
    } finally {
      await consumer.disconnect();
    }
  }

  /**
   * Publishes `poison` and then a valid booking on the same partition, to a
   * topic and bridge of their own so a stuck partition fails only this test. Returns the parked
   * row once the booking after it was made and the group's committed offset has passed both.
   */
  async function parkedAfterPoison(poison: Message & { key: Buffer }): Promise<ParkedEvent> {
    const topic = `booking-events-poison-${stack.runId}-${started.length}`;
    await stack.createTopics(topic, `${topic}-cancellations`);
    const consumer = await stack.startBridge(
      bookingRoutes({ taskQueue, topics: { bookingEvents: topic, cancellations: `${topic}-cancellations` } }),
    );
    const [sent] = await stack.producer.send({ topic, messages: [poison] });
    const next = newBookingId();
    // Under its own key (the bridge parks a key that contradicts the event), on the poison's partition.
    const [after] = await stack.producer.send({ topic, messages: [{ key: next, value: bookingJson(next), partition: sent!.partition }] });
    expect(after!.partition).toBe(sent!.partition);

    await eventually(() => bookingStatus(next), (s) => s === 'Accepted');
    await eventually(
      () => stack.committedOffset(consumer, topic, sent!.partition),
      (offset) => offset > Number(after!.baseOffset),
    );
    const [parked] = (await stack.parkedEvents.list({ topic })).filter(
      (p) => p.partition === sent!.partition && p.offset === sent!.baseOffset,
    );
    expect(parked?.record).toEqual({ key: poison.key, value: poison.value, headers: poison.headers ?? {} });

    // An unchanged replay publishes the very same bytes again.
    await stack.parkedEvents.replay(stack.producer, parked!.id);
    const replayed = await readBack(topic, sent!.partition, after!.baseOffset!);
    expect({ key: replayed.key, value: replayed.value, headers: replayed.headers }).toEqual(parked!.record);
    return parked!;
  }

  it('a Confluent-framed Avro value (magic byte 0, schema ID, binary body) is parked byte-exact and its partition moves on', async () => {
    const bookingId = newBookingId();
    const avroBody = Buffer.concat([Buffer.from([bookingId.length * 2]), Buffer.from(bookingId), Buffer.from([0x04, 0x00, 0xff])]);
    const value = Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x00, 0x2a]), avroBody]);
    const parked = await parkedAfterPoison({ key: Buffer.from(bookingId), value });
    expect(parked.reason).toMatch(/^(unparseable JSON|value is not valid UTF-8)/);
    expect(parked.reason).not.toMatch(/\p{Cc}/u);
  });

  it('a key with a NUL byte is parked byte-exact and its partition moves on', async () => {
    const bookingId = newBookingId();
    const parked = await parkedAfterPoison({ key: Buffer.from(`${bookingId}\u0000tenant`), value: Buffer.from('{"bookingId": ') });
    expect(parked.reason).toMatch(/^unparseable JSON/);
  });

  it('a header value with a NUL byte, even in the correlation ID, is parked byte-exact and its partition moves on', async () => {
    const bookingId = newBookingId();
    const parked = await parkedAfterPoison({
      key: Buffer.from(bookingId),
      value: Buffer.from(bookingJson(bookingId, { guests: 0 })),
      headers: {
        'correlation-id': Buffer.from(`corr\u0000${bookingId}`),
        'schema-fingerprint': Buffer.from([0x00, 0x9f, 0xff, 0x00]),
        hop: [Buffer.from('edge'), Buffer.from('gateway')],
      },
    });
    expect(parked.reason).toBe('schema violation: guests: Too small: expected number to be >0');
    // Not a safe token: it is kept as its hash (src/trace-node.ts), which PostgreSQL text can hold.
    expect(parked.correlationId).toBe(correlationIdFor(`corr\u0000${bookingId}`));
  });

  it('a Latin-1 value is parked as invalid UTF-8 instead of booked with mangled characters', async () => {
    const bookingId = newBookingId();
    const value = Buffer.from(bookingJson(bookingId, { paymentId: 'PAGO-ÑUÑEZ' }), 'latin1');
    const parked = await parkedAfterPoison({ key: Buffer.from(bookingId), value });
    expect(parked.reason).toBe(`value is not valid UTF-8 at byte ${value.indexOf(0xd1)}`);
    expect(await bookingStatus(bookingId)).toBeUndefined();
  });
});
