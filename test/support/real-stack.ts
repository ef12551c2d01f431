import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { dataConverterFor } from '../../src/codec/data-converter';
import { loadConfig } from '../../src/config';
import { temporalConnectionOptions } from '../../src/connection-options';
import { createKafka, createPool, createProducer, createRedis, createTemporalClient } from '../../src/connections';
import { runBridge } from '../../src/bridges/kafka-bridge';
import type { Route } from '../../src/bridges/route';
import { readKeyRing } from '../../src/codec/key-ring';
import { createParkedEvents, type ParkedEvents } from '../../src/bridges/parked-events';
import { migrate } from '../../src/migrate';
import { pipelines } from '../../src/pipelines';
import { installTemporalRuntime } from '../../src/workers/runtime';
import { workflowCodeOf } from '../../src/workers/workflows-path';
import { allWorkflowsPath } from './all-workflows';
import { createOwnerPool } from './owner-db';

/**
 * The real local stack (started by scripts/stack.sh) seen from a test: each test file gets its own
 * task queue, topics and consumer group, so runs never see each other's state.
 */
export interface RealStack {
  config: ReturnType<typeof loadConfig>;
  kafka: Kafka;
  producer: Producer;
  db: Pool;
  client: Client;
  parkedEvents: ParkedEvents;
  /** A unique suffix for this file's names. */
  runId: string;
  createTopics(...topics: string[]): Promise<void>;
  /** Publishes one record; objects are sent as JSON, strings as they are (to send malformed input). */
  publish(topic: string, key: string, value: object | string, headers?: Record<string, string>): Promise<void>;
  /** Runs a worker with `activities` (every pipeline's real ones by default) on `taskQueue` until `stop()`. */
  startWorker(taskQueue: string, activities?: object): Promise<void>;
  startBridge(routes: Route[]): Promise<Consumer>;
  /** The offset `consumer`'s group has committed on `topic`'s `partition` (-1 before any commit). */
  committedOffset(consumer: Consumer, topic: string, partition: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * `dataConverter`: the stack's own key ring (what its workers and codec server use) unless a test
 * brings another, e.g. to rotate keys under a running workflow.
 */
export async function connectRealStack(options: { dataConverter?: DataConverter } = {}): Promise<RealStack> {
  installTemporalRuntime();
  const config = loadConfig();
  const dataConverter = options.dataConverter ?? dataConverterFor(config);
  const runId = randomUUID().slice(0, 8);
  const kafka = createKafka(config, `test-${runId}`);
  const producer = createProducer(kafka);
  await producer.connect();
  // Here rather than in a global setup, so the tests that need no database run with the stack down.
  const ownerDb = createOwnerPool(config, 1);
  await migrate(ownerDb).finally(() => ownerDb.end());
  // As the processes connect: the application role.
  const db = createPool(config);
  const client = await createTemporalClient(config, dataConverter);
  const parkedEvents = createParkedEvents(db, { ring: readKeyRing(config.PAYLOAD_KEY_RING_FILE) });
  const workerConnection = await NativeConnection.connect(temporalConnectionOptions(config));
  const running: Array<{ worker: Worker; done: Promise<void> }> = [];
  const consumers: Consumer[] = [];
  // Connects on its first command: most tests never use it.
  const redis = createRedis(config);
  const everyPipelinesActivities = () => Object.assign({}, ...pipelines.map((p) => p.createActivities({ config, db, producer, redis })));

  return {
    config,
    kafka,
    producer,
    db,
    client,
    parkedEvents,
    runId,
    async createTopics(...topics) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
    },
    async publish(topic, key, value, headers = {}) {
      await producer.send({
        topic,
        messages: [{ key, value: typeof value === 'string' ? value : JSON.stringify(value), headers }],
      });
    },
    async startWorker(taskQueue, activities = everyPipelinesActivities()) {
      const worker = await Worker.create({
        connection: workerConnection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue,
        ...workflowCodeOf(allWorkflowsPath()),
        activities,
        dataConverter,
      });
      running.push({ worker, done: worker.run() });
    },
    async startBridge(routes) {
      const consumer = await runBridge({
        kafka,
        client,
        parkedEvents,
        groupId: `test-bridge-${runId}-${consumers.length}`,
        routes,
        maxInFlight: 16,
      });
      consumers.push(consumer);
      return consumer;
    },
    async committedOffset(consumer, topic, partition) {
      const { groupId } = await consumer.describeGroup();
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return Number(offsets!.partitions.find((p) => p.partition === partition)!.offset);
      } finally {
        await admin.disconnect();
      }
    },
    async stop() {
      await Promise.all(consumers.map((c) => c.disconnect()));
      for (const { worker } of running) worker.shutdown();
      await Promise.all(running.map((r) => r.done));
      await producer.disconnect();
      redis.disconnect();
      await workerConnection.close();
      await client.connection.close();
      await db.end();
    },
  };
}

/** Polls `probe` until it returns a value `accept`s, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await probe();
    if (accept(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  } while (Date.now() < deadline);
  throw new Error(`Condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
}

/**
 * Removes a closed run from Temporal as the namespace's retention does a day after it closed (a
 * terminated run is still there, and its ID still refuses a start): deleted, and waited for until
 * describe no longer finds it. The event that started it may still be redelivered from Kafka.
 */
export async function deleteAsRetentionWould(client: Client, workflowId: string): Promise<void> {
  await client.workflowService.deleteWorkflowExecution({ namespace: client.options.namespace, workflowExecution: { workflowId } });
  await eventually(
    () => client.workflow.getHandle(workflowId).describe().then(
      () => 'still there',
      (err) => (err instanceof WorkflowNotFoundError ? 'gone' : Promise.reject(err)),
    ),
    (found) => found === 'gone',
    // The dev server removes a run about 30 s after it closed, however early it was asked to.
    90_000,
  );
}
