import { createHash } from 'node:crypto';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { correlationIdKey, pipelineStatusKey } from '../contracts/pipeline';
import type { TraceContext } from '../trace';
import { printable } from './utf8';

/**
 * Options every bridged start shares. The default reuse policy would let a redelivered event start
 * a second run after the first closed; REJECT_DUPLICATE makes one business identity one run, ever.
 */
export function bridgedStartOptions(trace: TraceContext, businessKey: string) {
  return {
    // What the Web UI shows in the run list and on top of the run: whose run it is, and the thread to
    // pull; a line, however long the correlation-id header (the search attribute finds the run).
    staticSummary: `${businessKey} · correlation ${bounded(trace.correlationId, 64)}`,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: [
      { key: pipelineStatusKey, value: 'Running' },
      // Temporal refuses a keyword value over 2,048 bytes, and the correlation ID comes from a header
      // anyone can fill: longer ones are cut, with a hash so they stay unique; the memo has it whole.
      { key: correlationIdKey, value: bounded(trace.correlationId, maxKeywordLength) },
    ],
    memo: { trace },
  };
}

/** Characters of a header-derived keyword search attribute; at most 4 bytes each, well under 2,048 bytes. */
export const maxKeywordLength = 200;

/**
 * `value`, or its first characters and a hash of the whole, `maxLength` characters in all, so two
 * long values that share a prefix stay distinct and a search for the bounded value finds the run.
 */
export function bounded(value: string, maxLength: number): string {
  const chars = [...value]; // by code point: cutting a surrogate pair in two would make invalid UTF-8
  if (chars.length <= maxLength) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return `${chars.slice(0, maxLength - hash.length - 1).join('')}~${hash}`;
}

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
