/**
 * Records fresh workflow histories from real runs on the local stack into test/histories/, for the
 * replay tests. Run after a workflow change is released: `npm run record-histories`.
 * Existing files are kept (they are the old versions that must still replay); a file is written
 * only when its name is new, so bump HISTORY_VERSION when recording after a change.
 * HISTORY_SCENARIOS=prescription (a name prefix, comma-separated for several) records only the
 * scenarios of the workflow that changed, so the others get no file of a version they never had.
 *
 * Recorded WITHOUT the payload codec (src/codec), on purpose: its client and workers store their
 * test data in clear text, so the committed histories replay on any machine whatever its key ring
 * (a history written through the codec would need this machine's keys, and `fetchHistory()` and the
 * CLI return payloads as stored). The codec passes unencrypted payloads through, so the workers,
 * which do encrypt, replay these histories as they are. Nothing here is personal data.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { BookingActivities } from '../src/activities/booking';
import type { SessionActivities } from '../src/activities/sessions';
import { createAdminService, ensureAdminSchema, upsertTrainer } from '../src/admin-service/server';
import { loadConfig } from '../src/config';
import { createKafka, createPool, createProducer, createRedis, createTemporalClient } from '../src/connections';
import {
  bookingRequestedSignal,
  bookingStateQuery,
  bookingWorkflowId,
  cancellationRequestedSignal,
  type BookingWorkflowInput,
} from '../src/contracts/booking';
import { operatorDecisionSignal, pipelineStatusKey } from '../src/contracts/pipeline';
import {
  allocationEndedSignal,
  purchaseWorkflowId,
  sessionWindowStateQuery,
  sessionWindowWorkflowId,
} from '../src/contracts/purchase';
import { createBookingActivities } from '../src/activities/booking';
import { createPurchaseToSessionsActivities } from '../src/pipelines/purchase-to-sessions';
import { traceClientInterceptors, withTrace } from '../src/trace-node';
import { installTemporalRuntime } from '../src/workers/runtime';
import { workflowCode } from '../src/workers/workflows-path';
import { bookingWorkflow, prescriptionFulfillmentWorkflow, purchaseToSessionsWorkflow, sessionWindowWorkflow } from '../src/workflows';
import { createPrescriptionActivities } from '../src/activities/prescription';
import { createPaymentActivities } from '../src/activities/prescription-payment';
import { fulfillmentStateQuery, paymentCompletedSignal, prescriptionWorkflowId } from '../src/contracts/prescription';
import { createPartnerClients, partnerClientOptions } from '../src/partners/clients';
import { temporalCliRaw } from '../test/support/temporal-cli';
import { createTimeSkippingEnv } from '../test/support/time-skipping';

const HISTORY_VERSION = process.env.HISTORY_VERSION ?? 'v1';
const scenarioPrefixes = process.env.HISTORY_SCENARIOS?.split(',').map((p) => p.trim()).filter(Boolean);
/** The scenarios to record: all, or those HISTORY_SCENARIOS names. */
const selected = <T>(scenarios: Record<string, T>): Array<[string, T]> =>
  Object.entries(scenarios).filter(([name]) => !scenarioPrefixes || scenarioPrefixes.some((p) => name.startsWith(p)));
const historiesDir = path.resolve(__dirname, '..', 'test', 'histories');

