import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Partitioners, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBookingActivities } from '../../src/activities/booking';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import type { ParkedEvent } from '../../src/bridges/parked-events';
import { bookingRequested } from '../support/booking-events';
import { bookingStateQuery, bookingWorkflowId, type BookingState } from '../../src/contracts/booking';
import { correlationIdKey, pipelineStatusKey } from '../../src/contracts/pipeline';
import { headersAsText } from '../support/kafka-headers';
import { connectRealStack, deleteAsRetentionWould, eventually, type RealStack } from '../support/real-stack';
import { stepsOf } from '../support/history-steps';

/** Kafka → bridge → Temporal → PostgreSQL, all real, as the booking service's events arrive. */
describe('booking pipeline on the real stack', () => {
  let stack: RealStack;
  let topics: { bookingEvents: string; cancellations: string };
  let bridge: Consumer;
  let owner: string;
  let stranger: string;
  let room: string;
  const started: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
    const id = stack.runId;
    topics = { bookingEvents: `booking-events-${id}`, cancellations: `booking-cancellations-${id}` };
    owner = `user_owner_${id}`;
    stranger = `user_stranger_${id}`;
    room = `room_ocean_${id}`;
    await stack.db.query(
      `INSERT INTO users (user_ref, email, username) VALUES ($1, $2, $3), ($4, $5, $6)`,
      [owner, `${owner}@example.com`, `owner_${id}`, stranger, `${stranger}@example.com`, `stranger_${id}`],
    );
    await stack.db.query(`INSERT INTO rooms (internal_id, name) VALUES ($1, 'Ocean view')`, [room]);
    await stack.createTopics(topics.bookingEvents, topics.cancellations);
    const taskQueue = `bookings-${id}`;
    await stack.startWorker(taskQueue);
    bridge = await stack.startBridge(bookingRoutes({ taskQueue, topics }));
  });

  afterAll(async () => {
    // Bookings still waiting for their stay to end would otherwise outlive this file's worker.
    await Promise.all(
      started.map((b) =>
        stack.client.workflow.getHandle(bookingWorkflowId(b)).terminate('test finished').catch(() => undefined),
      ),
    );
    await stack?.stop();
  });

  /** The partition the producer's default partitioner picks for `key` on a 3-partition topic. */
  const partitionOf = (key: string) =>
    Partitioners.DefaultPartitioner()({
      topic: topics.bookingEvents,
      partitionMetadata: [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })),
      message: { key, value: null },
    });

  const newBookingId = () => {
    const bookingId = `booking_${stack.runId}_${started.length}`;
    started.push(bookingId);
    return bookingId;
  };

  const bookingEvent = (bookingId: string, userId = owner, roomId = room) => ({
    ...bookingRequested(bookingId, userId, roomId),
    paymentId: `pay_${bookingId}`,
  });
  const cancellationEvent = (bookingId: string, userId = owner) => ({
    bookingId,
    userId,
    timestamp: '2030-12-18T10:30:00Z',
  });

  const publish: RealStack['publish'] = (...args) => stack.publish(...args);

  /** `npm run replay-parked -- <args>`, as an operator runs it, `stdin` piped in; returns what it printed. */
  const replayParked = async (args: string[], stdin = '') => {
    const run = promisify(execFile)('node', ['--import', 'tsx', 'src/bridges/replay-parked.ts', ...args], { timeout: 60_000 });
    run.child.stdin!.end(stdin);
    return (await run).stdout;
  };

  const rowsOf = async (bookingId: string) =>
    (await stack.db.query('SELECT status, rejection_reason, correlation_id FROM bookings WHERE booking_id = $1', [bookingId]))
      .rows;

  /** The workflow's state, or undefined while the bridge has not started it yet. */
  const stateOf = (bookingId: string): Promise<BookingState | undefined> =>
    stack.client.workflow
      .getHandle(bookingWorkflowId(bookingId))
      .query(bookingStateQuery)
      .catch((err) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });

  async function statusEventually(bookingId: string, status: string) {
    return eventually(
      () => rowsOf(bookingId),
      (rows) => rows[0]?.status === status,
    );
  }

  it('the same booking event delivered ten times makes one booking, and its owner cancels it once', async () => {
    const bookingId = newBookingId();
    const headers = { 'correlation-id': `corr-${bookingId}`, baggage: 'tenant=acme,region=eu' };
    for (let i = 0; i < 10; i++) await publish(topics.bookingEvents, bookingId, bookingEvent(bookingId), headers);
    await statusEventually(bookingId, 'Accepted');

    await publish(topics.cancellations, bookingId, cancellationEvent(bookingId), headers);
    await publish(topics.cancellations, bookingId, cancellationEvent(bookingId), headers);
    await statusEventually(bookingId, 'Cancelled');

    const handle = stack.client.workflow.getHandle(bookingWorkflowId(bookingId));
    expect(await handle.result()).toMatchObject({ status: 'Cancelled', refusedCancellations: 0 });
    expect(await rowsOf(bookingId)).toEqual([
      { status: 'Cancelled', rejection_reason: null, correlation_id: `corr-${bookingId}` },
    ]);
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(correlationIdKey)).toBe(`corr-${bookingId}`);
    expect(description.typedSearchAttributes.get(pipelineStatusKey)).toBe('Completed');
    expect(description.memo).toMatchObject({ trace: { correlationId: `corr-${bookingId}`, baggage: 'tenant=acme,region=eu' } });

    // One booking recorded and one cancellation, by the history itself (the unique booking_id alone
    // would hide a second recordBooking). They run as local activities: each leaves a marker.
    expect(stepsOf(await handle.fetchHistory())).toEqual(['recordBooking', 'cancelBooking']);

    // A copy delivered after the run closed and the offsets were committed starts nothing, and is
    // acknowledged as the duplicate it is (the booking was made and cancelled), not parked.
    const [late] = await stack.producer.send({
      topic: topics.bookingEvents,
      messages: [{ key: bookingId, value: JSON.stringify(bookingEvent(bookingId)), headers }],
    });
    await eventually(() => stack.committedOffset(bridge, topics.bookingEvents, late!.partition), (o) => o > Number(late!.baseOffset));
    expect((await handle.describe()).runId).toBe(description.runId);
    expect((await stack.parkedEvents.list({ topic: topics.bookingEvents })).filter((p) => p.record?.key?.toString() === bookingId)).toEqual([]);
    expect(await rowsOf(bookingId)).toHaveLength(1);
  });

  it('a booking event delivered again after its cancelled run left Temporal (retention) starts a run that ends cancelled at once, changing nothing', async () => {
    const bookingId = newBookingId();
    const headers = { 'correlation-id': `corr-${bookingId}` };
    await publish(topics.bookingEvents, bookingId, bookingEvent(bookingId), headers);
    await statusEventually(bookingId, 'Accepted');
    await publish(topics.cancellations, bookingId, cancellationEvent(bookingId), headers);
    const handle = stack.client.workflow.getHandle(bookingWorkflowId(bookingId));
    expect(await eventually(() => handle.result().catch(() => undefined), Boolean)).toMatchObject({ status: 'Cancelled' });
    const row = async () => (await stack.db.query('SELECT * FROM bookings WHERE booking_id = $1', [bookingId])).rows;
    const before = await row();
    const firstRun = (await handle.describe()).runId;

    await deleteAsRetentionWould(stack.client, bookingWorkflowId(bookingId));
    const [sent] = await stack.producer.send({
      topic: topics.bookingEvents,
      messages: [{ key: bookingId, value: JSON.stringify(bookingEvent(bookingId)), headers }],
    });
    await eventually(() => stack.committedOffset(bridge, topics.bookingEvents, sent!.partition), (o) => o > Number(sent!.baseOffset));
    // A new run, closed at once: not one accepting cancellations until the stay ends in 2031.
    const run = () => handle.describe().then((d) => ({ runId: d.runId, status: d.status.name, pipelineStatus: d.typedSearchAttributes.get(pipelineStatusKey) }), () => undefined);
    const again = await eventually(run, (d) => d?.status === 'COMPLETED', 30_000);
    expect(again).toEqual({ runId: expect.not.stringMatching(firstRun), status: 'COMPLETED', pipelineStatus: 'Completed' });
    expect(await handle.result()).toMatchObject({ bookingId, status: 'Cancelled', refusedCancellations: 0 });
    expect(await row()).toEqual(before);
    expect((await stack.parkedEvents.list({ topic: topics.bookingEvents })).filter((p) => p.record?.key?.toString() === bookingId)).toEqual([]);
  });

  it('when a cancellation arrives before its booking, the booking ends cancelled, recorded under the booking event\'s correlation ID', async () => {
    const bookingId = newBookingId();
    await publish(topics.cancellations, bookingId, cancellationEvent(bookingId), { 'correlation-id': `cancel-${bookingId}` });
    await eventually(() => stateOf(bookingId), (s) => s?.status === 'AwaitingBooking');
    await publish(topics.bookingEvents, bookingId, bookingEvent(bookingId), { 'correlation-id': `book-${bookingId}` });
    await statusEventually(bookingId, 'Cancelled');
    // The cancellation started the run, but the booking's steps ran under the booking event's trace.
    expect(await rowsOf(bookingId)).toEqual([
      { status: 'Cancelled', rejection_reason: null, correlation_id: `book-${bookingId}` },
    ]);
  });

  it('many bookings with duplicates and cancellations interleaved each end in the right state, one row each', async () => {
    const ids = Array.from({ length: 24 }, newBookingId);
    const cancelled = new Set(ids.filter((_, i) => i % 3 === 0));
    // Round-robin over the bookings, so events of different bookings interleave on every partition.
    const perBooking = ids.map((id) => [
      [topics.bookingEvents, id, bookingEvent(id)],
      ...(cancelled.has(id) ? [[topics.cancellations, id, cancellationEvent(id)]] : []),
      [topics.bookingEvents, id, bookingEvent(id)],
    ] as const);
    const sends = perBooking.flatMap((_, step) => perBooking.map((events) => events[step])).filter(Boolean);
    for (const [topic, key, value] of sends as Array<readonly [string, string, object]>) await publish(topic, key, value);

    const rows = await eventually(
      async () =>
        (await stack.db.query('SELECT booking_id, status FROM bookings WHERE booking_id = ANY($1)', [ids])).rows as Array<{
          booking_id: string;
          status: string;
        }>,
      (rs) => rs.length === ids.length && rs.every((r) => r.status === (cancelled.has(r.booking_id) ? 'Cancelled' : 'Accepted')),
    );
    expect(rows).toHaveLength(24);
  });

  it('refuses a cancellation by someone who does not own the booking', async () => {
    const bookingId = newBookingId();
    await publish(topics.bookingEvents, bookingId, bookingEvent(bookingId));
    await statusEventually(bookingId, 'Accepted');
    await publish(topics.cancellations, bookingId, cancellationEvent(bookingId, `${stranger}@example.com`));
    const state = await eventually(() => stateOf(bookingId), (s) => s?.refusedCancellations === 1);
    expect(state?.status).toBe('Accepted');
    expect((await rowsOf(bookingId))[0]?.status).toBe('Accepted');
  });

  it('resolves the owner by email or username too', async () => {
    const bookingId = newBookingId();
    await publish(topics.bookingEvents, bookingId, bookingEvent(bookingId, `${owner}@example.com`));
    await statusEventually(bookingId, 'Accepted');
    await publish(topics.cancellations, bookingId, cancellationEvent(bookingId, `owner_${stack.runId}`));
    await statusEventually(bookingId, 'Cancelled');
  });

  it('recordBooking run again for a booking it recorded writes nothing and reports what the row holds', async () => {
    // What a retried local step does after its first attempt committed but was not acknowledged.
    const { recordBooking } = createBookingActivities(stack.db);
    const accepted = newBookingId();
    expect(await recordBooking(bookingEvent(accepted))).toEqual({ status: 'Accepted' });
    expect(await recordBooking({ ...bookingEvent(accepted), roomId: 'room_missing' })).toEqual({ status: 'Accepted' });
    const rejected = newBookingId();
    const reason = { status: 'Rejected', rejectionReason: 'unknown room room_missing' };
    expect(await recordBooking(bookingEvent(rejected, owner, 'room_missing'))).toEqual(reason);
    expect(await recordBooking(bookingEvent(rejected))).toEqual(reason);
    expect((await rowsOf(accepted)).map((r) => r.status)).toEqual(['Accepted']);
    expect((await rowsOf(rejected)).map((r) => r.status)).toEqual(['Rejected']);
    // Once cancelled, the row says so to a later run, which has nothing left to do.
    expect(await createBookingActivities(stack.db).cancelBooking(accepted, owner)).toBe('Cancelled');
    expect(await recordBooking(bookingEvent(accepted))).toEqual({ status: 'Cancelled' });
    expect((await rowsOf(accepted)).map((r) => r.status)).toEqual(['Cancelled']);
  });

  it('an unknown user is a recorded, visible rejection and the workflow completes', async () => {
    const bookingId = newBookingId();
    await publish(topics.bookingEvents, bookingId, bookingEvent(bookingId, 'nobody_at_all'));
    await statusEventually(bookingId, 'Rejected');
    const handle = stack.client.workflow.getHandle(bookingWorkflowId(bookingId));
    expect(await handle.result()).toMatchObject({ status: 'Rejected', rejectionReason: 'unknown user nobody_at_all' });
    expect((await handle.describe()).typedSearchAttributes.get(pipelineStatusKey)).toBe('Rejected');
    expect((await rowsOf(bookingId))[0]?.rejection_reason).toBe('unknown user nobody_at_all');
  });

  it('parks unparseable and invalid events with the reason, keeps the partition moving, and replays a fixed one', async () => {
    const bookingId = newBookingId();
    // Same key, so both land on one partition in this order.
    await publish(topics.bookingEvents, bookingId, '{"bookingId": ');
    await publish(topics.bookingEvents, bookingId, { ...bookingEvent(bookingId), guests: 0 }, { 'correlation-id': `bad-${bookingId}` });
    // Another booking under its own key (the bridge parks a key that contradicts the event), on the same partition.
    let other = newBookingId();
    while (partitionOf(other) !== partitionOf(bookingId)) other = newBookingId();
    const [sent] = await stack.producer.send({ topic: topics.bookingEvents, messages: [{ key: other, value: JSON.stringify(bookingEvent(other)) }] });
    expect(sent!.partition).toBe(partitionOf(bookingId));
    await statusEventually(other, 'Accepted');
    // The group has committed past all three: nothing of that partition is held back.
    await eventually(() => stack.committedOffset(bridge, topics.bookingEvents, sent!.partition), (o) => o > Number(sent!.baseOffset));

    const parked = await eventually(
      async () => (await stack.parkedEvents.list({ topic: topics.bookingEvents })).filter((p) => p.record?.key?.toString() === bookingId),
      (ps) => ps.length === 2,
    );
    // Records that cannot be decoded are parked side by side, in no particular order.
    const unparseable = parked.find((p) => p.record?.value?.toString() === '{"bookingId": ') as ParkedEvent;
    const invalid = parked.find((p) => p !== unparseable) as ParkedEvent;
    expect(unparseable.reason).toMatch(/^unparseable JSON/);
    expect(unparseable.record?.value?.toString()).toBe('{"bookingId": ');
    expect(JSON.parse(invalid.record!.value!.toString())).toEqual({ ...bookingEvent(bookingId), guests: 0 });
    expect(invalid.reason).toBe('schema violation: guests: Too small: expected number to be >0');
    expect(headersAsText(invalid.record?.headers)).toMatchObject({ 'correlation-id': `bad-${bookingId}` });
    expect(invalid.correlationId).toBe(`bad-${bookingId}`);

    // What the operator runs: the list, then a replay with a corrected payload.
    const listed = await replayParked(['--list', '--topic', topics.bookingEvents]);
    expect(listed).toContain(`bad-${bookingId}`);
    expect(listed).toContain('schema violation: guests: Too small');
    // The corrected payload on standard input, never on the command line (`--payload` is refused).
    await expect(replayParked([String(invalid.id), '--payload', '{}'])).rejects.toThrow(/--payload is not accepted/);
    expect(await replayParked([String(invalid.id), '--payload-file', '-'], JSON.stringify(bookingEvent(bookingId)))).toContain(
      `Replayed parked event ${invalid.id} to ${topics.bookingEvents} with a corrected payload`,
    );
    await statusEventually(bookingId, 'Accepted');
    expect((await stack.parkedEvents.list({ topic: topics.bookingEvents })).map((p) => p.id)).not.toContain(invalid.id);
  });
});
