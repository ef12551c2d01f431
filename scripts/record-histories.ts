/**
 * Records fresh workflow histories from real runs on the local stack into test/histories/, for the
 * replay tests. Run after a workflow change is released: `npm run record-histories`.
 * Existing files are kept (they are the old versions that must still replay); a file is written
 * only when its name is new, so bump HISTORY_VERSION when recording after a change.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { createPool, createTemporalClient } from '../src/connections';
import { bookingRequestedSignal, bookingWorkflowId, cancellationRequestedSignal } from '../src/contracts/booking';
import { operatorDecisionSignal, pipelineStatusKey } from '../src/contracts/pipeline';
import { createActivities } from '../src/workers/activities';
import { installTemporalRuntime } from '../src/workers/runtime';
import { workflowsPath } from '../src/workers/workflows-path';
import { bookingWorkflow } from '../src/workflows';
import { temporalCli } from '../test/support/temporal-cli';

const HISTORY_VERSION = process.env.HISTORY_VERSION ?? 'v1';
const historiesDir = path.resolve(__dirname, '..', 'test', 'histories');

async function main(): Promise<void> {
  installTemporalRuntime();
  const config = loadConfig();
  const db = createPool(config);
  const client = await createTemporalClient(config);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const run = randomUUID().slice(0, 8);
  const taskQueue = `record-${run}`;
  const owner = `user_rec_${run}`;
  const room = `room_rec_${run}`;
  await db.query('INSERT INTO users (user_ref) VALUES ($1)', [owner]);
  await db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [room]);

  let failCreates = false;
  const real = createActivities({ db });
  const activities = {
    ...real,
    createBooking: async (...args: Parameters<typeof real.createBooking>) => {
      if (failCreates) throw ApplicationFailure.create({ message: 'recorded outage' });
      return real.createBooking(...args);
    },
  };
  const worker = await Worker.create({ connection, taskQueue, workflowsPath, activities });
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
  const start = (bookingId: string, signal: any, arg: unknown) =>
    client.workflow.signalWithStart(bookingWorkflow, {
      workflowId: bookingWorkflowId(bookingId),
      taskQueue,
      signal,
      signalArgs: [arg],
    });

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
      failCreates = true;
      const h = await start(id, bookingRequestedSignal, booking(id));
      while ((await h.describe()).typedSearchAttributes.get(pipelineStatusKey) !== 'NeedsAttention') {
        await new Promise((r) => setTimeout(r, 500));
      }
      failCreates = false;
      await h.signal(operatorDecisionSignal, 'retry');
      await h.signal(cancellationRequestedSignal, cancellation(id));
      await h.result();
      return h.workflowId;
    },
  };

  await mkdir(historiesDir, { recursive: true });
  await worker.runUntil(async () => {
    for (const [name, scenario] of Object.entries(scenarios)) {
      const file = path.join(historiesDir, `${name}-${HISTORY_VERSION}.json`);
      if (existsSync(file)) {
        console.log(`kept     ${path.relative(process.cwd(), file)}`);
        continue;
      }
      const workflowId = await scenario();
      // The CLI's JSON is the format Temporal documents for replay (and the Web UI downloads).
      await writeFile(file, await temporalCli('workflow', 'show', '--workflow-id', workflowId, '--output', 'json'));
      console.log(`recorded ${path.relative(process.cwd(), file)}`);
    }
  });
  await connection.close();
  await client.connection.close();
  await db.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
