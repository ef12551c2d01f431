import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { bookingStateQuery, bookingWorkflowId } from '../../src/contracts/booking';
import { attentionKindKey, attentionQuery, failedStepKey } from '../../src/contracts/pipeline';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';
import { temporalCli } from '../support/temporal-cli';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { readKeyRing } from '../../src/codec/key-ring';
import type { Pool } from 'pg';
import { createOwnerPool } from '../support/owner-db';

/**
 * The DLQ replacement, end to end: a step that keeps failing parks its workflow as
 * NeedsAttention, an operator finds it and retries it with the real `temporal` CLI.
 */
describe('an operator retries a parked workflow with the temporal CLI', () => {
  let stack: RealStack;
  // Only the tables' owner may add a trigger; the workers connect as the application role.
  let ownerDb: Pool;
  let bookingId: string;
  let topics: { bookingEvents: string; cancellations: string };
  const trigger = () => `fail_booking_${stack.runId}`;

  beforeAll(async () => {
    stack = await connectRealStack();
    ownerDb = createOwnerPool(stack.config);
    const id = stack.runId;
    bookingId = `booking_parked_${id}`;
    topics = { bookingEvents: `booking-events-${id}`, cancellations: `booking-cancellations-${id}` };
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [`user_${id}`]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [`room_${id}`]);
    // A real database failure for this one booking: inserts of it raise until the trigger is dropped.
    await ownerDb.query(`
      CREATE FUNCTION ${trigger()}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.booking_id = '${bookingId}' THEN RAISE EXCEPTION 'bookings table is read-only (test outage)'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER ${trigger()} BEFORE INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION ${trigger()}();`);
    await stack.createTopics(topics.bookingEvents, topics.cancellations);
    await stack.startWorker(`bookings-${id}`);
    await stack.startBridge(bookingRoutes({ taskQueue: `bookings-${id}`, topics }));
  });

  afterAll(async () => {
    await ownerDb.query(`DROP TRIGGER IF EXISTS ${trigger()} ON bookings; DROP FUNCTION IF EXISTS ${trigger()}()`);
    await ownerDb.end();
    await stack.client.workflow.getHandle(bookingWorkflowId(bookingId)).terminate('test finished').catch(() => undefined);
    await stack.stop();
  });

  it('parks as NeedsAttention at recordBooking, resumes after the outage is fixed and an operator retries, and completes', async () => {
    const workflowId = bookingWorkflowId(bookingId);
    await stack.publish(topics.bookingEvents, bookingId, bookingRequested(bookingId, `user_${stack.runId}`, `room_${stack.runId}`), {
      'correlation-id': `corr-${bookingId}`,
    });

    // What the on-call engineer runs: the list of workflows waiting for them.
    const parked = await eventually(
      () =>
        temporalCli('workflow', 'list', '--query', `PipelineStatus='NeedsAttention' AND WorkflowId='${workflowId}'`, '--output', 'json'),
      (out) => out.includes(workflowId),
      90_000,
    );
    expect(parked).toContain(workflowId);
    const [attention] = JSON.parse(
      await temporalCli('workflow', 'query', '--workflow-id', workflowId, '--name', 'attention', '--output', 'json'),
    ).queryResult;
    expect(attention).toMatchObject({
      status: 'NeedsAttention',
      failedStep: 'recordBooking',
      kind: 'Outage',
      // A database error leaves the activity as its SQLSTATE; a trigger's own RAISE keeps its text.
      lastError: expect.stringMatching(/\(SQLSTATE P0001\b.*\): bookings table is read-only \(test outage\)$/),
    });
    expect((await stack.db.query('SELECT 1 FROM bookings WHERE booking_id = $1', [bookingId])).rowCount).toBe(0);

    // What the Web UI shows of it: whose run, what it is doing, what failed and what to run.
    const handle = stack.client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    expect(await description.staticSummary()).toBe(`booking ${bookingId} · correlation corr-${bookingId}`);
    expect(description.typedSearchAttributes.get(attentionKindKey)).toBe('Outage');
    expect(description.typedSearchAttributes.get(failedStepKey)).toBe('recordBooking');
    expect(await handle.query(bookingStateQuery)).toMatchObject({ bookingId, status: 'Processing' });
    const details = (await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata')).currentDetails;
    expect(details).toContain('`recordBooking`: outage');
    expect(details).toContain('bookings table is read-only (test outage)');
    expect(details).toContain(`temporal workflow signal \\\n  --workflow-id ${workflowId} \\\n  --name operatorDecision --input '"retry"'`);
    const started = (await handle.fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes!;
    // Stored encrypted (src/codec); the stack's key ring reads it.
    const stored = started.input!.payloads![0]!;
    expect(Buffer.from(stored.metadata!.encoding!).toString()).toBe('binary/encrypted');
    const [decoded] = await new EncryptionCodec(readKeyRing(stack.config.PAYLOAD_KEY_RING_FILE)).decode([stored]);
    const input = JSON.parse(Buffer.from(decoded!.data!).toString());
    expect(input).toMatchObject({ bookingId, userId: `user_${stack.runId}`, trace: { correlationId: `corr-${bookingId}` } });

    // The outage is over, but the run's next retry by itself is minutes away: without the
    // operator's signal it is still parked a few seconds later.
    await ownerDb.query(`DROP TRIGGER ${trigger()} ON bookings`);
    expect(attention).toMatchObject({ retryingEvery: '2 minutes' });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await handle.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', failedStep: 'recordBooking' });
    expect((await stack.db.query('SELECT 1 FROM bookings WHERE booking_id = $1', [bookingId])).rowCount).toBe(0);
    await temporalCli('workflow', 'signal', '--workflow-id', workflowId, '--name', 'operatorDecision', '--input', '"retry"');

    const rows = await eventually(
      async () => (await stack.db.query('SELECT status FROM bookings WHERE booking_id = $1', [bookingId])).rows,
      (r) => r.length === 1,
    );
    expect(rows).toEqual([{ status: 'Accepted' }]);
    const running = await eventually(
      () => temporalCli('workflow', 'list', '--query', `PipelineStatus='Running' AND WorkflowId='${workflowId}'`, '--output', 'json'),
      (out) => out.includes(workflowId),
    );
    expect(running).toContain(workflowId);
    // Nothing of the old failure is left: no FailedStep at all (not an empty one), no error, no details.
    const resumed = await handle.describe();
    expect(resumed.typedSearchAttributes.get(failedStepKey)).toBeUndefined();
    expect(resumed.typedSearchAttributes.get(attentionKindKey)).toBeUndefined();
    const unset = await eventually(
      () => temporalCli('workflow', 'list', '--query', `FailedStep IS NULL AND AttentionKind IS NULL AND WorkflowId='${workflowId}'`, '--output', 'json'),
      (out) => out.includes(workflowId),
    );
    expect(unset).toContain(workflowId);
    expect(await handle.query(attentionQuery)).toEqual({ status: 'Running' });
    expect((await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata')).currentDetails).toBe('');
    expect(await handle.query(bookingStateQuery)).toMatchObject({ status: 'Accepted' });

    // From here on it is an ordinary booking: its owner cancels it and the workflow completes.
    await stack.publish(topics.cancellations, bookingId, {
      bookingId,
      userId: `user_${stack.runId}`,
      timestamp: '2031-01-01T00:00:00Z',
    });
    expect(await stack.client.workflow.getHandle(workflowId).result()).toMatchObject({ status: 'Cancelled' });
    const completed = await eventually(
      () => temporalCli('workflow', 'list', '--query', `PipelineStatus='Completed' AND WorkflowId='${workflowId}'`, '--output', 'json'),
      (out) => out.includes(workflowId),
    );
    expect(completed).toContain(workflowId);
  });
});