async function main(): Promise<void> {
  installTemporalRuntime();
  const config = loadConfig();
  const db = createPool(config);
  // No payload codec: see the top of this file.
  const client = await createTemporalClient(config, {});
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const run = randomUUID().slice(0, 8);
  const taskQueue = `record-${run}`;
  const owner = `user_rec_${run}`;
  const room = `room_rec_${run}`;
  const stranger = `user_rec_other_${run}`;
  await db.query('INSERT INTO users (user_ref) VALUES ($1), ($2)', [owner, stranger]);
  await db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);

  // The purchase pipeline's real dependencies, with this script's own admin service.
  const producer = createProducer(createKafka(config, `record-${run}`));
  await producer.connect();
  const redis = createRedis(config);
  await ensureAdminSchema(db);
  const course = `course_rec_${run}`;
  const fullCourse = `course_rec_full_${run}`;
  await upsertTrainer(db, { trainerId: `trainer_rec_${run}`, courses: [course], capacity: 10 });
  await upsertTrainer(db, { trainerId: `trainer_rec_full_${run}`, courses: [fullCourse], capacity: 0 });
  const admin = createAdminService(db);
  const adminUrl = await admin.listen(0);

  let failRecords = false;
  let failCaches = false;
  const real = createBookingActivities(db);
  const purchasePipeline = createPurchaseToSessionsActivities({ db, producer, redis, adminService: { url: adminUrl } });
  // Prescriptions call the stack's partner stand-ins (scripts/stack.sh up starts them).
  const prescriptionDeps = { db, producer, actor: 'record-histories' };
  const activities = {
    ...real,
    ...purchasePipeline,
    ...createPrescriptionActivities({ ...prescriptionDeps, partners: createPartnerClients(partnerClientOptions(config)) }),
    ...createPaymentActivities({ ...prescriptionDeps, paymentLinkBaseUrl: config.PAYMENT_LINK_BASE_URL }),
    recordBooking: async (...args: Parameters<typeof real.recordBooking>) => {
      if (failRecords) throw ApplicationFailure.create({ message: 'recorded outage' });
      return real.recordBooking(...args);
    },
    invalidateStudentCaches: async (...args: Parameters<typeof purchasePipeline.invalidateStudentCaches>) => {
      if (failCaches) throw ApplicationFailure.create({ message: 'recorded Redis outage' });
      return purchasePipeline.invalidateStudentCaches(...args);
    },
  };
  // No dataConverter, like the client above: the histories must hold clear text.
  const worker = await Worker.create({ connection, taskQueue, ...workflowCode, activities });
  const trace = { correlationId: `record-${run}`, baggage: 'recorded=true' };
  const booking = (bookingId: string, roomId = room) => ({
    bookingId,
    userId: owner,
    roomId,
    guests: 2,
    startDate: '2031-01-15T15:00:00Z',
    endDate: '2031-01-18T11:00:00Z',
    trace,
  });
  const cancellation = (bookingId: string) => ({ bookingId, userId: owner, timestamp: '2030-12-01T00:00:00Z', trace });
  const start = (bookingId: string, signal: any, arg: BookingWorkflowInput) =>
    client.workflow.signalWithStart(bookingWorkflow, {
      workflowId: bookingWorkflowId(bookingId),
      taskQueue,
      args: [arg],
      signal,
      signalArgs: [arg],
    });

  const purchase = (n: string, courseId = course) => {
    const paymentId = `pay_rec_${run}_${n}`;
    return client.workflow.start(purchaseToSessionsWorkflow, {
      workflowId: purchaseWorkflowId(paymentId),
      taskQueue,
      args: [{ paymentId, studentId: `student_rec_${run}_${n}`, courseId, confirmedAt: '2030-03-01T09:30:00Z', trace }],
    });
  };
  /** Ends a purchase's session window once it has opened; returns the window's workflow ID. */
  const endWindow = async (allocationId: string) => {
    const window = client.workflow.getHandle(sessionWindowWorkflowId(allocationId));
    while ((await window.query(sessionWindowStateQuery)).sessionsAdded === 0) await new Promise((r) => setTimeout(r, 200));
    await window.signal(allocationEndedSignal);
    await window.result();
    return window.workflowId;
  };
  const prescription = (n: string, payerId = 'payer-standard') => {
    const prescriptionId = `rx_rec_${run}_${n}`;
    return client.workflow.start(prescriptionFulfillmentWorkflow, {
      workflowId: prescriptionWorkflowId(prescriptionId),
      taskQueue,
      args: [
        {
          prescriptionId,
          patient: {
            patientId: `patient_rec_${run}_${n}`,
            name: 'Recorded Patient',
            dateOfBirth: '1970-01-01',
            address: { line1: '1 Test Street', city: 'Testville', postalCode: '10001', country: 'US' },
          },
          prescriber: { npi: '1234567893', name: 'Dr. Recorder' },
          medication: { ndc: '11111-0001-01', name: 'Metformin', quantity: 60 },
          insurance: { payerId, memberId: `M_rec_${run}_${n}` },
          writtenOn: '2030-01-01',
          receivedAt: '2030-01-02T09:00:00Z',
          trace,
          timings: { paymentWindow: '5 seconds', trackingInterval: '2 seconds', deliveryDeadline: '1 minute' },
        },
      ],
    });
  };
  const waitUntilParked = async (workflowId: string) => {
    const h = client.workflow.getHandle(workflowId);
    while ((await h.describe()).typedSearchAttributes.get(pipelineStatusKey) !== 'NeedsAttention') {
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  const scenarios: Record<string, () => Promise<string>> = {
    'booking-cancelled-by-owner': async () => {
      const id = `rec_${run}_cancelled`;
      const h = await start(id, bookingRequestedSignal, booking(id));
      await h.signal(cancellationRequestedSignal, cancellation(id));
      await h.result();
      return h.workflowId;
    },
    'booking-cancellation-first': async () => {
      const id = `rec_${run}_cancel_first`;
      const h = await start(id, cancellationRequestedSignal, cancellation(id));
      await h.signal(bookingRequestedSignal, booking(id));
      await h.result();
      return h.workflowId;
    },
    'booking-rejected-unknown-room': async () => {
      const id = `rec_${run}_rejected`;
      const h = await start(id, bookingRequestedSignal, booking(id, 'room_missing'));
      await h.result();
      return h.workflowId;
    },
    'booking-parked-then-retried': async () => {
      const id = `rec_${run}_parked`;
      failRecords = true;
      const h = await start(id, bookingRequestedSignal, booking(id));
      while ((await h.describe()).typedSearchAttributes.get(pipelineStatusKey) !== 'NeedsAttention') {
        await new Promise((r) => setTimeout(r, 500));
      }
      failRecords = false;
      await h.signal(operatorDecisionSignal, 'retry');
      await h.signal(cancellationRequestedSignal, cancellation(id));
      await h.result();
      return h.workflowId;
    },
    'booking-ended': async () => {
      const id = `rec_${run}_ended`;
      const now = Date.now();
      const shortStay = { startDate: new Date(now - 86_400_000).toISOString(), endDate: new Date(now + 5_000).toISOString() };
      const h = await start(id, bookingRequestedSignal, { ...booking(id), ...shortStay });
      await h.result();
      return h.workflowId;
    },
    'booking-cancellation-refused-then-cancelled': async () => {
      const id = `rec_${run}_refused`;
      const h = await start(id, bookingRequestedSignal, booking(id));
      await h.signal(cancellationRequestedSignal, { ...cancellation(id), userId: stranger });
      await h.signal(cancellationRequestedSignal, cancellation(id));
      await h.result();
      return h.workflowId;
    },
    'booking-parked-then-aborted': async () => {
      const id = `rec_${run}_aborted`;
      failRecords = true;
      const h = await start(id, bookingRequestedSignal, booking(id));
      await waitUntilParked(h.workflowId);
      failRecords = false;
      await h.signal(operatorDecisionSignal, 'abort');
      await h.result().catch(() => undefined); // it fails with OperatorAbort, which the history records
      return h.workflowId;
    },
    'purchase-sessions-scheduled': async () => {
      const h = await purchase('scheduled');
      await endWindow((await h.result()).allocationId!);
      return h.workflowId;
    },
    'purchase-already-active': async () => {
      const first = await purchase('first');
      await endWindow((await first.result()).allocationId!);
      const paymentId = `pay_rec_${run}_second`;
      const h = await client.workflow.start(purchaseToSessionsWorkflow, {
        workflowId: purchaseWorkflowId(paymentId),
        taskQueue,
        args: [{ paymentId, studentId: `student_rec_${run}_first`, courseId: course, confirmedAt: '2030-03-02T09:30:00Z', trace }],
      });
      await h.result();
      return h.workflowId;
    },
    'purchase-cache-invalidation-failed': async () => {
      failCaches = true;
      const h = await purchase('cache_down');
      const outcome = await h.result();
      failCaches = false;
      await endWindow(outcome.allocationId!);
      return h.workflowId;
    },
    'purchase-no-trainer-parked-then-retried': async () => {
      const h = await purchase('no_trainer', fullCourse);
      await waitUntilParked(h.workflowId);
      await upsertTrainer(db, { trainerId: `trainer_rec_full_${run}`, courses: [fullCourse], capacity: 1 });
      await h.signal(operatorDecisionSignal, 'retry');
      await endWindow((await h.result()).allocationId!);
      return h.workflowId;
    },
    'session-window-opened-then-ended': async () => {
      const h = await purchase('window');
      return endWindow((await h.result()).allocationId!);
    },
    'prescription-paid-and-delivered': async () => {
      const h = await prescription('paid');
      while ((await h.query(fulfillmentStateQuery)).status !== 'AwaitingPayment') await new Promise((r) => setTimeout(r, 200));
      const { prescriptionId } = await h.query(fulfillmentStateQuery);
      await h.signal(paymentCompletedSignal, { prescriptionId, paymentId: `pay_rec_${run}`, amountCents: 1500, paidAt: '2030-01-02T10:00:00Z' });
      await h.result();
      return h.workflowId;
    },
    'prescription-nothing-owed-delivered': async () => {
      const h = await prescription('covered', 'payer-full-coverage');
      await h.result();
      return h.workflowId;
    },
    'prescription-claim-rejected': async () => {
      const h = await prescription('rejected', 'payer-formulary-strict');
      await h.result();
      return h.workflowId;
    },
    'prescription-payment-expired': async () => {
      const h = await prescription('expired');
      await h.result();
      return h.workflowId;
    },
  };

  await mkdir(historiesDir, { recursive: true });
  await worker.runUntil(async () => {
    for (const [name, scenario] of selected(scenarios)) {
      const file = path.join(historiesDir, `${name}-${HISTORY_VERSION}.json`);
      if (existsSync(file)) {
        console.log(`kept     ${path.relative(process.cwd(), file)}`);
        continue;
      }
      // Starts and signals carry the trace as a header, as the bridge's do.
      const workflowId = await withTrace(trace, scenario);
      // The CLI's JSON is the format Temporal documents for replay (and the Web UI downloads).
      await writeFile(file, await temporalCliRaw('workflow', 'show', '--workflow-id', workflowId, '--output', 'json'));
      console.log(`recorded ${path.relative(process.cwd(), file)}`);
    }
  });
  await recordOnTestServer();
  await admin.close();
  await producer.disconnect();
  redis.disconnect();
  await connection.close();
  await client.connection.close();
  await db.end();
}

/**
 * Histories that take days of workflow time (a window's 6-hourly top-ups and weekly
 * continue-as-new, a booking that never arrives, an outage retried by itself) are recorded on the
 * time-skipping test server, with in-memory activities.
 */
async function recordOnTestServer(): Promise<void> {
  // A fresh test server per scenario: one that has seen a run terminated can leave its clock
  // locked, and the next scenario would wait out its timers in real time.
  let env: TestWorkflowEnvironment;
  let client: Client;
  const trace = { correlationId: 'record-test-server', baggage: 'recorded=true' };
  const dates: string[] = [];
  let allocationActive = true;
  let recordAttempts = 0;
  const activities = {
    async sessionWindowOf(_allocationId: string, now: string) {
      const future = dates.filter((d) => Date.parse(`${d}T10:00:00Z`) > Date.parse(now)).length;
      return { allocationActive, futureSessions: future, lastScheduledDate: dates.at(-1) ?? null };
    },
    async scheduleSessions(_allocation: unknown, slots: Array<{ date: string }>) {
      dates.push(...slots.map((s) => s.date));
      return slots.length;
    },
    // Down for the five fast attempts and the first round of retries by itself, then back.
    async recordBooking() {
      if (++recordAttempts <= 7) throw ApplicationFailure.create({ message: 'recorded outage' });
      return { status: 'Accepted' as const };
    },
    cancelBooking: async () => 'Cancelled' as const,
  } satisfies Partial<SessionActivities & BookingActivities>;
  const booking = (bookingId: string) => ({
    bookingId,
    userId: 'user_rec',
    roomId: 'room_rec',
    guests: 2,
    startDate: '2031-01-15T15:00:00Z',
    endDate: '2031-01-18T11:00:00Z',
    trace,
  });
  const cancellation = (bookingId: string) => ({ bookingId, userId: 'user_rec', timestamp: '2030-12-01T00:00:00Z', trace });

  const startWindow = (taskQueue: string) => {
    const allocationId = `alloc_rec_${randomUUID().slice(0, 8)}`;
    return client.workflow.start(sessionWindowWorkflow, {
      workflowId: sessionWindowWorkflowId(allocationId),
      taskQueue,
      args: [{ allocationId, studentId: 'student_rec', trainerId: 'trainer_rec' }],
    });
  };
  /** As the bridge starts it: the first event is the run's input and its first signal. */
  const startBooking = (taskQueue: string, signal: typeof bookingRequestedSignal | typeof cancellationRequestedSignal, event: BookingWorkflowInput) =>
    client.workflow.signalWithStart(bookingWorkflow, {
      workflowId: bookingWorkflowId(event.bookingId),
      taskQueue,
      args: [event],
      signal: signal as typeof bookingRequestedSignal,
      signalArgs: [event as never],
    });

  const scenarios: Record<string, (taskQueue: string) => Promise<{ workflowId: string; runId?: string; done(): Promise<void> }>> = {
    'session-window-topped-up-continued-as-new': async (taskQueue) => {
      const h = await startWindow(taskQueue);
      await env.sleep('8 days');
      // The file holds the first run, which ends by continuing as new.
      return { workflowId: h.workflowId, runId: h.firstExecutionRunId, done: () => h.terminate('recorded').then(() => undefined) };
    },
    'session-window-allocation-ended': async (taskQueue) => {
      allocationActive = true;
      const h = await startWindow(taskQueue);
      await env.sleep('7 hours');
      allocationActive = false; // the allocation ended in the database; the next check sees it
      // Only the environment's own client and sleep skip time; this client carries the trace.
      await env.sleep('6 hours');
      await h.result();
      return { workflowId: h.workflowId, done: async () => undefined };
    },
    'booking-never-booked': async (taskQueue) => {
      const id = `rec_${randomUUID().slice(0, 8)}_never`;
      const h = await startBooking(taskQueue, cancellationRequestedSignal, cancellation(id));
      await env.sleep('8 days');
      await h.result();
      return { workflowId: h.workflowId, done: async () => undefined };
    },
    'booking-outage-retried-by-itself': async (taskQueue) => {
      const id = `rec_${randomUUID().slice(0, 8)}_outage`;
      const h = await startBooking(taskQueue, bookingRequestedSignal, booking(id));
      while ((await h.query(bookingStateQuery)).status !== 'Accepted') await env.sleep('1 minute');
      await h.signal(cancellationRequestedSignal, cancellation(id));
      await h.result();
      return { workflowId: h.workflowId, done: async () => undefined };
    },
  };

  for (const [name, scenario] of selected(scenarios)) {
    const file = path.join(historiesDir, `${name}-${HISTORY_VERSION}.json`);
    if (existsSync(file)) {
      console.log(`kept     ${path.relative(process.cwd(), file)}`);
      continue;
    }
    env = await createTimeSkippingEnv();
    // Without the codec, as above (createTimeSkippingEnv's own client encrypts; only its sleep is used).
    client = new Client({ connection: env.connection, interceptors: traceClientInterceptors });
    try {
      const taskQueue = `record-test-server-${randomUUID()}`;
      const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, ...workflowCode, activities });
      await worker.runUntil(async () => {
        const { workflowId, runId, done } = await withTrace(trace, () => scenario(taskQueue));
        await writeFile(file, historyToJSON(await client.workflow.getHandle(workflowId, runId).fetchHistory()));
        await done();
      });
    } finally {
      await env.teardown();
    }
    console.log(`recorded ${path.relative(process.cwd(), file)}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
