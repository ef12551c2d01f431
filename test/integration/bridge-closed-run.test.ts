import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing, rotated } from '../../src/codec/key-ring';
import { bookingRequestedSignal, bookingWorkflowId } from '../../src/contracts/booking';
import { pipelineStartOptions } from '../../src/trace';
import { bookingWorkflow } from '../../src/workflows/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

/** A signal-with-start for a run that has closed, as the real server answers it. */
describe('the bridge and a booking run that has already closed, on the real stack', () => {
  let stack: RealStack;
  const others: RealStack[] = [];
  const topics = () => ({ bookingEvents: `booking-events-closed-${stack.runId}`, cancellations: `booking-cancellations-closed-${stack.runId}` });
  const bookingId = () => `booking_closed_${stack.runId}`;

  beforeAll(async () => {
    stack = await connectRealStack();
    await stack.createTopics(topics().bookingEvents, topics().cancellations);
    // No worker: the run is closed by the test, not by the workflow.
    await stack.startBridge(bookingRoutes({ taskQueue: `closed-${stack.runId}`, topics: topics() }));
  });

  afterAll(async () => {
    await stack.client.workflow.getHandle(bookingWorkflowId(bookingId())).terminate('test finished').catch(() => undefined);
    for (const other of others) await other.stop();
    await stack?.stop();
  });

  it('parks an event whose run has already closed, with the reason, instead of dropping it as a duplicate', async () => {
    const event = bookingRequested(bookingId(), 'user_1', 'room_1');
    await stack.publish(topics().bookingEvents, bookingId(), event, { 'correlation-id': `first-${bookingId()}` });
    const handle = stack.client.workflow.getHandle(bookingWorkflowId(bookingId()));
    await eventually(() => handle.describe().catch(() => undefined), (d) => d !== undefined, 30_000);
    await handle.terminate('closed before the late event');

    await stack.publish(topics().bookingEvents, bookingId(), event, { 'correlation-id': `late-${bookingId()}` });
    const parked = await eventually(
      async () => (await stack.parkedEvents.list({ topic: topics().bookingEvents })).filter((p) => p.record?.key?.toString() === bookingId()),
      (ps) => ps.length === 1,
      30_000,
    );
    expect(parked[0]).toMatchObject({
      correlationId: `late-${bookingId()}`,
      reason: `workflow ${bookingWorkflowId(bookingId())} already closed (Terminated); the event was not delivered`,
    });
  });

  it("parks an event whose closed run's result or memo is under a key the bridge's ring lacks, naming the key, and the partition moves on", async () => {
    // The workers were restarted with a rotated ring, the bridge not: it still encrypts with the old
    // key, which the workers keep, but cannot read what the workers wrote since.
    const bridgeRing = newKeyRing(`k-bridge-${stack.runId}`);
    const workerRing = rotated(bridgeRing, `k-worker-${stack.runId}`);
    const bridgeSide = await connectRealStack({ dataConverter: dataConverterWith(bridgeRing) });
    others.push(bridgeSide);
    const workerSide = await connectRealStack({ dataConverter: dataConverterWith(workerRing) });
    others.push(workerSide);
    const id = bridgeSide.runId;
    const keyTopics = { bookingEvents: `booking-events-keys-${id}`, cancellations: `booking-cancellations-keys-${id}` };
    await bridgeSide.createTopics(keyTopics.bookingEvents, keyTopics.cancellations);
    const taskQueue = `closed-keys-${id}`;
    await workerSide.startWorker(taskQueue);
    const bridge = await bridgeSide.startBridge(bookingRoutes({ taskQueue, topics: keyTopics }));

    // An unknown user: the booking is rejected and its run completes at once.
    const first = `booking_keys_${id}`;
    const event = bookingRequested(first, 'user_nobody', 'room_nowhere');
    await bridgeSide.publish(keyTopics.bookingEvents, first, event);
    const handle = bridgeSide.client.workflow.getHandle(bookingWorkflowId(first));
    await eventually(() => handle.describe().then((d) => d.status.name, () => undefined), (status) => status === 'COMPLETED', 30_000);
    await expect(handle.result()).rejects.toThrow(`key ID ${workerRing.currentKeyId}, which is not in the payload key ring`);

    // The same event again, then another booking's on the same partition.
    const send = async (bookingId: string, value: object, correlationId: string) =>
      (await bridgeSide.producer.send({ topic: keyTopics.bookingEvents, messages: [{ key: bookingId, value: JSON.stringify(value), headers: { 'correlation-id': correlationId } }] }))[0]!;
    const again = await send(first, event, `again-${first}`);
    let later = `booking_keys_later_${id}`;
    for (let n = 0; partitionOf(keyTopics.bookingEvents, later) !== again.partition; n++) later = `booking_keys_later_${id}_${n}`;
    const next = await send(later, bookingRequested(later, 'user_nobody', 'room_nowhere'), `later-${later}`);
    expect(next.partition).toBe(again.partition);
    await eventually(() => bridgeSide.committedOffset(bridge, keyTopics.bookingEvents, next.partition), (offset) => offset > Number(next.baseOffset));

    const parked = (await bridgeSide.parkedEvents.list({ topic: keyTopics.bookingEvents })).filter((p) => p.record?.key?.toString() === first);
    expect(parked.map((p) => [p.correlationId, p.reason])).toEqual([
      [
        `again-${first}`,
        `workflow ${bookingWorkflowId(first)} has closed, but how it ended cannot be read here: Encrypted payload names key ID ${workerRing.currentKeyId}, which is not in the payload key ring; give this bridge's key ring (PAYLOAD_KEY_RING_FILE) that key, restart it, and replay the event`,
      ],
    ]);
    // The later booking was delivered: its run exists.
    await bridgeSide.client.workflow.getHandle(bookingWorkflowId(later)).describe();

    // A run another process started under the new key (a bridge replica already restarted): here
    // not even its memo can be read.
    const other = `booking_keys_other_${id}`;
    const trace = { correlationId: `other-${other}` };
    const input = [{ ...bookingRequested(other, 'user_nobody', 'room_nowhere'), trace }] as const;
    const otherRun = await workerSide.client.workflow.signalWithStart(bookingWorkflow, {
      workflowId: bookingWorkflowId(other),
      taskQueue,
      args: [...input],
      signal: bookingRequestedSignal,
      signalArgs: [...input],
      ...pipelineStartOptions(trace, `booking ${other}`),
    });
    await otherRun.result();
    const otherAgain = await send(other, bookingRequested(other, 'user_nobody', 'room_nowhere'), `again-${other}`);
    await eventually(() => bridgeSide.committedOffset(bridge, keyTopics.bookingEvents, otherAgain.partition), (offset) => offset > Number(otherAgain.baseOffset));
    const parkedOther = (await bridgeSide.parkedEvents.list({ topic: keyTopics.bookingEvents })).filter((p) => p.record?.key?.toString() === other);
    expect(parkedOther.map((p) => p.reason)).toEqual([
      expect.stringContaining(`workflow ${bookingWorkflowId(other)} has closed, but how it ended cannot be read here: Encrypted payload names key ID ${workerRing.currentKeyId},`),
    ]);
  });
});

/** The partition the producer's default partitioner picks for `key` on a 3-partition topic. */
const partitionOf = (topic: string, key: string) =>
  Partitioners.DefaultPartitioner()({
    topic,
    partitionMetadata: [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })),
    message: { key, value: null },
  });
