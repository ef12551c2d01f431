import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime } from '@temporalio/worker';
import type { KafkaMessage, Producer, ProducerRecord } from 'kafkajs';
import type { Pool } from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAllocationActivities, type AllocationActivities } from '../../src/activities/allocation';
import type { BookingActivities } from '../../src/activities/booking';
import type { CacheActivities } from '../../src/activities/cache';
import { createEventActivities } from '../../src/activities/events';
import type { PurchaseActivities } from '../../src/activities/purchase';
import type { SessionActivities } from '../../src/activities/sessions';
import { bookingRequestedSignal, cancellationRequestedSignal } from '../../src/contracts/booking';
import {
  allocationEndedSignal,
  allocationRefusedErrorType,
  purchaseWorkflowId,
  sessionWindowStateQuery,
  sessionWindowWorkflowId,
} from '../../src/contracts/purchase';
import { loadConfig } from '../../src/config';
import { activityLogger, loggerFor } from '../../src/logger';
import { installTracing } from '../../src/opentelemetry';
import { traceFromMessage, traceHeaders, type TraceContext } from '../../src/trace';
import { currentTrace, traceActivityInterceptor, traceClientInterceptors, withTrace } from '../../src/trace-node';
import { installTemporalRuntime } from '../../src/workers/runtime';
import { bookingWorkflow } from '../../src/workflows/booking';
import { purchaseToSessionsWorkflow, sessionWindowWorkflow } from '../../src/workflows/purchase';
import { createTimeSkippingEnv, testDataConverter, withWorker } from '../support/time-skipping';

// As every process installs it with no OTLP endpoint: no span is recorded, and a record's traceparent is passed on as it came.
installTracing({ ...loadConfig(), OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined });

const message = (headers: KafkaMessage['headers']): KafkaMessage =>
  ({ offset: '42', key: null, value: null, timestamp: '0', attributes: 0, headers }) as KafkaMessage;

/** Session activities that record the trace each check ran under; the window stays full, or has ended. */
function sessionsSeeingTraces({ allocationActive }: { allocationActive: boolean }) {
  const traces: Array<TraceContext | undefined> = [];
  const activities: SessionActivities = {
    async sessionWindowOf() {
      traces.push(currentTrace());
      return { allocationActive, futureSessions: allocationActive ? 7 : 0, lastScheduledDate: null };
    },
    async scheduleSessions() {
      return 0;
    },
  };
  return { traces, activities };
}

