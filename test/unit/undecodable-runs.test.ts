import { ApplicationFailure, defaultPayloadConverter, type Payload, type SerializationContext } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDecodes, type UndecodableRunActivities } from '../../src/activities/undecodable-run';
import { EncryptionCodec, UndecodablePayload } from '../../src/codec/encryption-codec';
import { newKeyRing, staged } from '../../src/codec/key-ring';
import { attentionKindKey, failedStepKey, pipelineStatusKey } from '../../src/contracts/pipeline';
import { undecodableRunFix, undecodableRunWorkflowId, type UndecodableRun } from '../../src/contracts/undecodable-run';
import { ReportingCodec, reportEvery, undecodableRunFlagger, undecodableRunReporter } from '../../src/workers/undecodable-runs';
import { createTimeSkippingEnv, withWorker } from '../support/time-skipping';

const toPayload = (value: unknown) => defaultPayloadConverter.toPayload(value) as Payload;
const inWorkflow = (workflowId: string): SerializationContext => ({ type: 'workflow', namespace: 'default', workflowId });

describe("a worker's codec meeting a payload under a key its ring lacks", () => {
  // The client's ring has k2; the worker's was never given it.
  const workerRing = newKeyRing('k1');
  const clientRing = staged(workerRing, 'k2');
  const underK2 = async () => (await new EncryptionCodec({ ...clientRing, currentKeyId: 'k2' }).encode([toPayload({ bookingId: 'b1' })]))[0]!;

  function reportingCodec() {
    const reports: UndecodableRun[] = [];
    return { reports, codec: new ReportingCodec(new EncryptionCodec(workerRing), (run) => reports.push(run)) };
  }

  it("reports the workflow ID and key ID when it is a workflow's own payload, and still fails", async () => {
    const { reports, codec } = reportingCodec();
    await expect(codec.decode([await underK2()], inWorkflow('booking-b1'))).rejects.toBeInstanceOf(UndecodablePayload);
    expect(reports).toEqual([
      { workflowId: 'booking-b1', keyId: 'k2', message: 'Encrypted payload names key ID k2, which is not in the payload key ring' },
    ]);
  });

  it('in strict mode, reports a plain payload (a forged start or signal) with a fix that says so, and fails', async () => {
    const reports: UndecodableRun[] = [];
    const codec = new ReportingCodec(new EncryptionCodec(workerRing, { strict: true }), (run) => reports.push(run));
    await expect(codec.decode([toPayload({ bookingId: 'b1' })], inWorkflow('booking-b1'))).rejects.toBeInstanceOf(UndecodablePayload);
    expect(reports).toEqual([{ workflowId: 'booking-b1', keyId: undefined, message: 'Payload is not encrypted, and strict mode (PAYLOAD_ENCRYPTION_STRICT) refuses plain payloads' }]);
    expect(undecodableRunFix(undefined, reports[0]!.message)).toMatch(/^the run was started or signalled with a plain payload, which strict mode .* refuses: terminate the run if it is forged/);
  });

  it("reports nothing for a payload it can decode, nor for an activity's payload or one without a context", async () => {
    const { reports, codec } = reportingCodec();
    const [good] = await new EncryptionCodec(workerRing).encode([toPayload({ bookingId: 'b1' })]);
    expect(defaultPayloadConverter.fromPayload((await codec.decode([good!], inWorkflow('booking-b1')))[0]!)).toEqual({ bookingId: 'b1' });

    const inActivity: SerializationContext = { type: 'activity', namespace: 'default', workflowId: 'booking-b1', activityId: '1', isLocal: false };
    await expect(codec.decode([await underK2()], inActivity)).rejects.toBeInstanceOf(UndecodablePayload);
    await expect(codec.decode([await underK2()])).rejects.toBeInstanceOf(UndecodablePayload);
    expect(reports).toEqual([]);
  });
});

