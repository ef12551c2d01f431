import type { Client } from '@temporalio/client';
import type { DataConverter, Duration, Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import { UndecodablePayload } from '../codec/encryption-codec';
import { attentionKindKey, failedStepKey, pipelineStatusKey } from '../contracts/pipeline';
import {
  stuckWorkflowIdFromFlagId,
  undecodableRunFix,
  undecodableRunWorkflowId,
  undecodableStep,
  type UndecodableRun,
} from '../contracts/undecodable-run';
import { logger } from '../logger';
import { undecodableRunWorkflow } from '../workflows/undecodable-run';

/**
 * A run whose workflow task a worker cannot decode (a payload under a key the worker's ring lacks)
 * fails that task, and the server retries it for ever: the run stays `Running`, runs no code, and
 * so never parks itself where operators look. The worker sees it, in its codec; these turn what it
 * sees into a flag operators find with their usual query.
 */

/**
 * A worker's codec that reports a workflow's own payload it cannot decode, then fails as before:
 * the task still fails and is retried, nothing is lost. An activity's payload is not reported: it
 * fails its activity, whose retries end in the step parking the run (src/workflows/operator.ts).
 */
export class ReportingCodec implements PayloadCodec {
  constructor(
    private readonly codec: PayloadCodec,
    private readonly report: (run: UndecodableRun) => void,
  ) {}

  encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return this.codec.encode(payloads, context);
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    try {
      return await this.codec.decode(payloads, context);
    } catch (err) {
      if (err instanceof UndecodablePayload && context?.type === 'workflow') {
        this.report({ workflowId: context.workflowId, keyId: err.keyId, message: err.message });
      }
      throw err;
    }
  }
}

/** `dataConverter` with each of its codecs reporting to `report`. */
export function reportingUndecodableRuns(dataConverter: DataConverter, report: (run: UndecodableRun) => void): DataConverter {
  return { ...dataConverter, payloadCodecs: (dataConverter.payloadCodecs ?? []).map((codec) => new ReportingCodec(codec, report)) };
}

/** How long a worker stays quiet about a run it has reported: its task is retried, and fails, far more often. */
export const reportEvery = 5 * 60_000;

/**
 * Logs an undecodable run and flags it (`flag`), at most once per `reportEvery` per run in this
 * process. A flag that could not be started is tried again at the next report.
 */
export function undecodableRunReporter(
  flag: (run: UndecodableRun) => Promise<void>,
  { now = Date.now, log = logger }: { now?: () => number; log?: Pick<typeof logger, 'error'> } = {},
): (run: UndecodableRun) => void {
  const reportedAt = new Map<string, number>();
  return (run) => {
    const at = now();
    for (const [workflowId, when] of reportedAt) if (at - when >= reportEvery) reportedAt.delete(workflowId);
    if (reportedAt.has(run.workflowId)) return;
    reportedAt.set(run.workflowId, at);

    const { workflowId, keyId } = run;
    const fix = undecodableRunFix(keyId, run.message);
    log.error(
      { workflowId, keyId, error: run.message },
      `Cannot decode a workflow task of ${workflowId}${keyId ? ` (key ID ${keyId})` : ''}: the run is stuck until its workers can. Fix: ${fix}`,
    );
    // A flag that this worker cannot decode either is already listed: its search attributes were
    // set when it started.
    if (stuckWorkflowIdFromFlagId(workflowId) !== undefined) return;
    flag(run).catch((err: unknown) => {
      reportedAt.delete(workflowId);
      log.error({ err, workflowId }, 'Could not start the flag for an undecodable run; the next failed task tries again');
    });
  };
}

/**
 * Starts the run's flag on `taskQueue`, or finds it running: one flag per stuck run, however many
 * workers and reports. It is `NeedsAttention` from its start, before any worker runs its code.
 */
export function undecodableRunFlagger(client: Client, taskQueue: string, checkEvery: Duration): (run: UndecodableRun) => Promise<void> {
  return async (run) => {
    await client.workflow.start(undecodableRunWorkflow, {
      workflowId: undecodableRunWorkflowId(run.workflowId),
      taskQueue,
      args: [{ ...run, checkEvery }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: [
        { key: pipelineStatusKey, value: 'NeedsAttention' },
        { key: attentionKindKey, value: 'Undecodable' },
        { key: failedStepKey, value: undecodableStep },
      ],
      staticSummary: `Workflow ${run.workflowId} cannot be decoded by a worker${run.keyId ? ` (key ID ${run.keyId})` : ''}`,
      staticDetails: undecodableRunDetails(run),
    });
  };
}

function undecodableRunDetails({ workflowId, keyId, message }: UndecodableRun): string {
  return [
    `**Needs attention**: a worker cannot decode the workflow tasks of \`${workflowId}\`, so that run stays Running and does nothing.`,
    '',
    `Error: ${message}`,
    '',
    `Fix: ${undecodableRunFix(keyId, message)}.`,
    '',
    `This flag completes by itself once \`${workflowId}\` runs again (or is closed); nothing to signal.`,
  ].join('\n');
}
