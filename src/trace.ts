/**
 * What travels with a business event from its Kafka headers, through the workflow, into every
 * activity's logs and onto every event a workflow emits. Plain data so workflows can carry it.
 */
export interface TraceContext {
  correlationId: string;
  /** W3C `baggage` header, verbatim. */
  baggage?: string;
  /** W3C `traceparent` header, verbatim. */
  traceparent?: string;
}
