import { parse as parseJsonc, type ParseError } from 'jsonc-parser';
import type { KafkaMessage } from 'kafkajs';
import { recordCoordinates, traceFromMessage, type TraceContext } from '../trace';
import type { Route } from './route';
import { boundedTrace } from '../trace-node';
import { describeProblems } from '../schema-problems';
import { describeError } from './temporal-refusals';
import { decodeUtf8 } from './utf8';

/**
 * Why a record cannot become a workflow, as one of a fixed few: the bridge's parked counter is
 * labelled with it. The reason's text is for a person, and never a label: it may name IDs.
 */
export const refusalClasses = [
  'unreadable',
  'not_utf8',
  'not_json',
  'schema_violation',
  'key_mismatch',
  'rejected_by_temporal',
  'run_closed',
  'undeliverable',
] as const;
export type RefusalClass = (typeof refusalClasses)[number];

/** A record that cannot become a workflow: the reason it is parked with, and its class. */
export interface Refusal {
  refused: string;
  refusedAs: RefusalClass;
}

/** A record as the bridge read it: its event and ordering key, or why it has none. */
export type Decoded = { ok: true; event: unknown; key: string } | ({ ok: false } & Refusal);

export interface BatchRecord {
  message: KafkaMessage;
  trace: TraceContext;
  decoded: Decoded;
}

/**
 * Job 1, lanes: records of one ordering key form a lane, in offset order; a record that cannot be
 * decoded has no key and is a lane of its own, so parking it holds up nobody.
 *
 * The lanes use the event's own key, and a record whose Kafka key says otherwise is parked with
 * both: Kafka orders only within a partition, and the producer's key chose it, so an entity's
 * events under different keys may be on different partitions and reach Temporal in any order. A
 * null key is accepted: that producer chose no partition by entity, there is nothing to
 * contradict, and the workflow ID still brings the entity's events to one run.
 */
export function buildLanes(route: Route, partition: number, messages: KafkaMessage[]): BatchRecord[][] {
  const lanes = new Map<string, BatchRecord[]>();
  for (const message of messages) {
    const record = readRecord(route, partition, message);
    const lane = record.decoded.ok ? `key:${record.decoded.key}` : `offset:${message.offset}`;
    const queued = lanes.get(lane);
    if (queued) queued.push(record);
    else lanes.set(lane, [record]);
  }
  return [...lanes.values()];
}

/**
 * Everything the bridge reads from a record: its trace, its event and the key check. Its bytes
 * come from any producer, and anything that throws here is outside retry-or-park: kafkajs retries
 * the batch, gives up on the consumer, and the bridge restarts onto the same record, forever (a
 * null header value did that). So whatever throws while reading makes the record one to park,
 * with the error as its reason, under the record's coordinates if its own trace is what failed.
 */
export function readRecord(route: Route, partition: number, message: KafkaMessage): BatchRecord {
  let trace: TraceContext = { correlationId: recordCoordinates(route.topic, partition, message) };
  try {
    trace = boundedTrace(traceFromMessage(route.topic, partition, message));
    return { message, trace, decoded: keyAgrees(route, message, decode(route, message)) };
  } catch (err) {
    return { message, trace, decoded: { ok: false, refused: `the record could not be read: ${describeError(err)}`, refusedAs: 'unreadable' } };
  }
}

function decode(route: Route, message: KafkaMessage): Decoded {
  // Buffer.toString() would turn bytes that are not UTF-8 into U+FFFD and accept the mangled event.
  const value = decodeUtf8(message.value ?? Buffer.alloc(0));
  if ('invalidAt' in value) return { ok: false, refused: `value is not valid UTF-8 at byte ${value.invalidAt}`, refusedAs: 'not_utf8' };
  let json: unknown;
  try {
    json = JSON.parse(value.text);
  } catch {
    return { ok: false, refused: unparseableJson(value.text), refusedAs: 'not_json' };
  }
  const parsed = route.schema.safeParse(json);
  if (!parsed.success) return { ok: false, refused: `schema violation: ${describeProblems(parsed.error, '(event)')}`, refusedAs: 'schema_violation' };
  return { ok: true, event: parsed.data, key: route.orderingKey(parsed.data) };
}

/**
 * Where the text stops being JSON, and nothing of the text: V8's own message quotes the payload's
 * start (`Unexpected token 'J', "Jane Q Pub"... is not valid JSON`), and the reason is logged and
 * stored beside the record. The offset is jsonc-parser's first error, in bytes as Kafka tools count.
 */
export function unparseableJson(text: string): string {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const at = errors[0]?.offset;
  return at === undefined ? 'unparseable JSON' : `unparseable JSON at byte ${Buffer.byteLength(text.slice(0, at))}`;
}

function keyAgrees(route: Route, message: KafkaMessage, decoded: Decoded): Decoded {
  if (!decoded.ok || message.key === null || message.key === undefined) return decoded;
  const expected = route.kafkaKey ? route.kafkaKey(decoded.event) : decoded.key;
  const actual = message.key.toString();
  if (actual === expected) return decoded;
  return {
    ok: false,
    refusedAs: 'key_mismatch',
    refused: `Kafka key ${JSON.stringify(actual)} contradicts the event's key ${JSON.stringify(expected)}: its partition may not hold the entity's other events, so their order is lost`,
  };
}