describe('trace context from Kafka headers to logs, emitted events and the admin service', () => {
  it('reads the correlation ID, baggage and traceparent headers, whatever their case', () => {
    const trace = traceFromMessage('booking-events', 1, message({
      'X-Correlation-Id': Buffer.from('corr-9'),
      Baggage: Buffer.from('tenant=acme,user=7'),
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    }));
    expect(trace).toEqual({
      correlationId: 'corr-9',
      baggage: 'tenant=acme,user=7',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
  });

  it('falls back to the record coordinates, so redeliveries of one record share a correlation ID', () => {
    expect(traceFromMessage('booking-events', 2, message({}))).toEqual({ correlationId: 'booking-events-2-42' });
  });

  it('puts the trace on every log line and on the headers of every emitted event', () => {
    const trace = { correlationId: 'corr-1', baggage: 'tenant=acme' };
    expect(loggerFor(trace, { activity: 'createBooking' }).bindings()).toMatchObject({
      correlationId: 'corr-1',
      baggage: 'tenant=acme',
      activity: 'createBooking',
    });
    expect(traceHeaders(trace)).toEqual({ 'correlation-id': 'corr-1', baggage: 'tenant=acme' });
  });

  it("sends the current trace's correlation ID to the admin service", async () => {
    const received: Array<string | string[] | undefined> = [];
    const server = createServer((req, res) => {
      received.push(req.headers['correlation-id']);
      res.writeHead(409, { 'content-type': 'application/json' }).end('{"error":"no trainer available"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // A refusal is answered before any database write, so no database is needed.
      const { allocateTrainer } = createAllocationActivities({} as Pool, { url });
      const request = { purchaseId: 'p1', studentId: 'student_1', courseId: 'course_ts' };
      installTemporalRuntime(); // the activity logs through our logger, as in a worker
      const activityEnv = new MockActivityEnvironment(undefined, { logger: Runtime.instance().logger });
      await expect(
        withTrace({ correlationId: 'corr-admin' }, () => activityEnv.run(allocateTrainer, request)),
      ).rejects.toMatchObject({ type: allocationRefusedErrorType });
    } finally {
      server.close();
    }
    expect(received).toEqual(['corr-admin']);
  });
});

/** What an activity saw: the current trace and its logger's fields. */
const seen = () => ({ trace: currentTrace(), log: activityLogger().bindings() });
type Seen = ReturnType<typeof seen>;
const asLogged = (t: TraceContext) => ({ correlationId: t.correlationId, baggage: t.baggage, traceparent: t.traceparent });

describe('trace context through Temporal headers, with no trace argument anywhere', () => {
  // A fresh test server per test: a session window ended by its signal leaves a shared server's
  // clock locked, and later tests would wait out timers in real time.
  let env: TestWorkflowEnvironment;
  /** A client like the bridge's: starts and signals carry the current trace as a header. */
  let client: Client;
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
    client = new Client({ connection: env.connection, interceptors: traceClientInterceptors, dataConverter: testDataConverter });
  });
  afterEach(async () => {
    await env?.teardown();
  });

  const newTrace = (name: string): TraceContext => ({
    correlationId: `corr-${name}-${randomUUID()}`,
    baggage: `tenant=acme,event=${name}`,
    traceparent: `00-${randomUUID().replaceAll('-', '')}-b7ad6b7169203331-01`,
  });

  it('a purchase started inside withTrace: its activities, its session window, its log lines and its emitted events all carry the trace', async () => {
    const trace = newTrace('purchase');
    const calls: Array<[string, Seen]> = [];
    const sent: ProducerRecord[] = [];
    const producer = { send: async (record: ProducerRecord) => void sent.push(record) } as unknown as Producer;
    const activities: PurchaseActivities & CacheActivities & AllocationActivities & SessionActivities = {
      async createPurchase(c) {
        calls.push(['createPurchase', seen()]);
        return { outcome: 'Created', purchaseId: `p-${c.paymentId}` };
      },
      async deactivatePurchase() {},
      async invalidateStudentCaches() {
        calls.push(['invalidateStudentCaches', seen()]);
        // A failure, so the workflow writes a log line of its own.
        throw ApplicationFailure.nonRetryable('redis unreachable');
      },
      async allocateTrainer(request) {
        calls.push(['allocateTrainer', seen()]);
        return { allocationId: `alloc-${request.purchaseId}`, trainerId: 'trainer_ada' };
      },
      async sessionWindowOf() {
        calls.push(['sessionWindowOf', seen()]);
        return { allocationActive: true, futureSessions: 0, lastScheduledDate: null };
      },
      async scheduleSessions(_allocation, slots) {
        calls.push(['scheduleSessions', seen()]);
        return slots.length;
      },
    };
    // Every SDK log line, workflow `log.*` calls included, passes through the runtime's logger.
    const logs = vi.spyOn(Runtime.instance().logger, 'log');
    let logLines: typeof logs.mock.calls = [];
    const paymentId = `pay_${randomUUID()}`;
    try {
      await withWorker(env, { ...activities, ...createEventActivities(producer) }, async (taskQueue) => {
        const handle = await withTrace(trace, () =>
          client.workflow.start(purchaseToSessionsWorkflow, {
            taskQueue,
            workflowId: purchaseWorkflowId(paymentId),
            args: [{ paymentId, studentId: 'student_1', courseId: 'course_ts', confirmedAt: '2030-01-10T09:00:00Z', trace }],
          }),
        );
        const { allocationId } = await handle.result();
        // The window is a child: the trace reaches it with the child's start.
        const window = client.workflow.getHandle(sessionWindowWorkflowId(allocationId!));
        while ((await window.query(sessionWindowStateQuery)).sessionsAdded === 0) await env.sleep('1 second');
        await window.signal(allocationEndedSignal);
        await window.result();
      });
    } finally {
      logLines = [...logs.mock.calls];
      logs.mockRestore();
    }

    expect(calls.map(([name]) => name).sort()).toEqual(
      ['allocateTrainer', 'createPurchase', 'invalidateStudentCaches', 'scheduleSessions', 'sessionWindowOf'],
    );
    for (const [name, { trace: t, log }] of calls) {
      expect({ name, trace: t }).toEqual({ name, trace });
      expect({ name, log }).toEqual({ name, log: expect.objectContaining(asLogged(trace)) });
    }
    // Both events, with the trace as Kafka headers for the consumers downstream.
    expect(sent.flatMap((r) => r.messages.map((m) => [JSON.parse(String(m.value)).type, m.headers]))).toEqual([
      ['PURCHASE_CREATED', { 'correlation-id': trace.correlationId, baggage: trace.baggage, traceparent: trace.traceparent }],
      ['TRAINER_ALLOCATED', { 'correlation-id': trace.correlationId, baggage: trace.baggage, traceparent: trace.traceparent }],
    ]);
    // The workflow's own log line, and the SDK's line about the failed activity.
    const logged = (text: string) => logLines.filter(([, msg]) => msg === text).map(([, , meta]) => meta);
    expect(logged('Cache invalidation failed; the purchase goes on')).toEqual([expect.objectContaining(asLogged(trace))]);
    expect(logged('Activity failed')).toEqual([
      expect.objectContaining({ activityType: 'invalidateStudentCaches', ...asLogged(trace) }),
    ]);
  });

  it('a session window keeps its trace across continue-as-new', async () => {
    const trace = newTrace('window');
    const { traces, activities } = sessionsSeeingTraces({ allocationActive: true });
    await withWorker(env, activities, async (taskQueue) => {
      const allocationId = `alloc_${randomUUID()}`;
      const handle = await withTrace(trace, () =>
        client.workflow.start(sessionWindowWorkflow, {
          taskQueue,
          workflowId: sessionWindowWorkflowId(allocationId),
          args: [{ allocationId, studentId: 'student_1', trainerId: 'trainer_1' }],
        }),
      );
      await env.sleep('8 days');
      expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);
      await handle.signal(allocationEndedSignal);
      await handle.result();
    });
    // A run checks 28 times before it continues as new; later checks belong to the next run.
    expect(traces.length).toBeGreaterThan(28);
    expect(traces.filter((t) => t?.correlationId !== trace.correlationId)).toEqual([]);
  });

  it('a run started before trace headers existed takes the trace from its memo, as the bridge set it', async () => {
    const trace = newTrace('memo');
    const { traces, activities } = sessionsSeeingTraces({ allocationActive: false });
    await withWorker(env, activities, async (taskQueue) => {
      const allocationId = `alloc_${randomUUID()}`;
      // env.client has no trace interceptor: no header, as for a run started by the old bridge.
      const handle = await env.client.workflow.start(sessionWindowWorkflow, {
        taskQueue,
        workflowId: sessionWindowWorkflowId(allocationId),
        args: [{ allocationId, studentId: 'student_1', trainerId: 'trainer_1' }],
        memo: { trace },
      });
      await handle.result();
    });
    expect(traces).toEqual([trace]);
  });

  it('an activity scheduled before trace headers existed takes the trace from its old last argument', async () => {
    const trace = newTrace('in-flight');
    const { inbound } = traceActivityInterceptor({} as never);
    const input = { args: ['booking_1', 'user_owner', trace], headers: {} };
    expect(await inbound!.execute!(input, async () => currentTrace())).toEqual(trace);
  });

  describe('a booking runs each step under the trace of the event that asked for it', () => {
    const owner = 'user_owner';
    const booking = (bookingId: string, trace: TraceContext) => ({
      bookingId,
      userId: owner,
      roomId: 'room_ocean_001',
      guests: 2,
      startDate: '2030-01-15T15:00:00Z',
      endDate: '2030-01-18T11:00:00Z',
      trace,
    });
    const cancellation = (bookingId: string, trace: TraceContext) => ({
      bookingId,
      userId: owner,
      timestamp: '2030-01-10T10:00:00Z',
      trace,
    });

    /** Fake activities that record which trace each step saw. */
    function recordingActivities() {
      const steps: Array<[string, string | undefined]> = [];
      const record = (step: string) => steps.push([step, currentTrace()?.correlationId]);
      const activities: BookingActivities = {
        recordBooking: async () => (record('recordBooking'), { status: 'Accepted' }),
        resolveUser: async () => (record('resolveUser'), 1),
        resolveRoom: async () => (record('resolveRoom'), 10),
        createBooking: async () => void record('createBooking'),
        rejectBooking: async () => void record('rejectBooking'),
        cancelBooking: async () => (record('cancelBooking'), 'Cancelled'),
      };
      return { activities, steps };
    }

    // Each event goes out as the bridge sends it: its trace in the payload and, through the
    // client interceptor, as the header.
    const send = withTrace;

    it.each([
      ["a cancellation's step sees the cancellation's trace, not the booking's that started the run", 'booking'],
      ["when a cancellation starts the run, the booking's steps still see the booking event's trace", 'cancellation'],
    ] as const)('%s', async (_name, first) => {
      const traces = { booking: newTrace('booking'), cancellation: newTrace('cancellation') };
      const bookingId = `b_${randomUUID()}`;
      const events = {
        booking: { signal: bookingRequestedSignal, arg: booking(bookingId, traces.booking) },
        cancellation: { signal: cancellationRequestedSignal, arg: cancellation(bookingId, traces.cancellation) },
      };
      const second = first === 'booking' ? 'cancellation' : 'booking';
      const { activities, steps } = recordingActivities();
      const result = await withWorker(env, activities, async (taskQueue) => {
        const handle = await send(traces[first], () =>
          client.workflow.signalWithStart(bookingWorkflow, {
            taskQueue,
            workflowId: `booking-${bookingId}`,
            signal: events[first].signal as typeof bookingRequestedSignal,
            signalArgs: [events[first].arg as never],
          }),
        );
        await send(traces[second], () => handle.signal(events[second].signal as typeof bookingRequestedSignal, events[second].arg as never));
        return handle.result();
      });
      expect(result.status).toBe('Cancelled');
      expect(steps).toEqual([
        ['recordBooking', traces.booking.correlationId],
        ['cancelBooking', traces.cancellation.correlationId],
      ]);
    });
  });
});
