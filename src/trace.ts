import { defaultPayloadConverter, type Headers } from '@temporalio/common';
import type { IHeaders, KafkaMessage } from 'kafkajs';

/**
 * What travels with a business event from its Kafka headers, through the workflow, into every
 * activity's logs and onto every event a workflow emits. Plain data so workflows can carry it.
 *
 * Workflow code imports this module, so it stays pure: no Node built-ins, and nothing but types
 * from kafkajs (a value import would pull kafkajs into the workflow bundle).
 */
export interface TraceContext {
  correlationId: string;
  /** W3C `baggage` header, verbatim. */
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

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
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
    correlationHeaders.map((h) => headerText(message.headers, h)).find(Boolean) ??
    `${topic}-${partition}-${message.offset}`;
  const baggage = headerText(message.headers, 'baggage');
  const traceparent = headerText(message.headers, 'traceparent');
  return { correlationId, ...(baggage ? { baggage } : {}), ...(traceparent ? { traceparent } : {}) };
}

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
