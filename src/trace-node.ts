import { AsyncLocalStorage } from 'node:async_hooks';
import { context, propagation } from '@opentelemetry/api';
import { createHash } from 'node:crypto';
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
import { loadConfig } from './config';
import { traceFromHeaders, traceHeaders, traceLogFields, withTraceHeader, type TraceContext } from './trace';

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

/**
 * The Kafka headers of an event an activity emits: the current trace's correlation ID and baggage,
 * and the activity's span as W3C `traceparent` (and `tracestate`), so consumers downstream continue
 * the record's trace. Without a span (an activity scheduled before the workflow interceptors were
 * deployed) the record's own `traceparent` is passed on, as before.
 */
export function eventHeaders(): Record<string, string> {
  const span: Record<string, string> = {};
  propagation.inject(context.active(), span);
  return { ...traceHeaders(currentTrace()), ...span };
}

/** The current correlation ID, for the `correlation_id` column of the rows an activity writes. */
export const currentCorrelationId = (): string | null => currentTrace()?.correlationId ?? null;

/**
 * A correlation ID as it may travel: in clear into a search attribute (which Temporal does not
 * encrypt), workflow summaries, log lines and PostgreSQL columns. Legacy services send short
 * tokens like these; anything else (an email, a name, 8 KB of text) is replaced by its hash.
 */
export const safeCorrelationId = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * `id` when it is a safe token, else `sha256:` and the first 128 bits of its SHA-256 in hex. A hash,
 * not a random ID, so every redelivery of a record and every process (bridges, payment API) turns
 * one ID into the same value, and an operator holding the original finds the run with
 * `printf %s "$id" | sha256sum | cut -c1-32`. Not keyed: whoever can guess the original can check
 * the guess (README, "Security model").
 */
export function correlationIdFor(id: string): string {
  return safeCorrelationId.test(id) ? id : `sha256:${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}

/** A baggage value kept: a short token (W3C values are percent-encoded, so this admits any encoded value up to 128 characters). */
const safeBaggageValue = /^[A-Za-z0-9._:%+/=-]{0,128}$/;

let configuredBaggageKeys: ReadonlySet<string> | undefined;
const baggageKeys = () => (configuredBaggageKeys ??= new Set(loadConfig().TRACE_BAGGAGE_KEYS));

/**
 * W3C baggage reduced to the allowed keys (config TRACE_BAGGAGE_KEYS), each once, with a safe value
 * and without properties: `tenant=acme;p=1,user=Jane%20Doe` becomes `tenant=acme`. Undefined when
 * nothing is left.
 */
export function allowedBaggage(baggage: string, keys: ReadonlySet<string> = baggageKeys()): string | undefined {
  const kept = new Map<string, string>();
  for (const member of baggage.split(',')) {
    const [pair = ''] = member.split(';');
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const key = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (keys.has(key) && !kept.has(key) && safeBaggageValue.test(value)) kept.set(key, value);
  }
  return kept.size ? [...kept].map(([k, v]) => `${k}=${v}`).join(',') : undefined;
}

/**
 * The trace as it travels to Temporal, log lines and emitted events. Its headers come from whoever
 * produced the record, and travel in clear where Temporal does not encrypt (search attributes,
 * workflow summaries) and into every log line, and four times on a signal-with-start (a 900 KB
 * baggage header once made a start exceed Temporal's 4 MB limit). So: baggage keeps only the
 * allowed keys with short values; a correlation ID that is not a safe token is replaced by its
 * hash; a traceparent that is not one is dropped.
 */
export function boundedTrace(trace: TraceContext, keys?: ReadonlySet<string>): TraceContext {
  const baggage = trace.baggage === undefined ? undefined : allowedBaggage(trace.baggage, keys);
  // Control characters (a NUL in a header) are written as \xNN: PostgreSQL text refuses a NUL.
  const traceparent = trace.traceparent && trace.traceparent.length <= 128 ? printable(trace.traceparent) : undefined;
  return {
    correlationId: correlationIdFor(trace.correlationId),
    ...(baggage ? { baggage } : {}),
    ...(traceparent ? { traceparent } : {}),
  };
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
export const traceClientInterceptors = { workflow: [new TraceClientInterceptor()] } satisfies ClientInterceptors;

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
