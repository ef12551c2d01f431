import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import type { TraceContext } from '../trace';

/**
 * Adds the correlation ID and baggage of the event that started a workflow (its `trace` memo,
 * set by the bridge) to every `log.*` line the workflow writes, as activities' logs have them.
 */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      getLogAttributes(input, next) {
        const trace = workflowInfo().memo?.trace as TraceContext | undefined;
        if (!trace) return next(input);
        return next({
          ...input,
          correlationId: trace.correlationId,
          ...(trace.baggage ? { baggage: trace.baggage } : {}),
          ...(trace.traceparent ? { traceparent: trace.traceparent } : {}),
        });
      },
    },
  ],
});
