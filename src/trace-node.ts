import { AsyncLocalStorage } from 'node:async_hooks';
import type {
  ClientInterceptors,
  Next,
  WorkflowClientInterceptor,
  WorkflowSignalInput,
  WorkflowSignalWithStartInput,
  WorkflowStartInput,
} from '@temporalio/client';
import type { Headers } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { printable } from './bridges/utf8';
import { bounded, traceFromHeaders, traceLogFields, withTraceHeader, type TraceContext } from './trace';

/**
 * The trace outside workflows, in the bridge and in activities. It is its own module, apart from
 * the model in src/trace.ts, because it needs Node (node:async_hooks, Buffer) and workflow code
 * imports the model: the workflow sandbox cannot load Node built-ins. Inside a workflow the current
 * trace is src/workflows/trace-context.ts's `currentWorkflowTrace()`.
 */

/**
 * The trace of the event being handled: the bridge sets it around each record's delivery (the
 * client interceptor reads it), and the activity interceptor sets it around each activity from the
 * header the workflow sent.
 */
const traces = new AsyncLocalStorage<TraceContext>();

/** Runs `fn` with `trace` as the current trace; without one, the current trace stays. */
export function withTrace<T>(trace: TraceContext | undefined, fn: () => T): T {
  return trace ? traces.run(trace, fn) : fn();
}

/** Undefined outside a traced delivery or activity, e.g. when a test calls an activity directly. */
export function currentTrace(): TraceContext | undefined {
  return traces.getStore();
}

/** The current correlation ID, for the `correlation_id` column of the rows an activity writes. */
export const currentCorrelationId = (): string | null => currentTrace()?.correlationId ?? null;

/** W3C Baggage lets a platform drop what exceeds 8,192 bytes; a correlation ID gets the same room. */
const maxBaggageBytes = 8_192;
const maxCorrelationIdLength = 8_192;

/**
 * The trace as it travels to Temporal. Its headers come from whoever produced the record, and the
 * trace rides four times on a signal-with-start (Temporal header, memo, input, signal input): a
 * 900 KB baggage header made the start 4.5 MB, over Temporal's 4 MB request limit, and refused a
 * valid event. Baggage keeps its whole leading members up to 8 KB; an oversized correlation ID is
 * cut with a hash; a traceparent that is not one is dropped.
 */
export function boundedTrace(trace: TraceContext): TraceContext {
  // Control characters (a NUL in a header) are written as \xNN: the correlation ID lands in
  // PostgreSQL text columns, which refuse a NUL, and in log lines.
  const baggage = trace.baggage === undefined ? undefined : boundedBaggage(printable(trace.baggage));
  const traceparent = trace.traceparent && trace.traceparent.length <= 128 ? printable(trace.traceparent) : undefined;
  return {
    correlationId: bounded(printable(trace.correlationId), maxCorrelationIdLength),
    ...(baggage ? { baggage } : {}),
    ...(traceparent ? { traceparent } : {}),
  };
}

function boundedBaggage(baggage: string): string {
  if (Buffer.byteLength(baggage) <= maxBaggageBytes) return baggage;
  let kept = '';
  for (const member of baggage.split(',')) {
    const next = kept ? `${kept},${member}` : member;
    if (Buffer.byteLength(next) > maxBaggageBytes) break;
    kept = next;
  }
  return kept;
}

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
