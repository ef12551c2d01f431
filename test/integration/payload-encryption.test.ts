import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { dataConverterWith } from '../../src/codec/data-converter';
import { EncryptionCodec, METADATA_ENCRYPTION_KEY_ID } from '../../src/codec/encryption-codec';
import { newKeyRing, rotated } from '../../src/codec/key-ring';
import { openRunKeyReport } from '../../src/codec/key-usage';
import { bookingRequestedSignal, bookingStateQuery, bookingWorkflowId, cancellationRequestedSignal } from '../../src/contracts/booking';
import { bookingWorkflow } from '../../src/workflows/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';
import { payloadsIn, readable } from '../support/history-payloads';
import { temporalCliRaw } from '../support/temporal-cli';

const bytes = (v: unknown) => Buffer.from(v as Uint8Array);

/** A booking's personal data in Temporal, on the real stack: stored encrypted, readable with the codec server's token. */
describe('payload encryption on the real stack', () => {
  let stack: RealStack;
  let userId: string;
  let room: string;
  const started: string[] = [];
  const stacks: RealStack[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    stacks.push(stack);
    userId = `user_jane_doe_${stack.runId}`;
    room = `room_phi_${stack.runId}`;
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [userId]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);
  });

  afterAll(async () => {
    await Promise.all(
      started.map((id) => stack.client.workflow.getHandle(bookingWorkflowId(id)).terminate('test finished').catch(() => undefined)),
    );
    for (const s of stacks) await s.stop();
  });

  it("stores a booking's input as ciphertext: the CLI shows the user only through the codec server, with an operator's credential", async () => {
    const id = stack.runId;
    const topics = { bookingEvents: `booking-events-${id}`, cancellations: `booking-cancellations-${id}` };
    await stack.createTopics(topics.bookingEvents, topics.cancellations);
    await stack.startWorker(`bookings-${id}`);
    await stack.startBridge(bookingRoutes({ taskQueue: `bookings-${id}`, topics }));
    const bookingId = `booking_phi_${id}`;
    started.push(bookingId);
    await stack.publish(topics.bookingEvents, bookingId, bookingRequested(bookingId, userId, room));
    const workflowId = bookingWorkflowId(bookingId);
    await eventually(
      () => stack.client.workflow.getHandle(workflowId).query(bookingStateQuery).catch(() => undefined),
      (state) => state?.status === 'Accepted',
    );

    const stored = await temporalCliRaw('workflow', 'show', '--workflow-id', workflowId, '--output', 'json');
    expect(payloadsIn(JSON.parse(stored)).length).toBeGreaterThan(0);
    expect(readable(stored)).not.toContain(userId);
    expect(stored).toContain(workflowId); // workflow IDs stay plain: they carry the booking ID only

    const credential = readFileSync(stack.config.CODEC_OPERATOR_CREDENTIAL_FILE, 'utf8').trim();
    const codecArgs = ['--codec-endpoint', stack.config.CODEC_SERVER_URL];
    const decoded = await temporalCliRaw('workflow', 'show', '--workflow-id', workflowId, '--output', 'json', ...codecArgs, '--codec-auth', `Bearer ${credential}`);
    expect(readable(decoded)).toContain(userId);

    // Without a credential the codec server answers 401; the CLI keeps retrying until its deadline, and
    // prints nothing decoded. (Not a wrong credential: the CLI's retries would count as failed sign-ins
    // from this machine and lock it out of the stack's codec server for a while.)
    const refused = await temporalCliRaw(
      'workflow', 'show', '--workflow-id', workflowId, '--output', 'json', ...codecArgs, '--command-timeout', '3s',
    ).then((out) => `succeeded: ${out}`, (err: Error) => `failed: ${err.message}`);
    expect(refused).toMatch(/^failed: /);
    expect(refused).not.toContain(userId);
  });

  it('reports which key IDs the open runs use, from the stored history, and finds a run started plain', async () => {
    const keyId = `k-report-${stack.runId}`;
    const writer = await connectRealStack({ dataConverter: dataConverterWith(newKeyRing(keyId)) });
    const plain = await connectRealStack({ dataConverter: {} });
    stacks.push(writer, plain);
    const start = (client: RealStack['client'], id: string) => {
      started.push(id);
      // No worker polls this task queue: the runs stay open with only their start in the history.
      return client.workflow.start(bookingWorkflow, { workflowId: bookingWorkflowId(id), taskQueue: `no-worker-${stack.runId}`, args: [{ bookingId: id }] as never });
    };
    await start(writer.client, `report-enc-${stack.runId}`);
    await start(plain.client, `report-plain-${stack.runId}`);
    const report = await eventually(
      () =>
        openRunKeyReport(
          stack.client,
          `ExecutionStatus="Running" AND WorkflowId IN ("${bookingWorkflowId(`report-enc-${stack.runId}`)}", "${bookingWorkflowId(`report-plain-${stack.runId}`)}")`,
        ),
      (r) => (r.get(keyId)?.length ?? 0) >= 1 && (r.get('(plain)') ?? []).includes(bookingWorkflowId(`report-plain-${stack.runId}`)),
      30_000,
    );
    expect(report.get(keyId)).toEqual([bookingWorkflowId(`report-enc-${stack.runId}`)]);
  });

  it('keeps a run started before a key rotation readable and running after it', async () => {
    const before = newKeyRing(`k1-${stack.runId}`);
    const after = rotated(before, `k2-${stack.runId}`);
    const taskQueue = `bookings-rotation-${stack.runId}`;
    const bookingId = `booking_rotation_${stack.runId}`;
    started.push(bookingId);
    const trace = { correlationId: `rotation-${stack.runId}`, baggage: '' };
    const booking = { ...bookingRequested(bookingId, userId, room), trace };

    const old = await connectRealStack({ dataConverter: dataConverterWith(before) });
    stacks.push(old);
    await old.startWorker(taskQueue);
    await old.client.workflow.signalWithStart(bookingWorkflow, {
      workflowId: bookingWorkflowId(bookingId),
      taskQueue,
      args: [booking],
      signal: bookingRequestedSignal,
      signalArgs: [booking],
    });
    const oldHandle = old.client.workflow.getHandle(bookingWorkflowId(bookingId));
    await eventually(() => oldHandle.query(bookingStateQuery), (state) => state.status === 'Accepted');
    await old.stop();
    stacks.splice(stacks.indexOf(old), 1);

    // The workers and clients restart with the rotated ring, as after `npm run rotate-payload-key`.
    const rotatedStack = await connectRealStack({ dataConverter: dataConverterWith(after) });
    stacks.push(rotatedStack);
    await rotatedStack.startWorker(taskQueue);
    const handle = rotatedStack.client.workflow.getHandle(bookingWorkflowId(bookingId));
    await handle.signal(cancellationRequestedSignal, { bookingId, userId, timestamp: '2030-12-01T00:00:00Z', trace });
    await handle.result();
    expect((await handle.query(bookingStateQuery)).status).toBe('Cancelled');

    const payloads = payloadsIn((await handle.fetchHistory()).events);
    const keyIds = new Set(payloads.map((p) => p.metadata?.[METADATA_ENCRYPTION_KEY_ID]).filter(Boolean).map((k) => bytes(k).toString()));
    expect([...keyIds].sort()).toEqual([before.currentKeyId, after.currentKeyId].sort());
    const decoded = await new EncryptionCodec(after).decode(payloads.map((p) => ({ metadata: p.metadata as never, data: p.data as never })));
    expect(decoded.map((p) => bytes(p.data).toString()).join('\n')).toContain(userId);
  });
});
