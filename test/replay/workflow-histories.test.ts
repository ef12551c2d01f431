import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { dataConverterWith } from '../../src/codec/data-converter';
import { newKeyRing } from '../../src/codec/key-ring';
import { pipelines } from '../../src/pipelines';
import { installTemporalRuntime } from '../../src/workers/runtime';
import { workflowCodeOf } from '../../src/workers/workflows-path';
import { stepsOf } from '../support/history-steps';
import { historiesDir, newestHistoryFiles, readHistory, workflowTypeOf as typeOf } from '../support/recorded-histories';

/**
 * Every history recorded from a real run (`npm run record-histories`) must still replay against
 * today's workflow code; a change that would break running workflows fails here, not in production.
 */
// The SDK's bundler and replay workers log through our logger, as a worker does, not to the console.
installTemporalRuntime();

async function loadHistories() {
  const files = (await readdir(historiesDir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => ({ workflowId: file, history: JSON.parse(await readFile(path.join(historiesDir, file), 'utf8')) })),
  );
}

/**
 * Replays `history` against `code`, a workflow module's source written beside the fixtures with its
 * imports pointing back into src/; `type`, when given, must be the history's workflow type.
 */
async function replayCopyOf(code: string, history: string, type?: string): Promise<void> {
  const file = path.resolve(__dirname, '..', 'fixtures', `workflow-copy-${randomUUID()}.ts`);
  writeFileSync(file, code.replaceAll("from '../", "from '../../src/").replaceAll("from './", "from '../../src/workflows/"));
  try {
    const recorded = JSON.parse(await readFile(path.join(historiesDir, history), 'utf8'));
    if (type) expect(typeOf(recorded)).toBe(type);
    await Worker.runReplayHistory(workflowCodeOf(file), recorded);
  } finally {
    rmSync(file);
  }
}

