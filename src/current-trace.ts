import { AsyncLocalStorage } from 'node:async_hooks';
import type { TraceContext } from './trace';

/**
 * The trace of the event being handled, outside workflows: the bridge sets it around each record's
 * delivery (the client interceptor reads it), and the activity interceptor sets it around each
 * activity from the header the workflow sent. Workflow code has its own
 * (src/workflows/trace-context.ts): the sandbox cannot import node:async_hooks.
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
