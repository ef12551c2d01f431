import { WorkflowIdReusePolicy } from '@temporalio/client';
import { correlationIdKey, pipelineStatusKey } from '../contracts/pipeline';
import type { TraceContext } from '../trace';

/**
 * Options every bridged start shares. The default reuse policy would let a redelivered event start
 * a second run after the first closed; REJECT_DUPLICATE makes one business identity one run, ever.
 */
export function bridgedStartOptions(trace: TraceContext, businessKey: string) {
  return {
    // What the Web UI shows in the run list and on top of the run: whose run it is, and the thread to pull.
    staticSummary: `${businessKey} · correlation ${trace.correlationId}`,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: [
      { key: pipelineStatusKey, value: 'Running' },
      { key: correlationIdKey, value: trace.correlationId },
    ],
    memo: { trace },
  };
}
