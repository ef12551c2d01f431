import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { runBridge } from '../../src/bridges/kafka-bridge';
import type { StartPosition } from '../../src/bridges/start-position';
import { bookingWorkflowId } from '../../src/contracts/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * The cutover from a legacy worker: where a new consumer group begins (BRIDGE_START_FROM), on real
 * Kafka and Temporal, counting the runs the bridge starts.
 */
describe('where a new bridge group begins', () => {
  let stack: RealStack;
  const taskQueue = () => `bookings-${stack.runId}`;
  const user = () => `user_${stack.runId}`;
  const room = () => `room_${stack.runId}`;
  const started: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [user()]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room()]);
    await stack.startWorker(taskQueue());
  });

  afterAll(async () => {
    await Promise.all(
      started.map((id) => stack.client.workflow.getHandle(bookingWorkflowId(id)).terminate('test finished').catch(() => undefined)),
    );
    await stack.stop();
  });

  async function topicWith(name: string, bookingIds: string[]): Promise<string> {
    const topic = `booking-events-${name}-${stack.runId}`;
    await stack.createTopics(topic, `${topic}-cancellations`);
    for (const id of bookingIds) await stack.publish(topic, id, bookingRequested(id, user(), room()));
    return topic;
  }

  const bridge = (topic: string, groupId: string, startFrom: StartPosition): Promise<Consumer> =>
    runBridge({
      kafka: stack.kafka,
      client: stack.client,
      parkedEvents: stack.parkedEvents,
      groupId,
      routes: bookingRoutes({ taskQueue: taskQueue(), topics: { bookingEvents: topic, cancellations: `${topic}-cancellations` } }),
      maxInFlight: 8,
      startFrom,
    });

  const bookingsIn = async (ids: string[]) =>
    (await stack.db.query<{ booking_id: string }>('SELECT booking_id FROM bookings WHERE booking_id = ANY($1) ORDER BY booking_id', [ids])).rows.map(
      (r) => r.booking_id,
    );
  const runsOf = async (ids: string[]) => {
    const found = await Promise.all(
      ids.map((id) =>
        stack.client.workflow
          .getHandle(bookingWorkflowId(id))
          .describe()
          .then(() => id)
          .catch(() => undefined),
      ),
    );
    return found.filter(Boolean);
  };
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `booking_${prefix}_${stack.runId}_${String(i).padStart(3, '0')}`);

  it("'latest' starts no run for the 100 records already on the topic, takes the next one, and a restart resumes where it committed", async () => {
    const old = ids('old', 100);
    const topic = await topicWith('latest', old);
    const groupId = `cutover-latest-${stack.runId}`;

    let consumer = await bridge(topic, groupId, { from: 'latest' });
    const [next] = ids('next', 1);
    started.push(next!);
    await stack.publish(topic, next!, bookingRequested(next!, user(), room()));
    expect(await eventually(() => bookingsIn([next!]), (rows) => rows.length === 1)).toEqual([next]);
    expect(await runsOf(old)).toEqual([]);
    expect(await bookingsIn(old)).toEqual([]);
    await consumer.disconnect();

    // Written while no bridge ran: a restart, still configured `latest`, must not skip it.
    const [whileDown] = ids('while_down', 1);
    started.push(whileDown!);
    await stack.publish(topic, whileDown!, bookingRequested(whileDown!, user(), room()));
    consumer = await bridge(topic, groupId, { from: 'latest' });
    try {
      expect(await eventually(() => bookingsIn([whileDown!]), (rows) => rows.length === 1)).toEqual([whileDown]);
      expect(await runsOf(old)).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
  }, 120_000);

  it('a timestamp starts runs only for the records written at or after it', async () => {
    const before = ids('before', 5);
    const topic = await topicWith('timestamp', before);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const cutoverAt = new Date();
    const after = ids('after', 5);
    started.push(...after);
    for (const id of after) await stack.publish(topic, id, bookingRequested(id, user(), room()));

    const consumer = await bridge(topic, `cutover-timestamp-${stack.runId}`, { from: 'timestamp', at: cutoverAt });
    try {
      expect(await eventually(() => bookingsIn(after), (rows) => rows.length === after.length)).toEqual(after);
      expect(await runsOf(before)).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
  }, 120_000);

  it("group:<legacy group> starts runs only for what the stopped legacy group had not committed, and refuses while it still consumes", async () => {
    const topic = await topicWith('group', []);
    const records = ids('legacy', 30);
    const placed = new Map<string, { partition: number; offset: number }>();
    for (const id of records) {
      const [meta] = await stack.producer.send({ topic, messages: [{ key: id, value: JSON.stringify(bookingRequested(id, user(), room())) }] });
      placed.set(id, { partition: meta!.partition, offset: Number(meta!.baseOffset) });
    }
    // The legacy worker handled the first 20 and committed past them, as a Kafka consumer does.
    const legacyGroup = `legacy-booking-worker-${stack.runId}`;
    const committed = new Map<number, number>();
    for (const id of records.slice(0, 20)) {
      const { partition, offset } = placed.get(id)!;
      committed.set(partition, Math.max(committed.get(partition) ?? 0, offset + 1));
    }
    const admin = stack.kafka.admin();
    await admin.connect();
    const legacy = stack.kafka.consumer({ groupId: legacyGroup });
    try {
      await admin.setOffsets({ groupId: legacyGroup, topic, partitions: [...committed].map(([partition, offset]) => ({ partition, offset: String(offset) })) });

      // While a legacy worker still consumes, the bridge refuses to start from its offsets.
      await legacy.connect();
      // A member of the group, on a topic with nothing to take, so its offsets on `topic` stay as committed.
      await legacy.subscribe({ topic: `${topic}-cancellations` });
      await legacy.run({ eachMessage: async () => undefined });
      await eventually(async () => (await admin.describeGroups([legacyGroup])).groups[0]?.members.length ?? 0, (members) => members > 0, 30_000);
      await expect(bridge(topic, `cutover-group-refused-${stack.runId}`, { from: 'group', groupIds: [`legacy-purchase-worker-${stack.runId}`, legacyGroup] })).rejects.toThrow(
        /still has 1 member\(s\) consuming; stop the legacy workers first/,
      );
    } finally {
      await admin.disconnect();
    }
    await legacy.disconnect();

    const rest = records.slice(20);
    started.push(...rest);
    const consumer = await bridge(topic, `cutover-group-${stack.runId}`, { from: 'group', groupIds: [`legacy-purchase-worker-${stack.runId}`, legacyGroup] });
    try {
      expect(await eventually(() => bookingsIn(rest), (rows) => rows.length === rest.length)).toEqual(rest);
      expect(await runsOf(records.slice(0, 20))).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
  }, 120_000);

  it("'earliest' starts a run for every record already on the topic", async () => {
    const old = ids('earliest', 10);
    started.push(...old);
    const topic = await topicWith('earliest', old);
    const consumer = await bridge(topic, `cutover-earliest-${stack.runId}`, { from: 'earliest' });
    try {
      expect(await eventually(() => bookingsIn(old), (rows) => rows.length === old.length)).toEqual(old);
    } finally {
      await consumer.disconnect();
    }
  }, 120_000);
});
