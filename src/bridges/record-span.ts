import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { headerText } from '../trace';

/** Kafka headers as the W3C propagator reads them: `traceparent` and `tracestate`, whatever their case. */
const kafkaHeaders: TextMapGetter<IHeaders | undefined> = {
  keys: (headers) => Object.keys(headers ?? {}),
  get: (headers, key) => headerText(headers, key),
};

/**
 * Runs `settle` (delivery to Temporal, or parking) in the bridge's span for one record: a child of
 * the record's `traceparent` (and `tracestate`) when it has a valid one, else the root of a new
 * trace. The client interceptor's start or signal becomes its child, and so the run. Its attributes
 * are where the record is and what became of it; nothing of its key, value or other headers.
 */
export function inRecordSpan<T extends string>(topic: string, partition: number, message: KafkaMessage, settle: () => Promise<T>): Promise<T> {
  const parent = propagation.extract(ROOT_CONTEXT, message.headers, kafkaHeaders);
  const attributes = {
    'messaging.system': 'kafka',
    'messaging.operation.type': 'process',
    'messaging.destination.name': topic,
    'messaging.destination.partition.id': String(partition),
    'messaging.kafka.offset': Number(message.offset),
  };
  // Asked for at each record, not once: a tracer taken before `installTracing` would stay a no-op.
  return trace.getTracer('temporal-pipelines-bridge').startActiveSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
    try {
      const outcome = await settle();
      span.setAttribute('pipeline.outcome', outcome);
      return outcome;
    } catch (err) {
      // The batch is delivered again; the next attempt is a span of its own.
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}
