import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { Gauge, type Registry } from 'prom-client';
import { attentionKindKey, failedStepKey, pipelineStatusKey } from '../contracts/pipeline';
import { logger } from '../logger';
import { everyPipelinesWorkflowTypes, type Pipeline } from '../pipelines/pipeline';

/**
 * Every run that is `NeedsAttention`, open or closed (a run that ended asking for a refund by hand
 * stays so until the namespace's retention removes it), as Temporal's visibility lists them: the
 * search attributes the runs upsert when they park (src/workflows/operator.ts).
 */
export const needsAttentionQuery = `${pipelineStatusKey.name}='NeedsAttention'`;

export interface RunNeedingAttention {
  pipeline: string;
  step: string;
  kind: string;
  /** Whether the run is still open (it can go on after a decision) or has closed. */
  run: 'open' | 'closed';
}

const pageSize = 1_000;

/**
 * One pass over visibility, grouped by pipeline, step and kind. A list, not counts: the server
 * groups a count by ExecutionStatus alone, and this costs a page per 1,000 runs that need attention.
 */
export async function countRunsNeedingAttention(client: Client, pipelines: Pipeline[]): Promise<Map<string, { labels: RunNeedingAttention; count: number }>> {
  const pipelineOf = pipelineNamer(pipelines);
  const counts = new Map<string, { labels: RunNeedingAttention; count: number }>();
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({ namespace: client.options.namespace, query: needsAttentionQuery, pageSize, nextPageToken });
    for (const execution of page.executions ?? []) {
      const fields = execution.searchAttributes?.indexedFields ?? {};
      const labels: RunNeedingAttention = {
        pipeline: pipelineOf(execution.taskQueue ?? '', execution.type?.name ?? ''),
        step: keyword(fields[failedStepKey.name]) ?? 'none',
        kind: keyword(fields[attentionKindKey.name]) ?? 'none',
        run: execution.closeTime ? 'closed' : 'open',
      };
      const key = JSON.stringify(labels);
      const entry = counts.get(key) ?? { labels, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return counts;
}

/** The pipeline whose task queue the run is on, else the one whose workflow type it is (a test's own task queue), else `other`. */
function pipelineNamer(pipelines: Pipeline[]): (taskQueue: string, workflowType: string) => string {
  const byQueue = new Map(pipelines.map((p) => [p.taskQueue, p.name]));
  const byType = new Map(pipelines.flatMap((p) => p.workflowTypes.filter((t) => !everyPipelinesWorkflowTypes.includes(t)).map((t) => [t, p.name])));
  return (taskQueue, workflowType) => byQueue.get(taskQueue) ?? byType.get(workflowType) ?? 'other';
}

function keyword(payload: Payload | undefined | null): string | undefined {
  if (!payload?.data?.length) return undefined;
  const value: unknown = defaultPayloadConverter.fromPayload(payload);
  // A keyword attribute set as a list comes back as one.
  const text = Array.isArray(value) ? value[0] : value;
  return typeof text === 'string' && text ? text : undefined;
}

/**
 * Counts every `everyMs` into `pipelines_runs_needing_attention` (and the time of the last count
 * that succeeded) until the returned function is called. A count that fails is logged and leaves
 * the last one's values.
 */
export function countingRunsNeedingAttention(registry: Registry, client: Client, pipelines: Pipeline[], everyMs: number): () => void {
  const { gauge, countedAt } = runsNeedingAttentionGauges(registry);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const count = async () => {
    try {
      const counts = await countRunsNeedingAttention(client, pipelines);
      gauge.reset();
      for (const { labels, count } of counts.values()) gauge.set({ ...labels }, count);
      countedAt.setToCurrentTime();
    } catch (err) {
      logger.warn({ err }, 'Could not count the runs that need attention; the gauge keeps the last count');
    }
    if (!stopped) timer = setTimeout(() => void count(), everyMs);
  };
  void count();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The series the count is served as, in `registry`. */
export function runsNeedingAttentionGauges(registry: Registry) {
  const gauge = new Gauge({
    name: 'pipelines_runs_needing_attention',
    help: "Runs whose PipelineStatus is NeedsAttention, by pipeline, step (FailedStep), kind (AttentionKind) and whether the run is open; as of the last count.",
    labelNames: ['pipeline', 'step', 'kind', 'run'] as const,
    registers: [registry],
  });
  const countedAt = new Gauge({
    name: 'pipelines_runs_needing_attention_counted_timestamp_seconds',
    help: 'When pipelines_runs_needing_attention was last counted (Unix time).',
    registers: [registry],
  });
  return { gauge, countedAt };
}
