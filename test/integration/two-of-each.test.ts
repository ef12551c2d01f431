import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingEventsTopic, bookingTaskQueue, bookingWorkflowId } from '../../src/contracts/booking';
import { bookingPipeline } from '../../src/pipelines/booking';
import { bookingRequested } from '../support/booking-events';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

const group = bookingPipeline.bridge!.consumerGroup;
const topics = bookingPipeline.bridge!.consumes.map((t) => t.topic);
/** Bookings in the stream; every tenth is sent twice, as a producer's retry would. */
const bookings = 200;
const perSecond = 25;

/** One of the processes `npm start` and compose run, started from its real entry point. */
interface Replica {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** The Kafka client ID its bridges join their groups with (`<KAFKA_CLIENT_ID>-bridge`). */
  clientId: string;
}

/**
 * Two bridge processes (one consumer group per pipeline) and two worker processes (one task queue
 * per pipeline), as a platform runs them for availability, on the booking pipeline's own topics,
 * group and task queue (no other test uses them). A stream of bookings goes in; halfway through,
 * one bridge and one worker are SIGKILLed, as a node failure would, the bridge while it holds
 * records Temporal has not acknowledged (its way to Temporal cut). The survivors must take over
 * the dead bridge's partitions from its last committed offset (committed only after Temporal
 * acknowledged each record) and the dead worker's tasks, so that every booking ends up written once,
 * by one run, and the group's lag returns to 0.
 */
