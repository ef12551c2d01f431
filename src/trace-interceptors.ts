import type { Headers } from '@temporalio/common';
import type {
  ClientInterceptors,
  Next,
  WorkflowClientInterceptor,
  WorkflowSignalInput,
  WorkflowSignalWithStartInput,
  WorkflowStartInput,
} from '@temporalio/client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { currentTrace, withTrace } from './current-trace';
import { traceFromHeaders, traceLogFields, withTraceHeader, type TraceContext } from './trace';

/** `input` with the current trace as its `trace` header. */
const traced = <I extends { readonly headers: Headers }>(input: I): I => ({
  ...input,
  headers: withTraceHeader(input.headers, currentTrace()),
});

/**
 * Client side: every workflow start and signal carries the current trace (see `withTrace`) as a
 * Temporal header, which the workflow interceptors of src/workflows/trace-context.ts read.
 */
class TraceClientInterceptor implements WorkflowClientInterceptor {
  startWithDetails(input: WorkflowStartInput, next: Next<WorkflowClientInterceptor, 'startWithDetails'>) {
    return next(traced(input));
  }

  signalWithStart(input: WorkflowSignalWithStartInput, next: Next<WorkflowClientInterceptor, 'signalWithStart'>) {
    return next(traced(input));
  }

  signal(input: WorkflowSignalInput, next: Next<WorkflowClientInterceptor, 'signal'>) {
    return next(traced(input));
  }
}

/** For `new Client({ interceptors })`; src/connections.ts installs it on every client it builds. */
export const traceClientInterceptors: ClientInterceptors = { workflow: [new TraceClientInterceptor()] };

/**
 * Worker side: each activity runs with the trace its workflow sent as the current trace, so
 * `currentTrace()` and `activityLogger()` have it without an argument, and the SDK's own activity
 * log lines (failures, retries) carry it too.
 */
export const traceActivityInterceptor: ActivityInterceptorsFactory = () => {
  let trace: TraceContext | undefined;
  return {
    inbound: {
      execute(input, next) {
        trace = traceFromHeaders(input.headers) ?? traceFromLastArgument(input.args);
        return withTrace(trace, () => next(input));
      },
    },
    outbound: {
      getLogAttributes: (attributes, next) => next({ ...attributes, ...traceLogFields(trace) }),
    },
  };
};

/**
 * An activity scheduled before the trace travelled as a header (a retry of a run that was in
 * flight at the upgrade) still has it as its last argument; the activities ignore that argument.
 */
function traceFromLastArgument(args: unknown[]): TraceContext | undefined {
  const last = args.at(-1) as Partial<TraceContext> | null | undefined;
  return typeof last?.correlationId === 'string' ? (last as TraceContext) : undefined;
}
