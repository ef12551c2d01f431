import { randomBytes } from 'node:crypto';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { loadConfig } from '../../src/config';
import { bookingWorkflowId } from '../../src/contracts/booking';
import { installTracing } from '../../src/opentelemetry';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * Kafka → bridge → Temporal → worker, all real, with every process's tracing as its entry point
 * installs it (src/opentelemetry.ts) but an in-memory exporter in place of OTLP.
 */
describe('OpenTelemetry traces on the real stack', () => {
  const exporter = new InMemorySpanExporter();
  let stack: RealStack;
  let topics: { bookingEvents: string; cancellations: string };

  beforeAll(async () => {
    // Before the client and the worker are built: the worker takes the workflow spans' sink then.
    installTracing(loadConfig(), new SimpleSpanProcessor(exporter));
    stack = await connectRealStack();
    topics = { bookingEvents: `booking-events-${stack.runId}`, cancellations: `booking-cancellations-${stack.runId}` };
    await stack.createTopics(topics.bookingEvents, topics.cancellations);
    const taskQueue = `bookings-traced-${stack.runId}`;
    await stack.startWorker(taskQueue);
    await stack.startBridge(bookingRoutes({ taskQueue, topics }));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("one booking record yields one trace: the record's traceparent parents the bridge's span, the run's spans and its step's", async () => {
    const traceId = randomBytes(16).toString('hex');
    const upstreamSpan = randomBytes(8).toString('hex');
    const bookingId = `booking_traced_${stack.runId}`;
    // An unknown user: the booking is rejected in its one step and the run ends, so its span does too.
    await stack.publish(topics.bookingEvents, bookingId, bookingRequested(bookingId, `user_unknown_${stack.runId}`, 'room_none'), {
      'correlation-id': `corr-${bookingId}`,
      traceparent: `00-${traceId}-${upstreamSpan}-01`,
      tracestate: 'vendor=upstream',
    });
    const handle = stack.client.workflow.getHandle(bookingWorkflowId(bookingId));
    await eventually(() => handle.describe().then((d) => d.status.name, () => 'not yet'), (status) => status === 'COMPLETED');

    const names = ['process', 'SignalWithStartWorkflow', 'RunWorkflow', 'HandleSignal', 'StartActivity', 'RunActivity'] as const;
    type Name = (typeof names)[number];
    // The run's spans leave the worker through its sink after the workflow task that ended them.
    const spans = await eventually(
      async () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId),
      (found) => names.every((n) => found.some((s) => s.name.startsWith(n))),
      30_000,
    );
    const one = (name: Name): ReadableSpan => {
      const found = spans.filter((s) => s.name.startsWith(name));
      expect(found.map((s) => s.name), name).toHaveLength(1);
      return found[0]!;
    };
    const id = (name: Name) => one(name).spanContext().spanId;

    expect(spans.map((s) => s.name).sort()).toEqual([
      'HandleSignal:bookingRequested',
      'RunActivity:recordBooking',
      'RunWorkflow:bookingWorkflow',
      'SignalWithStartWorkflow:bookingWorkflow',
      'StartActivity:recordBooking',
      `process ${topics.bookingEvents}`,
    ]);
    expect(one('process').parentSpanId).toBe(upstreamSpan);
    expect(one('process').attributes).toMatchObject({ 'messaging.destination.name': topics.bookingEvents, 'pipeline.outcome': 'delivered' });
    expect(one('SignalWithStartWorkflow').parentSpanId).toBe(id('process'));
    expect(one('RunWorkflow').parentSpanId).toBe(id('SignalWithStartWorkflow'));
    expect(one('HandleSignal').parentSpanId).toBe(id('SignalWithStartWorkflow'));
    expect(one('StartActivity').parentSpanId).toBe(id('RunWorkflow'));
    expect(one('RunActivity').parentSpanId).toBe(id('StartActivity'));
    // The vendor's tracestate travels with the trace, as W3C asks.
    for (const span of spans) expect({ span: span.name, state: span.spanContext().traceState?.serialize() }).toEqual({ span: span.name, state: 'vendor=upstream' });
    // Each process names itself: here one test process plays the bridge and the worker.
    expect(new Set(spans.map((s) => s.resource.attributes['service.name']))).toEqual(new Set([loadConfig().SERVICE_NAME]));
  });
});
