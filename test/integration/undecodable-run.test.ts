import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing, promoted, staged, type KeyRing } from '../../src/codec/key-ring';
import { createRedis } from '../../src/connections';
import { bookingRequestedSignal, bookingStateQuery, bookingWorkflowId } from '../../src/contracts/booking';
import { failedStepKey, pipelineStatusKey } from '../../src/contracts/pipeline';
import { undecodableRunWorkflowId } from '../../src/contracts/undecodable-run';
import { bookingPipeline } from '../../src/pipelines/booking';
import { pipelineDataConverter, pipelineWorkerOptions } from '../../src/workers/pipeline-workers';
import { bookingWorkflow } from '../../src/workflows/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/**
 * A key rotation done in the wrong order, on the real stack: the client encrypts with a key the
 * worker's ring never got. The run cannot tell anyone; the worker flags it where operators look.
 */
describe('a run whose workflow task the worker cannot decode', () => {
  let stack: RealStack;
  let writer: RealStack;
  const stops: Array<() => Promise<void>> = [];
  const started: string[] = [];

  beforeAll(async () => {
    stack = await connectRealStack();
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await Promise.all(started.map((id) => writer?.client.workflow.getHandle(id).terminate('test finished').catch(() => undefined)));
    await writer?.stop();
    await stack?.stop();
  });

  /** A booking worker built as src/workers/main.ts builds it, on `ring`, on its own task queue. */
  async function startBookingWorker(ring: KeyRing, taskQueue: string): Promise<() => Promise<void>> {
    // Asks every second whether the run decodes again, so the flag leaves within the test.
    const config = { ...stack.config, UNDECODABLE_RUN_CHECK_EVERY_MS: 1_000 };
    const pipeline = { ...bookingPipeline, taskQueue };
    const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterWith(ring) });
    const redis = createRedis(config);
    const worker = await Worker.create({
      connection,
      ...pipelineWorkerOptions(config, pipeline, { config, db: stack.db, producer: stack.producer, redis }, pipelineDataConverter(config, pipeline, ring, client)),
    });
    const running = worker.run();
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= (async () => {
        worker.shutdown();
        await running;
        redis.disconnect();
        await connection.close();
      })());
    stops.push(stop);
    return stop;
  }

  it('is listed as NeedsAttention/Undecodable while it is stuck, and leaves that list once a worker with the key has run it', async () => {
    const id = stack.runId;
    const userId = `user_undecodable_${id}`;
    const room = `room_undecodable_${id}`;
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [userId]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);

    // The client got the new key and made it current; the worker was left on the old ring.
    const oldRing = newKeyRing(`k1-${id}`);
    const newKeyId = `k2-${id}`;
    const newRing = promoted(staged(oldRing, newKeyId), newKeyId);
    writer = await connectRealStack({ dataConverter: dataConverterWith(newRing) });
    const taskQueue = `bookings-undecodable-${id}`;
    const stopOldWorker = await startBookingWorker(oldRing, taskQueue);

    const bookingId = `booking_undecodable_${id}`;
    const workflowId = bookingWorkflowId(bookingId);
    const flagId = undecodableRunWorkflowId(workflowId);
    started.push(workflowId, flagId);
    const booking = { ...bookingRequested(bookingId, userId, room), trace: { correlationId: `undecodable-${id}`, baggage: '' } };
    await writer.client.workflow.signalWithStart(bookingWorkflow, {
      workflowId,
      taskQueue,
      args: [booking],
      signal: bookingRequestedSignal,
      signalArgs: [booking],
    });

    // What an operator runs at 3 a.m.
    const operatorsQuery = `PipelineStatus='NeedsAttention' AND AttentionKind='Undecodable' AND WorkflowId='${flagId}'`;
    const listed = async () => {
      const ids: string[] = [];
      for await (const run of stack.client.workflow.list({ query: operatorsQuery })) ids.push(run.workflowId);
      return ids;
    };
    await eventually(listed, (ids) => ids.length === 1);

    const flag = writer.client.workflow.getHandle(flagId);
    const description = await flag.describe();
    expect(description.taskQueue).toBe(taskQueue);
    expect(description.typedSearchAttributes.get(failedStepKey)).toBe('decodePayload');
    expect(await description.staticSummary()).toBe(`Workflow ${workflowId} cannot be decoded by a worker (key ID ${newKeyId})`);
    expect(await description.staticDetails()).toContain(`give the workers of this task queue a key ring that holds key ${newKeyId}`);

    // The run itself is stuck, its task failing again and again, while the flag keeps asking (every
    // second here) and stays listed.
    const stuck = await stack.client.workflowService.describeWorkflowExecution({ namespace: stack.config.TEMPORAL_NAMESPACE, execution: { workflowId } });
    expect(stuck.workflowExecutionInfo?.status).toBe(1 /* RUNNING */);
    await eventually(
      async () => (await flag.describe()).raw.pendingActivities?.[0]?.attempt ?? 0,
      (attempt) => attempt >= 3,
    );
    expect(await listed()).toEqual([flagId]);
    const stillStuck = await stack.client.workflowService.describeWorkflowExecution({ namespace: stack.config.TEMPORAL_NAMESPACE, execution: { workflowId } });
    expect(stillStuck.pendingWorkflowTask?.attempt).toBeGreaterThan(1);

    // The fix the flag names: a worker whose ring holds the key.
    await stopOldWorker();
    await startBookingWorker(newRing, taskQueue);
    await eventually(() => writer.client.workflow.getHandle(workflowId).query(bookingStateQuery), (state) => state.status === 'Accepted');
    await flag.result();
    expect(await listed()).toEqual([]);
    expect((await flag.describe()).typedSearchAttributes.get(pipelineStatusKey)).toBe('Completed');
  });
});
