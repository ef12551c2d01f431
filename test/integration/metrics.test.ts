import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import type { Admin, Consumer } from 'kafkajs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { runBridge } from '../../src/bridges/kafka-bridge';
import { BridgeMetrics } from '../../src/bridges/metrics';
import { bookingRequestedSignal, bookingWorkflowId } from '../../src/contracts/booking';
import { bookingWorkflow } from '../../src/workflows/booking';
import { startOpsServer } from '../../src/ops-server';
import { pipelines } from '../../src/pipelines';
import { countingRunsNeedingAttention } from '../../src/workers/runs-needing-attention';
import { bookingRequested } from '../support/booking-events';
import { sample } from '../support/prometheus-text';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * The bridge's /metrics on real Kafka and Temporal, wired as src/bridges/main.ts wires it, while
 * events flow; and the count of runs needing attention, as the worker process keeps it.
 */
describe('metrics on the real stack', () => {
  let stack: RealStack;
  let server: Server;
  let consumer: Consumer;
  let lagAdmin: Admin;
  const metrics = new BridgeMetrics();
  let topics: { bookingEvents: string; cancellations: string };
  let group: string;
  let taskQueue: string;
  const workflowIds: string[] = [];
  // Deliveries wait for this, so the scrape sees records the bridge has fetched and not yet committed.
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const scrape = async () => (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();

  beforeAll(async () => {
    stack = await connectRealStack();
    const id = stack.runId;
    topics = { bookingEvents: `booking-events-metrics-${id}`, cancellations: `booking-cancellations-metrics-${id}` };
    group = `metrics-${id}`;
    taskQueue = `bookings-metrics-${id}`;
    await stack.createTopics(topics.bookingEvents, topics.cancellations);
    const routes = bookingRoutes({ taskQueue, topics }).map((r) => ({
      ...r,
      deliver: async (...args: Parameters<typeof r.deliver>) => {
        await gate;
        return r.deliver(...args);
      },
    }));
    lagAdmin = stack.kafka.admin();
    metrics.readLagWith(lagAdmin);
    consumer = await runBridge({
      kafka: stack.kafka,
      client: stack.client,
      parkedEvents: stack.parkedEvents,
      groupId: group,
      routes,
      maxInFlight: 8,
      metrics: metrics.forGroup(group),
    });
    server = await startOpsServer(0, [], '127.0.0.1', metrics.registry);
  });

  afterAll(async () => {
    openGate();
    server?.close();
    await consumer?.disconnect();
    await lagAdmin?.disconnect();
    await Promise.all(workflowIds.map((w) => stack.client.workflow.getHandle(w).terminate('test over').catch(() => undefined)));
    await stack?.stop();
  });

  it('counts records delivered and parked (by reason class) while they flow, and the lag returns to 0', async () => {
    const bookingIds = [1, 2, 3].map((n) => `booking_metrics_${stack.runId}_${n}`);
    workflowIds.push(...bookingIds.map(bookingWorkflowId));
    const labels = { group, topic: topics.bookingEvents };
    const before = await scrape();
    expect(sample(before, 'pipelines_bridge_records_delivered_total', labels)).toBe(0);
    expect(sample(before, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'not_json' })).toBe(0);

    for (const bookingId of bookingIds) await stack.publish(topics.bookingEvents, bookingId, bookingRequested(bookingId, 'user_1', 'room_1'));
    await stack.publish(topics.bookingEvents, 'bad', '{"bookingId":');

    // Fetched (the first at least), held at the gate, none committed: the lag counts all four.
    const lagOf = (text: string) =>
      ['0', '1', '2'].reduce((sum, partition) => sum + (sample(text, 'pipelines_bridge_consumer_lag_records', { ...labels, partition }) ?? NaN), 0);
    await eventually(scrape, (text) => (sample(text, 'pipelines_bridge_records_consumed_total', labels) ?? 0) >= 1 && lagOf(text) === 4, 30_000);

    openGate();
    const after = await eventually(
      scrape,
      (text) => sample(text, 'pipelines_bridge_records_delivered_total', labels) === 3 && lagOf(text) === 0,
      30_000,
    );
    expect(sample(after, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'not_json' })).toBe(1);
    expect(sample(after, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'schema_violation' })).toBe(0);
    expect(sample(after, 'pipelines_bridge_records_duplicate_total', labels)).toBe(0);
    expect(sample(after, 'pipelines_bridge_temporal_call_duration_seconds_count', { ...labels, result: 'ok' })).toBe(3);
    expect(sample(after, 'pipelines_bridge_held_batches', labels)).toBe(0);
    expect(sample(after, 'pipelines_bridge_parking_breaker_open', { group })).toBe(0);
  }, 90_000);

  it("counts a run that parks for a person by its pipeline, step and kind, from the search attributes it upserts", async () => {
    const registry = new Registry();
    const stop = countingRunsNeedingAttention(registry, stack.client, pipelines, 500);
    try {
      const refusalLabels = { pipeline: 'booking', step: 'recordBooking', kind: 'Refusal', run: 'open' };
      const count = async () => sample(await registry.metrics(), 'pipelines_runs_needing_attention', refusalLabels) ?? 0;
      const counted = async () => Number(/^pipelines_runs_needing_attention_counted_timestamp_seconds (\S+)$/m.exec(await registry.metrics())?.[1] ?? 0);
      await eventually(counted, (t) => t > 0, 10_000);
      const before = await count();

      // A booking whose first step is refused for good parks, waiting for an operator's decision.
      const attentionQueue = `bookings-attention-${stack.runId}`;
      await stack.startWorker(attentionQueue, {
        recordBooking: async () => {
          throw ApplicationFailure.nonRetryable('room_1 is not bookable (test refusal)', 'BookingRefused');
        },
      });
      const bookingId = `booking_attention_${stack.runId}`;
      const event = { ...bookingRequested(bookingId, 'user_1', 'room_1'), trace: { correlationId: `corr-${bookingId}` } };
      workflowIds.push(bookingWorkflowId(bookingId));
      await stack.client.workflow.signalWithStart(bookingWorkflow, {
        workflowId: bookingWorkflowId(bookingId),
        taskQueue: attentionQueue,
        args: [event],
        signal: bookingRequestedSignal,
        signalArgs: [event],
      });
      await eventually(count, (n) => n === before + 1, 30_000);
    } finally {
      stop();
    }
  }, 60_000);
});
