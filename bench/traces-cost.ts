/**
 * Not a test: what Temporal's OpenTelemetry interceptors cost, with and without an exporter. One
 * process runs the booking bridge and the booking worker on an isolated stack (scripts/isolated-stack.sh,
 * `bash scripts/stack.sh up`), TRACES_COST_BOOKINGS (500) booking records are published, and it
 * prints the process's CPU time (every thread: the workflow sandboxes and Temporal's core included)
 * from the first record to the last booking row, per booking.
 *
 *   npx tsx bench/traces-cost.ts without        # no OpenTelemetry at all, as before the traces branch
 *   npx tsx bench/traces-cost.ts unconfigured   # as shipped with no OTLP endpoint: client and activity interceptors, untraced bundle
 *   npx tsx bench/traces-cost.ts exporting      # spans recorded (batched to an in-memory exporter): the traced bundle too
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createBookingActivities } from '../src/activities/booking';
import { databaseErrorFailures } from '../src/activities/invalid-data';
import { bookingRoutes } from '../src/bridges/booking-routes';
import { runBridge } from '../src/bridges/kafka-bridge';
import { createParkedEvents } from '../src/bridges/parked-events';
import { dataConverterFor } from '../src/codec/data-converter';
import { readKeyRing } from '../src/codec/key-ring';
import { loadConfig } from '../src/config';
import { createKafka, createPool, createProducer, createTemporalClient } from '../src/connections';
import { installTracing } from '../src/opentelemetry';
import { bookingPipeline } from '../src/pipelines/booking';
import { traceActivityInterceptor, traceClientInterceptors } from '../src/trace-node';
import { installTemporalRuntime } from '../src/workers/runtime';
import { workflowCodeOf } from '../src/workers/workflows-path';

const mode = process.argv[2];
if (mode !== 'without' && mode !== 'unconfigured' && mode !== 'exporting') throw new Error('usage: npx tsx bench/traces-cost.ts without|unconfigured|exporting');
const bookings = Number(process.env.TRACES_COST_BOOKINGS ?? 500);

async function main(): Promise<void> {
  installTemporalRuntime();
  const config = loadConfig();
  if (mode === 'unconfigured') installTracing({ ...config, OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined });
  if (mode === 'exporting') installTracing(config, new BatchSpanProcessor(new InMemorySpanExporter()));
  const dataConverter = dataConverterFor(config);
  const id = randomUUID().slice(0, 8);
  const taskQueue = `traces-cost-${id}`;
  const topics = { bookingEvents: `traces-cost-bookings-${id}`, cancellations: `traces-cost-cancellations-${id}` };
  const kafka = createKafka(config, `traces-cost-${id}`);
  const db = createPool(config);
  const producer = createProducer(kafka);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
  await admin.disconnect();
  const user = `user_cost_${id}`;
  const room = `room_cost_${id}`;
  await db.query('INSERT INTO users (user_ref, email, username) VALUES ($1, $2, $3)', [user, `${user}@example.com`, user]);
  await db.query(`INSERT INTO rooms (internal_id, name) VALUES ($1, 'Cost')`, [room]);

  const client =
    mode !== 'without'
      ? await createTemporalClient(config, dataConverter)
      : new Client({ connection: Connection.lazy({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE, interceptors: traceClientInterceptors, dataConverter });
  const workflowCode =
    mode !== 'without'
      ? workflowCodeOf(bookingPipeline.workflowsPath)
      : {
          workflowsPath: bookingPipeline.workflowsPath,
          interceptors: {
            workflowModules: [path.join(__dirname, '..', 'src', 'workflows', 'trace-context.ts')],
            activity: [traceActivityInterceptor, databaseErrorFailures],
          },
        };
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }),
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    ...workflowCode,
    activities: createBookingActivities(db),
    dataConverter,
    maxCachedWorkflows: 1000,
  });
  const running = worker.run();
  const bridge = await runBridge({
    kafka,
    client,
    parkedEvents: createParkedEvents(db, { ring: readKeyRing(config.PAYLOAD_KEY_RING_FILE) }),
    groupId: `traces-cost-${id}`,
    routes: bookingRoutes({ taskQueue, topics }),
    maxInFlight: config.BRIDGE_MAX_IN_FLIGHT,
  });

  const ids = Array.from({ length: bookings }, (_, i) => `booking_cost_${id}_${i}`);
  const cpu = process.cpuUsage();
  const started = Date.now();
  await producer.send({
    topic: topics.bookingEvents,
    messages: ids.map((bookingId) => ({
      key: bookingId,
      value: JSON.stringify({ bookingId, userId: user, roomId: room, guests: 2, startDate: '2031-01-15T15:00:00Z', endDate: '2031-01-18T11:00:00Z' }),
      headers: { traceparent: `00-${randomUUID().replaceAll('-', '')}-b7ad6b7169203331-01` },
    })),
  });
  for (;;) {
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM bookings WHERE booking_id LIKE $1', [`booking_cost_${id}_%`]);
    if (Number(rows[0]!.n) >= bookings) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const used = process.cpuUsage(cpu);
  const elapsedMs = Date.now() - started;
  const cpuMs = (used.user + used.system) / 1000;
  console.log(JSON.stringify({ mode, bookings, cpuMs: Math.round(cpuMs), cpuMsPerBooking: +(cpuMs / bookings).toFixed(2), elapsedMs }));

  await bridge.disconnect();
  // Leaves nothing behind: the runs wait for their stays to end.
  await Promise.all(ids.map((b) => client.workflow.getHandle(`booking-${b}`).terminate('traces-cost done').catch(() => undefined)));
  worker.shutdown();
  await running;
  await producer.disconnect();
  await db.end();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
