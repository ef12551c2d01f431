/**
 * Benchmark (not a test): how fast the Kafka bridge turns booking events into workflow starts,
 * next to the same starts made by a plain client loop in the same run.
 *
 *   npm run bench                 # 5000 events (BENCH_EVENTS), light-load phase of 200 at 50/s
 *
 * Phases, each on its own topic, task queue and consumer group:
 * 1. plain client: N signal-with-start calls from a loop with the bridge's concurrency.
 * 2. sustained: N events are produced first, then the bridge drains them; records/s from the first
 *    record consumed to the last start acknowledged, and consumed→acknowledged latency. Every
 *    record is a distinct booking (none is sent twice), so records/s is also bookings/s.
 * 3. light load: events produced at a steady low rate; consumed→acknowledged and
 *    produced→acknowledged (end to end) latency.
 * No worker runs on the benchmark task queues: this measures bridging, not workflow execution.
 * scripts/bench.sh runs it on the benchmark's isolated stack (`BENCH_ONLY=bridge`, or as the last
 * phase of the end-to-end run, which reads its figures from BENCH_BRIDGE_JSON), so the thousands
 * of workflows it starts vanish with that stack.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import { bookingRoutes } from '../src/bridges/booking-routes';
import type { Outcome } from '../src/bridges/delivery';
import { runBridge } from '../src/bridges/kafka-bridge';
import { createParkedEvents } from '../src/bridges/parked-events';
import { pipelineStartOptions } from '../src/trace';
import { loadConfig } from '../src/config';
import { createKafka, createPool, createProducer, createTemporalClient } from '../src/connections';
import { bookingRequestedSignal, bookingWorkflowId } from '../src/contracts/booking';
import { bookingWorkflow } from '../src/workflows/booking';

const N = Number(process.env.BENCH_EVENTS ?? 5000);
const LIGHT_EVENTS = Number(process.env.BENCH_LIGHT_EVENTS ?? 200);
const LIGHT_RATE = Number(process.env.BENCH_LIGHT_RATE ?? 50);

const config = loadConfig();
const run = randomUUID().slice(0, 8);

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

function bookingEvent(bookingId: string) {
  return {
    bookingId,
    userId: 'user_123',
    roomId: 'room_ocean_001',
    guests: 2,
    startDate: '2031-01-15T15:00:00Z',
    endDate: '2031-01-18T11:00:00Z',
  };
}

async function main(): Promise<void> {
  const kafka = createKafka(config, `bench-${run}`);
  const producer = createProducer(kafka);
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  const db = createPool(config);
  const client = await createTemporalClient(config);
  const parkedEvents = createParkedEvents(db);
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

  /** Runs a bridge over a fresh topic; resolves once `expected` records have settled. */
  async function bridgePhase(name: string, expected: number, produce: (topic: string) => Promise<void>) {
    const topic = `bench-${name}-${run}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    const consumedToAck: number[] = [];
    const temporalCall: number[] = [];
    const producedToAck: number[] = [];
    let firstConsumed = Infinity;
    let lastAck = 0;
    let settled = 0;
    const outcomes: Record<Outcome, number> = { delivered: 0, duplicate: 0, parked: 0 };
    let allSettled!: () => void;
    const done = new Promise<void>((r) => (allSettled = r));

    await produce(topic);
    const consumer = await runBridge({
      kafka,
      client,
      parkedEvents,
      groupId: `bench-${name}-${run}`,
      // The same route the bridge runs, timed around the Temporal call alone, to separate the
      // bridge's own latency from the server's.
      routes: bookingRoutes({ taskQueue: `bench-${run}`, topics: { bookingEvents: topic, cancellations: `${topic}-unused` } })
        .slice(0, 1)
        .map((r) => ({
          ...r,
          deliver: async (c, event, trace) => {
            const t0 = performance.now();
            await r.deliver(c, event, trace);
            temporalCall.push(performance.now() - t0);
          },
        })),
      maxInFlight: config.BRIDGE_MAX_IN_FLIGHT,
      onSettled: (_topic, message, outcome, consumedAtMs) => {
        const now = Date.now();
        firstConsumed = Math.min(firstConsumed, consumedAtMs);
        lastAck = Math.max(lastAck, now);
        consumedToAck.push(now - consumedAtMs);
        producedToAck.push(now - Number(message.timestamp));
        outcomes[outcome]++;
        if (++settled === expected) allSettled();
      },
    });
    await done;
    await consumer.disconnect();
    return { seconds: (lastAck - firstConsumed) / 1000, consumedToAck, producedToAck, temporalCall, outcomes };
  }

  async function produceAll(topic: string, ids: string[]) {
    for (let i = 0; i < ids.length; i += 500) {
      await producer.send({
        topic,
        messages: ids.slice(i, i + 500).map((id) => ({ key: id, value: JSON.stringify(bookingEvent(id)) })),
      });
    }
  }

  console.log(`Bridge benchmark: ${N} events, light load ${LIGHT_EVENTS} at ${LIGHT_RATE}/s, maxInFlight ${config.BRIDGE_MAX_IN_FLIGHT}`);

  // 1. The same starts from a plain client loop with the same concurrency.
  const plainIds = Array.from({ length: N }, (_, i) => `bench_${run}_p${i}`);
  const plainStart = Date.now();
  await plainLoop(client, plainIds, config.BRIDGE_MAX_IN_FLIGHT);
  const plainSeconds = (Date.now() - plainStart) / 1000;

  await sleep(5000); // let the server finish the previous phase's background work

  // 2. Sustained: a backlog drained as fast as the bridge can.
  const sustainedIds = Array.from({ length: N }, (_, i) => `bench_${run}_s${i}`);
  const sustained = await bridgePhase('sustained', N, (topic) => produceAll(topic, sustainedIds));

  await sleep(5000);

  // 3. Light load: a steady trickle, latency per event.
  const lightIds = Array.from({ length: LIGHT_EVENTS }, (_, i) => `bench_${run}_l${i}`);
  const light = await bridgePhase('light', LIGHT_EVENTS, async (topic) => {
    void (async () => {
      for (const id of lightIds) {
        await producer.send({ topic, messages: [{ key: id, value: JSON.stringify(bookingEvent(id)) }] });
        await sleep(1000 / LIGHT_RATE);
      }
    })();
  });

  clearInterval(rssTimer);
  const bridgeRate = N / sustained.seconds;
  const plainRate = N / plainSeconds;
  const results = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    // Per record: the bridge's unit of work. Each is a distinct booking, none redelivered.
    records: N,
    sustainedRecordsPerSecond: Math.round(bridgeRate),
    // Under a backlog consumed→acknowledged is mostly queueing; the Temporal call is what each start costs.
    sustainedTemporalCallP50: ms(percentile(sustained.temporalCall, 50)),
    sustainedTemporalCallP99: ms(percentile(sustained.temporalCall, 99)),
    plainClientStartsPerSecond: Math.round(plainRate),
    bridgeOverhead: `${((plainRate / bridgeRate - 1) * 100).toFixed(1)}% (plain ${plainSeconds.toFixed(2)} s vs bridge ${sustained.seconds.toFixed(2)} s)`,
    lightLoadConsumedToAckP50: ms(percentile(light.consumedToAck, 50)),
    lightLoadConsumedToAckP99: ms(percentile(light.consumedToAck, 99)),
    lightLoadTemporalCallP50: ms(percentile(light.temporalCall, 50)),
    lightLoadTemporalCallP99: ms(percentile(light.temporalCall, 99)),
    lightLoadEndToEndP50: ms(percentile(light.producedToAck, 50)),
    lightLoadEndToEndP99: ms(percentile(light.producedToAck, 99)),
    lost: N + LIGHT_EVENTS - (sustained.outcomes.delivered + light.outcomes.delivered),
    peakRssMiB: Math.round(peakRss / 2 ** 20),
  };
  console.table(results);
  if (process.env.BENCH_BRIDGE_JSON) writeFileSync(process.env.BENCH_BRIDGE_JSON, JSON.stringify(results, null, 2));

  await producer.disconnect();
  await admin.disconnect();
  await db.end();
  await client.connection.close();
}

async function plainLoop(client: Client, ids: string[], concurrency: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const trace = { correlationId: id };
        await client.workflow.signalWithStart(bookingWorkflow, {
          workflowId: bookingWorkflowId(id),
          taskQueue: `bench-${run}`,
          args: [{ ...bookingEvent(id), trace }],
          signal: bookingRequestedSignal,
          signalArgs: [{ ...bookingEvent(id), trace }],
          ...pipelineStartOptions(trace, `booking ${id}`),
        });
      }
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
