/**
 * Not a test: what eager workflow start would save a booking, measured before building it (issue
 * 20). One process runs a client on its workers' NativeConnection, which eager start needs, and
 * starts EAGER_START_BOOKINGS (300) bookings, 20 at a time, in each of three ways per round:
 *
 *   signal-with-start  bookingWorkflow, as the bridge starts it today (the event as input and signal)
 *   start              bookingFromInput (bench/eager-start-workflow.ts): the same commands, the event as input
 *   eager start        the same with `requestEagerStart`: the server hands the first workflow task back
 *                      in its answer, when the process's worker has a free slot, instead of through matching
 *
 * and prints, per booking, the Temporal server's CPU (its pid in TEMPORAL_PID) and this process's,
 * from the first start to the last booking row, plus 3 s for the server's visibility queue. No
 * payload codec, no bridge, no Kafka: the difference between the modes is the figure, not the
 * absolute values. On a stack of its own:
 *
 *   source scripts/isolated-stack.sh && isolated_stack eager /tmp/eager-stack 18000
 *   bash scripts/stack.sh up && node --import tsx src/migrate.ts
 *   TEMPORAL_PID=$(cat $STACK_STATE_DIR/run/temporal.pid) npx tsx bench/eager-start.ts
 *   STACK_STATE_DIR=/tmp/eager-stack bash scripts/stack.sh down
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createBookingActivities } from '../src/activities/booking';
import { loadConfig } from '../src/config';
import { temporalConnectionOptions } from '../src/connection-options';
import { createPool } from '../src/connections';
import { bookingRequestedSignal, bookingWorkflowId } from '../src/contracts/booking';
import { treeCpuSeconds } from './end-to-end/measure';
import { bookingFromInput } from './eager-start-workflow';

const bookings = Number(process.env.EAGER_START_BOOKINGS ?? 300);
const rounds = Number(process.env.EAGER_START_ROUNDS ?? 3);
// Eager start needs a free workflow task slot in this process: with the default 20, most starts of a burst find none.
const slots = Number(process.env.EAGER_START_SLOTS ?? 100);
const temporalPid = Number(process.env.TEMPORAL_PID);
const modes = ['signal-with-start', 'start', 'eager start'] as const;

/** CPU time (user + system) of a process so far, in ms. */
const cpuMs = (pid: number) => 1000 * treeCpuSeconds(pid);

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPool(config);
  await db.query("INSERT INTO users (user_ref) VALUES ('eager_start_user') ON CONFLICT DO NOTHING");
  await db.query("INSERT INTO rooms (internal_id) VALUES ('eager_start_room') ON CONFLICT DO NOTHING");
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const run = Date.now().toString(36);
  const taskQueue = { fromInput: `eager-start-${run}`, signalled: `eager-start-${run}-sws` };
  const activities = createBookingActivities(db);
  const workerOptions = { connection, namespace: config.TEMPORAL_NAMESPACE, activities, maxCachedWorkflows: slots, maxConcurrentWorkflowTaskExecutions: slots };
  const workers = [
    await Worker.create({ ...workerOptions, taskQueue: taskQueue.fromInput, workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('./eager-start-workflow') }) }),
    await Worker.create({ ...workerOptions, taskQueue: taskQueue.signalled, workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../src/workflows/booking') }) }),
  ];
  const running = Promise.all(workers.map((w) => w.run()));

  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      const prefix = `eager-${run}-${round}-${mode.replaceAll(' ', '-')}-`;
      const server0 = cpuMs(temporalPid);
      const self0 = cpuMs(process.pid);
      const t0 = Date.now();
      const ids = Array.from({ length: bookings }, (_, i) => `${prefix}${i}`);
      for (let i = 0; i < ids.length; i += 20) {
        await Promise.all(
          ids.slice(i, i + 20).map((bookingId) => {
            const event = { bookingId, userId: 'eager_start_user', roomId: 'eager_start_room', guests: 2, startDate: '2031-01-15T15:00:00Z', endDate: '2031-01-18T11:00:00Z' };
            const workflowId = bookingWorkflowId(bookingId);
            if (mode === 'signal-with-start') {
              const traced = { ...event, trace: {} };
              return client.workflow.signalWithStart('bookingWorkflow', { workflowId, taskQueue: taskQueue.signalled, args: [traced], signal: bookingRequestedSignal, signalArgs: [traced] });
            }
            return client.workflow.start(bookingFromInput, { workflowId, taskQueue: taskQueue.fromInput, args: [event], requestEagerStart: mode === 'eager start' });
          }),
        );
      }
      for (;;) {
        const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM bookings WHERE booking_id LIKE $1', [`${prefix}%`]);
        if (rows[0]!.n >= bookings) break;
        await sleep(100);
      }
      const seconds = (Date.now() - t0) / 1000;
      await sleep(3000);
      const perBooking = (ms: number) => (ms / bookings).toFixed(1);
      console.log(
        `round ${round + 1}, ${mode.padEnd(17)}: server ${perBooking(cpuMs(temporalPid) - server0)} ms, ` +
          `this process ${perBooking(cpuMs(process.pid) - self0)} ms per booking; ${(bookings / seconds).toFixed(0)} bookings/s`,
      );
    }
  }
  // The runs stay open (their stays end in 2031): a stack of its own is thrown away afterwards.
  for (const worker of workers) worker.shutdown();
  await running;
  await db.end();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