describe('recorded workflow histories', () => {
  it('covers every workflow type the workers run', async () => {
    const histories = await loadHistories();
    const types = new Set(histories.map((h) => typeOf(h.history)));
    const run = new Set(pipelines.flatMap((p) => p.workflowTypes));
    expect([...types].sort()).toEqual([...run].sort());
  });

  // The database, Kafka and Redis steps run as local activities in runs started now: the newest history of
  // each workflow type's main path (recorded from today's code, and replayed above) schedules
  // remotely only the calls to other systems. A step put back on a remote activity shows here once
  // recorded. (An outage's slow retries are remote activities on purpose: operator.ts.)
  it.each([
    { scenario: 'booking-cancelled-by-owner', remote: [] },
    { scenario: 'purchase-sessions-scheduled', remote: ['allocateTrainer'] },
    { scenario: 'session-window-topped-up-continued-as-new', remote: [] },
    // lookUpPayment is the payment pipeline's, on its task queue: the ledger's workers check the payment.
    // awaitDelivery is the carrier's tracking, polled by Temporal's retries (its child workflow before).
    {
      scenario: 'prescription-paid-and-delivered',
      remote: ['enrollPatient', 'selectPharmacy', 'adjudicateClaim', 'lookUpPayment', 'createShippingLabel', 'awaitDelivery'],
    },
    { scenario: 'payment-charged-and-announced', remote: ['chargeCard'] },
  ])('the newest history of $scenario schedules remotely only $remote', async ({ scenario, remote }) => {
    const history = readHistory(newestHistoryFiles().get(scenario)!);
    const scheduled: string[] = history.events.flatMap((e: any) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(stepsOf(history).filter((step) => !scheduled.includes(step)).length).toBeGreaterThan(0);
    expect([...new Set(scheduled)].sort()).toEqual([...remote].sort());
  });

  // Through the payload codec, as the workers run, with a key ring that never saw these histories:
  // they were recorded in clear text (scripts/record-histories.ts), which the codec passes through.
  // Each against its pipeline's own workflow module, as that pipeline's workers run it.
  // And with the OpenTelemetry workflow interceptors (traced), which none of them was recorded with.
  it.each(pipelines.flatMap((pipeline) => [false, true].map((traced) => ({ pipeline, name: pipeline.name, traced }))))(
    'the histories of $name all replay against the current workflow code, on a worker that encrypts its payloads (traced: $traced)',
    async ({ pipeline, traced }) => {
    const histories = (await loadHistories()).filter((h) => pipeline.workflowTypes.includes(typeOf(h.history)));
    expect(histories.length).toBeGreaterThan(0);
    const failures: string[] = [];
    const options = { ...workflowCodeOf(pipeline.workflowsPath, traced), dataConverter: dataConverterWith(newKeyRing('replay-test')) };
    for await (const result of Worker.runReplayHistories(options, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    },
  );

  describe('a copy of the booking workflow, replayed against the history of a booking cancelled by its owner', () => {
    const source = readFileSync(path.resolve(__dirname, '..', '..', 'src', 'workflows', 'booking.ts'), 'utf8');
    const resolveUserLine = /^ +const userId = await bookingStep\(\(\) => steps\.resolveUser\(.*$/m;
    const resolveRoomLine = /^ +const roomId = await bookingStep\(\(\) => steps\.resolveRoom\(.*$/m;

    const replayCopy = (code: string) => replayCopyOf(code, 'booking-cancelled-by-owner-v2.json');

    it('replays when unchanged (the control)', async () => {
      await expect(replayCopy(source)).resolves.toBeUndefined();
    });

    it('fails with a determinism violation when two steps are swapped without patched()', async () => {
      const userLine = source.match(resolveUserLine)![0];
      const roomLine = source.match(resolveRoomLine)![0];
      const swapped = source.replace(userLine, '@@user@@').replace(roomLine, userLine).replace('@@user@@', roomLine);
      expect(swapped).not.toBe(source);
      await expect(replayCopy(swapped)).rejects.toBeInstanceOf(DeterminismViolationError);
    });
  });

  // The same proof for every workflow type the workers run, on its newest history: a copy of its
  // module with one new command at the top of the workflow (an unpatched change) must fail to
  // replay, and the unchanged copy must replay. A replay test that cannot fail proves nothing.
  describe.each([
    { type: 'bookingWorkflow', module: 'booking.ts', history: 'booking-cancelled-by-owner-v3.json' },
    { type: 'purchaseToSessionsWorkflow', module: 'purchase.ts', history: 'purchase-sessions-scheduled-v3.json' },
    { type: 'sessionWindowWorkflow', module: 'session-window.ts', history: 'session-window-topped-up-continued-as-new-v2.json' },
    { type: 'prescriptionFulfillmentWorkflow', module: 'prescription.ts', history: 'prescription-paid-and-delivered-v2.json' },
    { type: 'shipmentTrackingWorkflow', module: 'prescription.ts', history: 'shipment-tracking-delivered-v2.json' },
    { type: 'undecodableRunWorkflow', module: 'undecodable-run.ts', history: 'undecodable-run-cleared-v1.json' },
    { type: 'paymentWorkflow', module: 'payment.ts', history: 'payment-refund-refused-then-retried-v1.json' },
    { type: 'paymentRefundWorkflow', module: 'payment.ts', history: 'refund-charged-payment-v1.json' },
  ])('a copy of $type, replayed against $history', ({ type, module, history }) => {
    const source = readFileSync(path.resolve(__dirname, '..', '..', 'src', 'workflows', module), 'utf8');
    const start = new RegExp(`export async function ${type}\\([^)]*\\)[^{]*\\{`);

    const replayCopy = (code: string) =>
      replayCopyOf(`import { sleep as unpatchedSleep } from '@temporalio/workflow';\n${code}`, history, type);

    it('replays when unchanged (the control)', async () => {
      await expect(replayCopy(source)).resolves.toBeUndefined();
    });

    it('fails with a determinism violation when a timer is added first without patched()', async () => {
      expect(source).toMatch(start);
      const changed = source.replace(start, (opening) => `${opening}\n  await unpatchedSleep(1);`);
      await expect(replayCopy(changed)).rejects.toBeInstanceOf(DeterminismViolationError);
    });
  });

  // Paths of prescription fulfillment that only one scenario's history takes: a timer added on one
  // without patched() must fail against that history, and the same copy must replay against a
  // history that never took the path, so the failure is the path's and not the copy's.
  describe.each([
    {
      path: 'an invalid prescription ends',
      history: 'prescription-invalid-v2.json',
      branch: "  if (!validation.valid) return end('Invalid',",
      timer: '  if (!validation.valid) await unpatchedSleep(1);\n',
    },
    {
      path: 'an ineligible patient ends',
      history: 'prescription-ineligible-v2.json',
      branch: "  if (!enrollment.eligible) return end('Ineligible',",
      timer: '  if (!enrollment.eligible) await unpatchedSleep(1);\n',
    },
    {
      path: 'a person gives up on an overdue parcel',
      history: 'prescription-delivery-overdue-v2.json',
      branch: "  if (outcome === 'givenUp') return undefined;",
      timer: "  if (outcome === 'givenUp') await unpatchedSleep(1);\n",
    },
    {
      path: 'an overdue parcel is delivered after all',
      history: 'prescription-delivered-after-overdue-v2.json',
      branch: "  operator.setStatus('Running');\n  return outcome;",
      timer: '  await unpatchedSleep(1);\n',
    },
  ])('a copy of the prescription workflow with a timer where $path', ({ history, branch, timer }) => {
    const source = readFileSync(path.resolve(__dirname, '..', '..', 'src', 'workflows', 'prescription.ts'), 'utf8');
    const changed = `import { sleep as unpatchedSleep } from '@temporalio/workflow';\n${source.replace(branch, `${timer}${branch}`)}`;

    it(`fails with a determinism violation against ${history}`, async () => {
      expect(source).toContain(branch);
      await expect(replayCopyOf(changed, history)).rejects.toBeInstanceOf(DeterminismViolationError);
    });

    it('replays against prescription-paid-and-delivered-v2.json, which never took that path', async () => {
      await expect(replayCopyOf(changed, 'prescription-paid-and-delivered-v2.json')).resolves.toBeUndefined();
    });
  });
});