describe('the undecodable-run reporter', () => {
  const run = (workflowId: string): UndecodableRun => ({ workflowId, keyId: 'k2', message: 'Encrypted payload names key ID k2, which is not in the payload key ring' });

  function reporter(flag: (run: UndecodableRun) => Promise<void> = async () => undefined) {
    let now = 1_000_000;
    const flagged: string[] = [];
    const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const report = undecodableRunReporter(
      (r) => {
        flagged.push(r.workflowId);
        return flag(r);
      },
      { now: () => now, log: { error: ((fields: Record<string, unknown>, message: string) => lines.push({ fields, message })) as never } },
    );
    return { report, flagged, lines, advance: (ms: number) => void (now += ms) };
  }

  it('flags and logs a run once per few minutes, however often its task fails', () => {
    const r = reporter();
    r.report(run('booking-b1'));
    r.report(run('booking-b1'));
    r.report(run('booking-b2'));
    r.advance(reportEvery - 1);
    r.report(run('booking-b1'));
    expect(r.flagged).toEqual(['booking-b1', 'booking-b2']);
    r.advance(1);
    r.report(run('booking-b1'));
    expect(r.flagged).toEqual(['booking-b1', 'booking-b2', 'booking-b1']);
    expect(r.lines).toHaveLength(3);
  });

  it('logs one line naming the workflow ID, the key ID and the fix', () => {
    const r = reporter();
    r.report(run('booking-b1'));
    expect(r.lines).toEqual([
      {
        fields: { workflowId: 'booking-b1', keyId: 'k2', error: run('booking-b1').message },
        message:
          'Cannot decode a workflow task of booking-b1 (key ID k2): the run is stuck until its workers can. ' +
          'Fix: give the workers of this task queue a key ring that holds key k2 (PAYLOAD_KEY_RING_FILE) and restart them',
      },
    ]);
  });

  it('tries the flag again at the next report when it could not be started', async () => {
    let refuse = true;
    const r = reporter(async () => {
      if (refuse) throw new Error('Temporal unreachable');
    });
    r.report(run('booking-b1'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.lines.map((l) => l.message)).toContain('Could not start the flag for an undecodable run; the next failed task tries again');
    refuse = false;
    r.report(run('booking-b1'));
    expect(r.flagged).toEqual(['booking-b1', 'booking-b1']);
  });

  it('logs, but does not flag, a flag it cannot decode: that one is listed already', () => {
    const r = reporter();
    r.report(run(undecodableRunWorkflowId('booking-b1')));
    expect(r.flagged).toEqual([]);
    expect(r.lines).toHaveLength(1);
  });
});

describe('whether a stuck run decodes again, from its description', () => {
  const { WORKFLOW_EXECUTION_STATUS_RUNNING: running, WORKFLOW_EXECUTION_STATUS_TERMINATED: terminated } = temporal.api.enums.v1.WorkflowExecutionStatus;

  it('not while its workflow task is being retried; yes once it has none failing, or is closed', () => {
    expect(runDecodes({ workflowExecutionInfo: { status: running }, pendingWorkflowTask: { attempt: 4 } })).toBe(false);
    expect(runDecodes({ workflowExecutionInfo: { status: running }, pendingWorkflowTask: { attempt: 1 } })).toBe(true);
    expect(runDecodes({ workflowExecutionInfo: { status: running } })).toBe(true);
    expect(runDecodes({ workflowExecutionInfo: { status: terminated }, pendingWorkflowTask: { attempt: 4 } })).toBe(true);
  });
});

describe('the undecodable-run flag workflow', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  async function searchAttributes(handle: WorkflowHandle) {
    const { typedSearchAttributes } = await handle.describe();
    return { status: typedSearchAttributes.get(pipelineStatusKey), failedStep: typedSearchAttributes.get(failedStepKey), kind: typedSearchAttributes.get(attentionKindKey) };
  }

  it('stays NeedsAttention while the run still fails to decode, then clears itself and completes once it decodes', async () => {
    const stuck: UndecodableRun = { workflowId: 'booking-stuck', keyId: 'k2', message: 'Encrypted payload names key ID k2, which is not in the payload key ring' };
    let decodes = false;
    const asked: string[] = [];
    const activities: UndecodableRunActivities = {
      async untilRunDecodes(workflowId) {
        asked.push(workflowId);
        if (!decodes) throw ApplicationFailure.retryable(`Workflow ${workflowId} still fails its workflow task`, 'RunStillUndecodable');
      },
    };
    await withWorker(env, activities, async (taskQueue) => {
      // As a worker starts it, twice (two reports): one flag.
      const flag = undecodableRunFlagger(env.client, taskQueue, '3 minutes');
      await flag(stuck);
      await flag(stuck);
      const handle = env.client.workflow.getHandle(undecodableRunWorkflowId(stuck.workflowId));

      for (let i = 0; i < 30 && asked.length < 3; i++) await env.sleep('1 minute');
      expect(asked.length).toBeGreaterThanOrEqual(3);
      expect(new Set(asked)).toEqual(new Set(['booking-stuck']));
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(await searchAttributes(handle)).toEqual({ status: 'NeedsAttention', failedStep: 'decodePayload', kind: 'Undecodable' });

      decodes = true;
      await handle.result();
      expect(await searchAttributes(handle)).toEqual({ status: 'Completed', failedStep: undefined, kind: undefined });
      // Each ask was a retry of one activity: the history stays a handful of events.
      expect((await handle.fetchHistory()).events!.length).toBeLessThan(20);
    });
  });
});
