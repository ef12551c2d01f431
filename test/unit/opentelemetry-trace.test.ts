import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { KafkaMessage, Producer, ProducerRecord } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AllocationActivities } from '../../src/activities/allocation';
import type { CacheActivities } from '../../src/activities/cache';
import { createEventActivities } from '../../src/activities/events';
import type { PurchaseActivities } from '../../src/activities/purchase';
import type { SessionActivities } from '../../src/activities/sessions';
import { inRecordSpan } from '../../src/bridges/record-span';
import { loadConfig } from '../../src/config';
import { purchaseWorkflowId } from '../../src/contracts/purchase';
import { installTracing, tracingClientInterceptor } from '../../src/opentelemetry';
import { traceClientInterceptors, withTrace } from '../../src/trace-node';
import { purchaseToSessionsWorkflow } from '../../src/workflows/purchase';
import { headersAsText } from '../support/kafka-headers';
import { createTimeSkippingEnv, testDataConverter, withWorker } from '../support/time-skipping';

/** A record's W3C trace context, as a producer upstream sends it. */
const upstream = () => {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, headers: { traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'vendor=upstream' } };
};

const record = (headers: Record<string, string>): KafkaMessage =>
  ({ offset: '7', key: null, value: null, timestamp: '0', attributes: 0, headers }) as KafkaMessage;

/** The span named `name` in `spans`, which must hold exactly one. */
function only(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  expect(found.map((s) => s.name), `spans named ${name}`).toEqual([name]);
  return found[0]!;
}

describe('OpenTelemetry: one record, one connected trace through the workflow and its activities', () => {
  const exporter = new InMemorySpanExporter();
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    installTracing(loadConfig(), new SimpleSpanProcessor(exporter));
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** As src/connections.ts builds the bridge's client. */
  const bridgeClient = () =>
    new Client({
      connection: env.connection,
      dataConverter: testDataConverter,
      interceptors: { workflow: [tracingClientInterceptor(), ...traceClientInterceptors.workflow] },
    });

  it("a purchase started in the bridge's span for a record: the record's traceparent is the root, every span and both emitted events continue it", async () => {
    const incoming = upstream();
    const client = bridgeClient();
    const sent: ProducerRecord[] = [];
    const producer = { send: async (r: ProducerRecord) => void sent.push(r) } as unknown as Producer;
    const activities: PurchaseActivities & CacheActivities & AllocationActivities & SessionActivities = {
      createPurchase: async (c) => ({ outcome: 'Created', purchaseId: `p-${c.paymentId}` }),
      deactivatePurchase: async () => undefined,
      invalidateStudentCaches: async () => 0,
      allocateTrainer: async (r) => ({ allocationId: `alloc-${r.purchaseId}`, trainerId: 'trainer_ada' }),
      sessionWindowOf: async () => ({ allocationActive: false, futureSessions: 0, lastScheduledDate: null }),
      scheduleSessions: async (_a, slots) => slots.length,
    };
    const paymentId = `pay_${randomUUID()}`;
    const trace = { correlationId: `corr-${paymentId}`, baggage: 'tenant=acme' };

    await withWorker(env, { ...activities, ...createEventActivities(producer) }, (taskQueue) =>
      inRecordSpan('purchase-confirmed', 0, record(incoming.headers), async () => {
        const handle = await withTrace(trace, () =>
          client.workflow.start(purchaseToSessionsWorkflow, {
            taskQueue,
            workflowId: purchaseWorkflowId(paymentId),
            args: [{ type: 'PURCHASE_CONFIRMED', paymentId, studentId: 'student_1', courseId: 'course_ts', confirmedAt: '2030-01-10T09:00:00Z', trace }],
          }),
        );
        await handle.result();
        return 'delivered';
      }),
    );

    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === incoming.traceId);
    const bridge = only(spans, 'process purchase-confirmed');
    const start = only(spans, 'StartWorkflow:purchaseToSessionsWorkflow');
    const run = only(spans, 'RunWorkflow:purchaseToSessionsWorkflow');
    expect(bridge.parentSpanId).toBe(incoming.spanId);
    expect(bridge.spanContext().traceState?.serialize()).toBe('vendor=upstream');
    expect(start.parentSpanId).toBe(bridge.spanContext().spanId);
    expect(run.parentSpanId).toBe(start.spanContext().spanId);
    // Each activity: scheduled in the run, executed under its schedule.
    for (const activity of ['createPurchase', 'allocateTrainer', 'emitPurchaseCreated', 'emitTrainerAllocated']) {
      const scheduled = only(spans, `StartActivity:${activity}`);
      expect(scheduled.parentSpanId, activity).toBe(run.spanContext().spanId);
      expect(only(spans, `RunActivity:${activity}`).parentSpanId, activity).toBe(scheduled.spanContext().spanId);
    }
    // Each event carries the span of the activity that emitted it, and the correlation ID and baggage as before.
    const emitted = sent.flatMap((r) => r.messages.map((m) => [JSON.parse(String(m.value)).type, headersAsText(m.headers ?? {})]));
    const emittedBy = (activity: string) => ({
      'correlation-id': trace.correlationId,
      baggage: trace.baggage,
      traceparent: `00-${incoming.traceId}-${only(spans, `RunActivity:${activity}`).spanContext().spanId}-01`,
      tracestate: 'vendor=upstream',
    });
    expect(emitted).toEqual([
      ['PURCHASE_CREATED', emittedBy('emitPurchaseCreated')],
      ['TRAINER_ALLOCATED', emittedBy('emitTrainerAllocated')],
    ]);
  });
});