describe('two bridges and two workers', () => {
  let stack: RealStack;
  let admin: Admin;
  let user: string;
  let room: string;
  /** Bridge A's way to Temporal, cut before the kill so that A dies holding records Temporal never acknowledged. */
  let temporalForA: TcpProxy;
  const replicas: Replica[] = [];
  const bookingIds: string[] = [];

  const start = (kind: 'bridges' | 'workers', name: string, env: NodeJS.ProcessEnv): Replica => {
    const logFile = path.join(mkdtempSync(path.join(tmpdir(), `two-of-each-${name}-`)), `${name}.log`);
    const clientId = `two-of-each-${name}-${stack.runId}`;
    const child = spawn(process.execPath, ['--import', 'tsx', `src/${kind}/main.ts`], {
      env: { ...process.env, ...env, LOG_FILE: logFile, LOG_LEVEL: 'info', SERVICE_NAME: name, KAFKA_CLIENT_ID: clientId },
      stdio: 'ignore',
    });
    const replica = { name, child, logFile, clientId: `${clientId}-bridge` };
    replicas.push(replica);
    return replica;
  };

  /** The task-queue pollers Temporal has seen, by the SDK's identity `<pid>@<host>`. */
  const pollerPids = async () => {
    const { pollers } = await stack.client.workflowService.describeTaskQueue({
      namespace: stack.config.TEMPORAL_NAMESPACE,
      taskQueue: { name: bookingTaskQueue },
      taskQueueType: 1,
    });
    return pollers.map((p) => Number(p.identity?.split('@')[0]));
  };

  /** The booking group's state and, by Kafka client ID, the partitions each member holds. */
  const describeGroup = async () => {
    const [described] = (await admin.describeGroups([group])).groups;
    const members = (described?.members ?? []).map((m) => {
      const decoded = m.memberAssignment.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
      const partitions = Object.values(decoded?.assignment ?? {}).reduce((n, ps) => n + ps.length, 0);
      return { clientId: m.clientId, partitions };
    });
    return { state: described?.state, members };
  };

  /** Records behind on each of the group's partitions: the topics' ends minus what the group committed. */
  const lag = async () => {
    let behind = 0;
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      for (const { partition, high } of ends) {
        const at = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
        behind += Number(high) - Math.max(at, 0);
      }
    }
    return behind;
  };

  /** Every run of this file's bookings Temporal lists, closed ones included: one per booking, or a booking ran twice. */
  const runsByWorkflowId = async () => {
    const runs = new Map<string, number>();
    const query = `WorkflowType = 'bookingWorkflow' AND WorkflowId STARTS_WITH '${bookingWorkflowId(`scale-${stack.runId}-`)}'`;
    for await (const run of stack.client.workflow.list({ query })) runs.set(run.workflowId, (runs.get(run.workflowId) ?? 0) + 1);
    return runs;
  };

  beforeAll(async () => {
    stack = await connectRealStack();
    admin = stack.kafka.admin();
    await admin.connect();
    const id = stack.runId;
    [user, room] = [`user_scale_${id}`, `room_scale_${id}`];
    await stack.db.query(`INSERT INTO users (user_ref, email, username) VALUES ($1, $2, $3)`, [user, `${user}@example.com`, `scale_${id}`]);
    await stack.db.query(`INSERT INTO rooms (internal_id, name) VALUES ($1, 'Scale view')`, [room]);

    // As npm start and the image run them: from prebuilt bundles, so two workers do not bundle twice.
    const bundles = mkdtempSync(path.join(tmpdir(), 'two-of-each-bundles-'));
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/build-workflows.ts', bundles]);
    for (const name of ['workers-a', 'workers-b']) start('workers', name, { WORKFLOW_BUNDLE_DIR: bundles });
    temporalForA = await startTcpProxy(stack.config.TEMPORAL_ADDRESS);
    start('bridges', 'bridges-a', { TEMPORAL_ADDRESS: temporalForA.address });
    start('bridges', 'bridges-b', {});

    const workers = replicas.filter((r) => r.name.startsWith('workers')).map((r) => r.child.pid);
    // Bundling and two workers starting at once take minutes on a busy 2-core machine.
    await eventually(pollerPids, (pids) => workers.every((pid) => pids.includes(pid!)), 300_000);
  }, 420_000);

  afterAll(async () => {
    for (const { child } of replicas) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(
      replicas.map(({ child }) => (child.exitCode === null && child.signalCode === null ? new Promise((r) => child.once('exit', r)) : undefined)),
    );
    // The bookings' runs wait for cancellations until their stay ends, years ahead.
    for (let i = 0; i < bookingIds.length; i += 50) {
      await Promise.all(
        bookingIds.slice(i, i + 50).map((b) => stack.client.workflow.getHandle(bookingWorkflowId(b)).terminate('test over').catch(() => undefined)),
      );
    }
    await temporalForA?.close();
    await admin?.disconnect();
    await stack?.stop();
  }, 120_000);

  it('share the partitions and the task queue, and lose or double nothing when one of each is SIGKILLed mid-stream', async () => {
    const [bridgeA, bridgeB] = replicas.filter((r) => r.name.startsWith('bridges'));
    const [workerA, workerB] = replicas.filter((r) => r.name.startsWith('workers'));

    // Kafka spreads the group's six partitions over both bridge processes.
    const shared = await eventually(
      describeGroup,
      (g) => g.state === 'Stable' && [bridgeA, bridgeB].every((b) => g.members.some((m) => m.clientId === b!.clientId && m.partitions > 0)),
      90_000,
    );
    expect(shared.members.map((m) => m.partitions).reduce((a, b) => a + b)).toBe(6);

    const send = async (from: number, to: number) => {
      const startedAt = Date.now();
      for (let i = from; i < to; i++) {
        const bookingId = `scale-${stack.runId}-${i}`;
        bookingIds.push(bookingId);
        const event = bookingRequested(bookingId, user, room);
        const copies = i % 10 === 0 ? 2 : 1;
        for (let c = 0; c < copies; c++) await stack.publish(bookingEventsTopic, bookingId, event, { 'correlation-id': `corr-${bookingId}` });
        const due = startedAt + ((i - from + 1) / perSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    };

    await send(0, bookings / 2);
    // Bridge A loses Temporal: the records of its partitions are fetched, held and retried, not
    // committed. B's go on and are committed within a second or two.
    await temporalForA.cut();
    await send(bookings / 2, bookings / 2 + 30);
    await sleep(5_000);
    const heldAtKill = await lag();
    expect(heldAtKill).toBeGreaterThan(0);
    // Both workers were polling when the kill came.
    expect(await pollerPids()).toEqual(expect.arrayContaining([workerA!.child.pid, workerB!.child.pid]));
    bridgeA!.child.kill('SIGKILL');
    workerA!.child.kill('SIGKILL');
    await send(bookings / 2 + 30, bookings);

    // The dead bridge is evicted when its session times out (30 s); the survivor then holds all six partitions.
    const takenOver = await eventually(
      describeGroup,
      (g) => g.state === 'Stable' && g.members.length === 1 && g.members[0]!.clientId === bridgeB!.clientId,
      120_000,
    );
    expect(takenOver.members[0]!.partitions).toBe(6);

    // Every booking written exactly once ...
    const rows = await eventually(
      async () =>
        (
          await stack.db.query<{ n: string; distinct: string; accepted: string }>(
            `SELECT count(*) AS n, count(DISTINCT booking_id) AS distinct, count(*) FILTER (WHERE status = 'Accepted') AS accepted
               FROM bookings WHERE booking_id LIKE $1`,
            [`scale-${stack.runId}-%`],
          )
        ).rows[0]!,
      (r) => Number(r.n) >= bookings,
      180_000,
    );
    expect(rows).toEqual({ n: String(bookings), distinct: String(bookings), accepted: String(bookings) });
    // ... by one run each: none started twice, none missing ...
    const runs = await eventually(runsByWorkflowId, (r) => r.size >= bookings, 60_000);
    expect(runs.size).toBe(bookings);
    expect([...runs.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    // ... and every record committed: the survivor drained what the dead bridge had not committed.
    expect(await eventually(lag, (n) => n === 0, 60_000)).toBe(0);

    // The survivors lived through it: neither exited.
    expect([bridgeB!.child.exitCode, workerB!.child.exitCode]).toEqual([null, null]);
  }, 600_000);
});
