import type { Headers } from '@temporalio/common';
import { AsyncLocalStorage, workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { traceFromHeaders, traceLogFields, withTraceHeader, type TraceContext } from '../trace';

/**
 * The trace inside a workflow. A run's trace is the one its start carried as the `trace` header
 * (the bridge's client interceptor sets it); every activity, child workflow and continue-as-new
 * gets the current trace as the same header, and every `log.*` line gets its fields.
 *
 * The sandbox gives each run its own instance of this module and disables the storage when the
 * run leaves the worker's cache, so neither leaks between runs.
 */
const traces = new AsyncLocalStorage<TraceContext>();
let startTrace: TraceContext | undefined;

// Runs started before the trace travelled as a header have it only in their memo (set by the
// bridge), and the SDK's "Workflow started" line is written before `execute` reads the header.
const memoTrace = () => workflowInfo().memo?.trace as TraceContext | undefined;

/**
 * Runs `fn` with `trace` as the current trace, e.g. a step asked for by a signal under that
 * signal's trace. Concurrent branches each keep their own. Without a trace, nothing changes.
 * (Outside workflows the same job is src/trace-node.ts's `withTrace`.)
 */
export function withWorkflowTrace<T>(trace: TraceContext | undefined, fn: () => T): T {
  return trace ? traces.run(trace, fn) : fn();
}

/** The trace set by the innermost `withWorkflowTrace`, else the run's. */
export function currentWorkflowTrace(): TraceContext | undefined {
  return traces.getStore() ?? startTrace ?? memoTrace();
}

/** `input` with the current trace as its `trace` header. */
const traced = <I extends { readonly headers: Headers }>(input: I): I => ({
  ...input,
  headers: withTraceHeader(input.headers, currentWorkflowTrace()),
});

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      execute(input, next) {
        startTrace = traceFromHeaders(input.headers) ?? memoTrace();
        return withWorkflowTrace(startTrace, () => next(input));
      },
    },
  ],
  outbound: [
    {
      scheduleActivity: (input, next) => next(traced(input)),
      scheduleLocalActivity: (input, next) => next(traced(input)),
      startChildWorkflowExecution: (input, next) => next(traced(input)),
      continueAsNew: (input, next) => next(traced(input)),
      getLogAttributes: (attributes, next) => next({ ...attributes, ...traceLogFields(currentWorkflowTrace()) }),
    },
  ],
});
