import { defaultPayloadConverter, WorkflowIdReusePolicy, type Headers } from '@temporalio/common';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { correlationIdKey, pipelineStatusKey } from './contracts/pipeline';

/**
 * The trace model every process shares: what a trace is, where it comes from (Kafka headers),
 * where it goes (log fields, event headers, the Temporal `trace` header) and the options it gives
 * every workflow start, whoever starts it.
 *
 * Workflow code imports this module, so it stays pure: no Node built-ins, and nothing but types
 * from kafkajs (a value import would pull kafkajs into the workflow bundle). The pieces that need
 * Node live beside it: src/trace-node.ts (the current trace of a delivery or activity, the client
 * and activity interceptors, bounding a Kafka record's trace) and src/workflows/trace-context.ts
 * (the current trace inside a workflow and the workflow interceptors).
 */

/**
 * What travels with a business event from its Kafka headers, through the workflow, into every
 * activity's logs and onto every event a workflow emits. Plain data so workflows can carry it.
 */
export interface TraceContext {
  /** A safe token, or the hash of one that is not (src/trace-node.ts, `correlationIdFor`). */
  correlationId: string;
  /** The allowed members of the W3C `baggage` header (config TRACE_BAGGAGE_KEYS). */
  baggage?: string;
  /** W3C `traceparent` header, verbatim. */
  traceparent?: string;
}

/** The fields a log line gets from a trace, the same for bridge, workflow and activity lines. */
export function traceLogFields(trace: TraceContext | undefined): Record<string, string> {
  if (!trace) return {};
  return {
    correlationId: trace.correlationId,
    ...(trace.baggage ? { baggage: trace.baggage } : {}),
    ...(trace.traceparent ? { traceparent: trace.traceparent } : {}),
  };
}

/** Header names the legacy services already send; checked in this order. */
const correlationHeaders = ['correlation-id', 'x-correlation-id', 'correlationId'];

/** A Kafka header's text, whatever the case of its name; undefined when absent or without a value. */
export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const found = headers && Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const value = Array.isArray(found) ? found[0] : found;
  // Java and librdkafka producers send headers without a value; kafkajs delivers those as null.
  return value == null ? undefined : value.toString();
}

/**
 * The trace context of a Kafka record. Without a correlation ID header the record's coordinates
 * stand in, so redeliveries of one record still share an ID.
 */
export function traceFromMessage(topic: string, partition: number, message: KafkaMessage): TraceContext {
  const correlationId =
    correlationHeaders.map((h) => headerText(message.headers, h)).find(Boolean) ?? recordCoordinates(topic, partition, message);
  const baggage = headerText(message.headers, 'baggage');
  const traceparent = headerText(message.headers, 'traceparent');
  return { correlationId, ...(baggage ? { baggage } : {}), ...(traceparent ? { traceparent } : {}) };
}

/** A record's place in Kafka, which stands in for a correlation ID it does not have. */
export const recordCoordinates = (topic: string, partition: number, message: KafkaMessage): string =>
  `${topic}-${partition}-${message.offset}`;

/** Headers that carry a trace context onto an event a workflow emits. */
export function traceHeaders(trace: TraceContext | undefined): Record<string, string> {
  if (!trace) return {};
  return {
    'correlation-id': trace.correlationId,
    ...(trace.baggage ? { baggage: trace.baggage } : {}),
    ...(trace.traceparent ? { traceparent: trace.traceparent } : {}),
  };
}

/**
 * The Temporal header that carries the trace from the client to the workflow and from the workflow
 * to its activities, children and next run, as Temporal's context-propagation sample does it.
 */
const temporalTraceHeader = 'trace';

export function withTraceHeader(headers: Headers, trace: TraceContext | undefined): Headers {
  if (!trace) return headers;
  return { ...headers, [temporalTraceHeader]: defaultPayloadConverter.toPayload(trace) };
}

export function traceFromHeaders(headers: Headers): TraceContext | undefined {
  const payload = headers[temporalTraceHeader];
  return payload ? defaultPayloadConverter.fromPayload<TraceContext>(payload) : undefined;
}

/**
 * Options every pipeline workflow's start shares: the bridge's starts and the purchase's start of
 * its session window alike. The default reuse policy would let a redelivered event start a second
 * run after the first closed; REJECT_DUPLICATE makes one business identity one run, ever.
 */
export function pipelineStartOptions(trace: TraceContext, businessKey: string) {
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
  const hash = hash64(value);
  return `${chars.slice(0, maxLength - hash.length - 1).join('')}~${hash}`;
}

/**
 * 64 bits of hash as 16 hex digits, from plain integer arithmetic (cyrb53's two lanes and final
 * mix, both lanes kept whole) because workflows bound values too and node:crypto cannot enter the
 * workflow sandbox. It keeps long values apart; it is not meant to resist a crafted collision.
 */
function hash64(text: string): string {
  let a = 0xdeadbeef;
  let b = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    a = Math.imul(a ^ code, 2654435761);
    b = Math.imul(b ^ code, 1597334677);
  }
  a = Math.imul(a ^ (a >>> 16), 2246822507);
  a ^= Math.imul(b ^ (b >>> 13), 3266489909);
  b = Math.imul(b ^ (b >>> 16), 2246822507);
  b ^= Math.imul(a ^ (a >>> 13), 3266489909);
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  return `${hex(b)}${hex(a)}`;
}
