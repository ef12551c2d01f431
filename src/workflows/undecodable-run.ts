import type { Duration } from '@temporalio/common';
import { log, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { UndecodableRunActivities } from '../activities/undecodable-run';
import { attentionKindKey, failedStepKey, pipelineStatusKey } from '../contracts/pipeline';
import type { UndecodableRunInput } from '../contracts/undecodable-run';

/**
 * Asking whether the run decodes again is one activity that fails until it does, retried every
 * `every` with no end: Temporal's retries write nothing to the history, so a flag that waits a
 * week still has a handful of events.
 */
const askedEvery = (every: Duration) =>
  proxyActivities<UndecodableRunActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: every, backoffCoefficient: 1, maximumInterval: every },
  });

/**
 * Stands in for a run that cannot say it needs attention: a worker that cannot decode the run's
 * workflow task starts this, already `NeedsAttention` with `AttentionKind='Undecodable'` (see
 * src/workers/undecodable-runs.ts), so it is listed where operators look. Once the run decodes
 * again, the flag clears itself.
 */
export async function undecodableRunWorkflow(run: UndecodableRunInput): Promise<void> {
  await askedEvery(run.checkEvery).untilRunDecodes(run.workflowId);
  log.info('The run decodes again; its flag clears', { workflowId: run.workflowId });
  upsertSearchAttributes([
    { key: pipelineStatusKey, value: 'Completed' },
    { key: failedStepKey, value: null },
    { key: attentionKindKey, value: null },
  ]);
}
