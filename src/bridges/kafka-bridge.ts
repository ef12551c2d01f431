import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { z } from 'zod';
import { boundedTrace, withTrace } from '../trace-node';
import { logger, loggerFor, type Logger } from '../logger';
import { traceFromMessage, type TraceContext } from '../trace';
import type { ParkedEvents } from './parked-events';
import { describeError, judgeTemporalError, ParkingBreaker, type Verdict } from './temporal-refusals';
import { decodeUtf8 } from './utf8';

/** How one topic's events become workflow starts or signals. */
export interface Route<E = any> {
  topic: string;
  schema: z.ZodType<E>;
  /** Events with the same key are delivered one after another, in offset order. */
  orderingKey(event: E): string;
  /**
   * The Kafka record key producers give this event, which chose its partition; the ordering key
   * unless it is coarser (purchases are keyed by student, ordered per student and course).
   */
  kafkaKey?(event: E): string;
  /**
   * Starts or signals the workflow. Must be idempotent: the same event may come again. Runs inside
   * `withTrace(trace)`, so the client sends the trace as a header too. Answers `duplicate` when it
   * found the event already delivered; throws `Undeliverable` when no workflow can take it.
   */
  deliver(client: Client, event: E, trace: TraceContext): Promise<void | 'duplicate'>;
  /**
   * What an event means when its workflow's run has already closed (Temporal answers
   * AlreadyStarted: the reuse policy is REJECT_DUPLICATE), judged by how the run ended.
   * `duplicate`: the run already did what the event asks (the payment ran, the booking was made
   * and then cancelled); it is logged. `undelivered`: the run closed without what the event
   * brings (a booking whose run gave up waiting for it); it is parked for an operator.
   */
  closedRun(run: ClosedRun): 'duplicate' | 'undelivered';
}

/** How a closed run ended: Temporal's status, and for a completed run its result's `status`. */
export interface ClosedRun {
  status: 'Completed' | 'Failed' | 'Canceled' | 'Terminated' | 'Continued as new' | 'Timed out' | string;
  outcome?: string;
}

/**
 * Thrown by a route when no workflow can take the event (a payment for a prescription whose run has
 * ended without it): the record is parked with this message as its reason, for a person to settle.
 */
export class Undeliverable extends Error {}

/** Keeps the event's type when a route is written inline. */
export const route = <E>(r: Route<E>): Route<E> => r;

export interface BridgeOptions {
  kafka: Kafka;
  client: Client;
  parkedEvents: ParkedEvents;
  groupId: string;
  routes: Route[];
  /** Deliveries in flight per partition. */
  maxInFlight: number;
  /**
   * After this many identical refusals in a row the bridge stops parking and holds the partition
   * (BRIDGE_PARKING_BREAKER_THRESHOLD); 5 if not given.
   */
  parkingBreakerThreshold?: number;
  /**
   * Called when kafkajs has given up on the consumer (a crash it will not restart from): the
   * consumer then consumes nothing while the process lives on. The entry point exits, so its
   * supervisor restarts it; without this option the bridge only logs it.
   */
  onConsumerGaveUp?: (error: Error) => void;
  /** Tests shorten these; see `bridgeTimings`. */
  timings?: Partial<BridgeTimings>;
  /** Called after each record is acknowledged or parked, with when its batch arrived; the benchmark uses it. */
  onSettled?: (topic: string, message: KafkaMessage, outcome: Outcome, consumedAtMs: number) => void;
}

export type Outcome = 'delivered' | 'duplicate' | 'parked';

/**
 * The bridge's clocks, and why they fit together. kafkajs sends a heartbeat only when the bridge
 * calls `heartbeat()`, and the group evicts a member that sent none for `sessionTimeoutMs`:
 * - while a batch is in flight a timer heartbeats every `heartbeatIntervalMs` (3 s), whatever its
 *   lanes wait for, so a hanging Temporal or PostgreSQL cannot get the member evicted mid-batch;
 * - no Temporal call waits longer than 10 s, no parking longer than 5 s and no retry sleeps longer
 *   than 10 s, so a lane sees that its batch has stopped within about 10 s;
 * - the session timeout (30 s) is ten heartbeat intervals and three times the longest wait, so
 *   only a process that is stuck itself is evicted;
 * - a rebalance waits up to `rebalanceTimeoutMs` (60 s) for members to rejoin; a batch learns of it
 *   from its next heartbeat (3 s) and ends within the longest wait (10 s), well inside it.
 */
export const bridgeTimings = {
  sessionTimeoutMs: 30_000,
  rebalanceTimeoutMs: 60_000,
  heartbeatIntervalMs: 3_000,
  maxBackoffMs: 10_000,
  temporalCallTimeoutMs: 10_000,
  parkingTimeoutMs: 5_000,
};

export type BridgeTimings = typeof bridgeTimings;

class Unrecoverable extends Error {}

/** Temporal refused the record itself (`cause`): retrying cannot change the answer. */
class Refused extends Error {
  constructor(override readonly cause: unknown) {
    super('refused', { cause });
  }
}

function describeSchemaError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ');
}

function decode(
  route: Route,
  message: KafkaMessage,
): { ok: true; event: unknown; key: string } | { ok: false; reason: string } {
  // Buffer.toString() would turn bytes that are not UTF-8 into U+FFFD and accept the mangled event.
  const value = decodeUtf8(message.value ?? Buffer.alloc(0));
  if ('invalidAt' in value) return { ok: false, reason: `value is not valid UTF-8 at byte ${value.invalidAt}` };
  let json: unknown;
  try {
    json = JSON.parse(value.text);
  } catch (err) {
    return { ok: false, reason: `unparseable JSON: ${(err as Error).message}` };
  }
  const parsed = route.schema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: `schema violation: ${describeSchemaError(parsed.error)}` };
  return { ok: true, event: parsed.data, key: route.orderingKey(parsed.data) };
}

/**
 * Consumes the routes' topics and turns each record into a workflow start or signal.
 *
 * - An offset is committed only after every record before it was acknowledged by Temporal or
 *   parked: a batch's offset is resolved only once the whole batch settled.
 * - While Temporal (or PostgreSQL, for parking) is unreachable, the bridge retries with backoff
 *   and keeps its partitions; nothing is skipped.
 * - A record that can never become a workflow is parked with its reason and the partition moves on.
 * - Records of one ordering key stay in order; different keys are delivered concurrently.
 */
export async function runBridge(options: BridgeOptions): Promise<Consumer> {
  const routes = new Map(options.routes.map((r) => [r.topic, r]));
  const timings = { ...bridgeTimings, ...options.timings };
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: timings.sessionTimeoutMs,
    rebalanceTimeout: timings.rebalanceTimeoutMs,
    heartbeatInterval: timings.heartbeatIntervalMs,
  });
  const log = logger.child({ component: 'bridge', groupId: options.groupId });

  const running: RunningOptions = { ...options, timings, breaker: new ParkingBreaker(options.parkingBreakerThreshold ?? 5) };

  watchForCrash(consumer, log, options.onConsumerGaveUp);
  await consumer.connect();
  for (const topic of routes.keys()) await consumer.subscribe({ topic, fromBeginning: true });

  await consumer.run({
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: (payload) => settleBatch(payload, routes.get(payload.batch.topic)!, running, log),
  });
  return consumer;
}

/** kafkajs restarts the consumer after most crashes by itself; the rest are `onGaveUp`'s to handle. */
export function watchForCrash(
  consumer: Pick<Consumer, 'on' | 'events'>,
  log: Logger,
  onGaveUp: (error: Error) => void = () => undefined,
): void {
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) {
      log.error({ err: describeError(payload.error) }, 'Kafka consumer crashed; kafkajs restarts it');
      return;
    }
    log.fatal({ err: describeError(payload.error) }, 'Kafka consumer crashed and kafkajs will not restart it');
    onGaveUp(payload.error);
  });
}

/**
 * One batch of one partition, as a process: sort its records into lanes, settle every lane
 * (deliver each record, retrying while a dependency is down, or park it), then commit.
 */
async function settleBatch(payload: EachBatchPayload, route: Route, options: RunningOptions, log: Logger) {
  const stop = new AbortController();
  const batch: BatchContext = { payload, route, options, consumedAtMs: Date.now(), signal: stop.signal };
  const lanes = buildLanes(route, payload.batch.messages);
  // A heartbeat that fails (the group is rebalancing) stops the batch like a failed lane.
  const keepAlive = setInterval(
    () => payload.heartbeat().catch((err) => stop.signal.aborted || stop.abort(err)),
    options.timings.heartbeatIntervalMs,
  );
  try {
    await runLanes(lanes, options.maxInFlight, stop, async (lane) => {
      for (const record of lane) {
        batch.signal.throwIfAborted();
        await settleRecord(batch, record);
      }
    });
  } finally {
    clearInterval(keepAlive);
  }
  await commitBatch(payload);
  log.debug({ topic: payload.batch.topic, partition: payload.batch.partition, count: payload.batch.messages.length }, 'Batch settled');
}

/** The options with what one running bridge shares between its batches. */
type RunningOptions = BridgeOptions & { timings: BridgeTimings; breaker: ParkingBreaker };

interface BatchContext {
  payload: EachBatchPayload;
  route: Route;
  options: RunningOptions;
  /** When the batch arrived, for `onSettled`. */
  consumedAtMs: number;
  /** Aborted when the batch has failed: its lanes stop delivering, because kafkajs will deliver it all again. */
  signal: AbortSignal;
}

interface BatchRecord {
  message: KafkaMessage;
  decoded: ReturnType<typeof decode>;
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
function buildLanes(route: Route, messages: KafkaMessage[]): BatchRecord[][] {
  const lanes = new Map<string, BatchRecord[]>();
  for (const message of messages) {
    const decoded = keyAgrees(route, message, decode(route, message));
    const lane = decoded.ok ? `key:${decoded.key}` : `offset:${message.offset}`;
    const queued = lanes.get(lane);
    if (queued) queued.push({ message, decoded });
    else lanes.set(lane, [{ message, decoded }]);
  }
  return [...lanes.values()];
}

function keyAgrees(route: Route, message: KafkaMessage, decoded: ReturnType<typeof decode>): ReturnType<typeof decode> {
  if (!decoded.ok || message.key === null || message.key === undefined) return decoded;
  const expected = route.kafkaKey ? route.kafkaKey(decoded.event) : decoded.key;
  const actual = message.key.toString();
  if (actual === expected) return decoded;
  return {
    ok: false,
    reason: `Kafka key ${JSON.stringify(actual)} contradicts the event's key ${JSON.stringify(expected)}: its partition may not hold the entity's other events, so their order is lost`,
  };
}

/** One record: delivered to Temporal, or parked with the reason it never can be. */
async function settleRecord(batch: BatchContext, { message, decoded }: BatchRecord): Promise<void> {
  const { topic, partition } = batch.payload.batch;
  const trace = boundedTrace(traceFromMessage(topic, partition, message));
  const result = decoded.ok ? await deliver(batch, decoded.event, trace) : { refused: decoded.reason };
  const outcome = typeof result === 'string' ? result : await park(batch, message, trace, result.refused);
  batch.options.onSettled?.(topic, message, outcome, batch.consumedAtMs);
  // Learns of a rebalance between records, sooner than the timer; kafkajs rate-limits these calls.
  await batch.payload.heartbeat();
}

/**
 * Job 2, delivery: the route's start or signal, retried while Temporal is unreachable or refuses
 * every record alike. Only Temporal's own refusal of the record makes it a refusal; any other error
 * (a heartbeat that finds the group rebalancing, the consumer stopping) ends the batch unresolved
 * and kafkajs delivers it again.
 */
async function deliver(batch: BatchContext, event: unknown, trace: TraceContext): Promise<Outcome | { refused: string }> {
  const { route, options } = batch;
  try {
    const outcome = await untilDone(batch, 'delivery to Temporal', trace, judgeDelivery(options.breaker), () =>
      callTemporal(batch, async () => {
        try {
          const outcome = await withTrace(trace, () => route.deliver(options.client, event, trace));
          return outcome === 'duplicate' ? outcome : ('delivered' as const);
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) return await alreadyStarted(batch, err, trace);
          if (err instanceof Undeliverable) return { refused: err.message };
          throw err;
        }
      }),
    );
    options.breaker.delivered();
    return outcome;
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return { refused: `rejected by Temporal: ${describeError(err.cause)}` };
  }
}

/** One Temporal call (or a few that belong together) with the bridge's deadline. */
function callTemporal<T>(batch: BatchContext, fn: () => Promise<T>): Promise<T> {
  const { client, timings } = batch.options;
  const timeoutMs = timings.temporalCallTimeoutMs;
  return withTimeLimit('delivery to Temporal', timeoutMs, () => client.withDeadline(Date.now() + timeoutMs, fn));
}

/**
 * The event's workflow ID is taken by a closed run. Whether that makes it a duplicate or an event
 * the workflow never saw is the route's to say (`closedRun`); either way it is logged, since a
 * booking signalled after its run ended (cancellation first, booking more than 7 days late) used
 * to vanish here as a "duplicate".
 */
async function alreadyStarted(
  batch: BatchContext,
  err: WorkflowExecutionAlreadyStartedError,
  trace: TraceContext,
): Promise<Outcome | { refused: string }> {
  const run = await describeClosedRun(batch.options.client, err.workflowId);
  const log = loggerFor(trace, { topic: batch.payload.batch.topic, partition: batch.payload.batch.partition, workflowId: err.workflowId });
  if (run === undefined) {
    // Closed and started again between the two calls, or a policy that let it run: deliver again.
    throw new Error(`workflow ${err.workflowId} answered AlreadyStarted but is running; delivering again`);
  }
  const ended = run.outcome ? `${run.status}: ${run.outcome}` : run.status;
  const meaning = batch.route.closedRun(run);
  log.warn({ run: ended, meaning }, `Workflow ${err.workflowId} already started and closed (${ended})`);
  if (meaning === 'duplicate') return 'duplicate';
  return { refused: `workflow ${err.workflowId} already closed (${ended}); the event was not delivered` };
}

/** How the workflow's latest run ended; undefined while it is open. */
async function describeClosedRun(client: Client, workflowId: string): Promise<ClosedRun | undefined> {
  const handle = client.workflow.getHandle(workflowId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    // Closed past its retention: the next start will go through.
    if (err instanceof WorkflowNotFoundError) throw new Error(`workflow ${workflowId} no longer exists; starting it again`);
    throw err;
  }
  if (status === 'RUNNING' || status === 'PAUSED') return undefined;
  const name = status.charAt(0) + status.slice(1).toLowerCase().replace(/_/g, ' ');
  if (status !== 'COMPLETED') return { status: name };
  const result: unknown = await handle.result();
  const outcome =
    typeof result === 'string' ? result : typeof (result as { status?: unknown })?.status === 'string' ? (result as { status: string }).status : undefined;
  return outcome ? { status: name, outcome } : { status: name };
}

/** What a failed delivery means; the breaker turns a run of identical refusals into a hold. */
const judgeDelivery =
  (breaker: ParkingBreaker) =>
  (err: unknown): Verdict => {
    const verdict = judgeTemporalError(err);
    if (verdict.action === 'hold') {
      return { action: 'hold', why: `Temporal refuses every record alike (${verdict.why}); parking would drain the topic` };
    }
    if (verdict.action === 'park' && !breaker.mayPark(verdict.why)) {
      return {
        action: 'hold',
        why: `${breaker.threshold} identical refusals in a row (${verdict.why}); a refusal every record gets is not the records' fault, so the bridge stops parking`,
      };
    }
    return verdict;
  };

// PostgreSQL refuses no record: every parking failure is an outage.
const judgeParking = (): Verdict => ({ action: 'retry' });

/** Job 3, parking: the record and the reason it cannot become a workflow, retried while PostgreSQL is down. */
async function park(batch: BatchContext, message: KafkaMessage, trace: TraceContext, reason: string): Promise<Outcome> {
  const { topic, partition } = batch.payload.batch;
  loggerFor(trace, { topic, partition, offset: message.offset }).error({ reason }, 'Parked an event that cannot become a workflow');
  await untilDone(batch, 'parking', trace, judgeParking, () =>
    withTimeLimit('parking', batch.options.timings.parkingTimeoutMs, () =>
      batch.options.parkedEvents.park(topic, partition, message, reason, trace.correlationId),
    ),
  );
  return 'parked';
}

/**
 * Retries `attempt` until it succeeds, backing off while the dependency is down or refuses every
 * record alike. An error `judge` says the record will always get comes back as `Refused`; anything
 * thrown while waiting (heartbeat) is not the record's fault and propagates as it is.
 */
async function untilDone<T>(
  batch: BatchContext,
  what: string,
  trace: TraceContext,
  judge: (err: unknown) => Verdict,
  attempt: () => Promise<T>,
): Promise<T> {
  const { batch: kafkaBatch, heartbeat, isRunning, isStale } = batch.payload;
  for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, batch.options.timings.maxBackoffMs)) {
    let failure: unknown;
    try {
      return await attempt();
    } catch (err) {
      failure = err;
    }
    const verdict = judge(failure);
    if (verdict.action === 'park') throw new Refused(failure);
    if (!isRunning() || isStale()) throw new Unrecoverable(`consumer stopped while retrying ${what}`);
    const log = loggerFor(trace, { topic: kafkaBatch.topic, partition: kafkaBatch.partition });
    if (verdict.action === 'hold') {
      log.error({ err: describeError(failure), retryInMs: delayMs }, `${what} held: ${verdict.why}; holding the partition until this is fixed`);
    } else {
      log.warn({ err: describeError(failure), retryInMs: delayMs }, `${what} failed; holding the partition and retrying`);
    }
    await sleep(delayMs, undefined, { signal: batch.signal });
    await heartbeat();
  }
}

/**
 * `fn`, or an error after `ms`: the retry loop then tries again. The call may still finish in the
 * background; every delivery and parking is idempotent, so that is harmless.
 */
async function withTimeLimit<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Job 4, commit: every record of the batch is acknowledged or parked, so its last offset may be committed. */
async function commitBatch(payload: EachBatchPayload): Promise<void> {
  payload.resolveOffset(payload.batch.lastOffset());
  await payload.commitOffsetsIfNecessary();
  await payload.heartbeat();
}

/**
 * Runs lanes with at most `limit` at a time. The first failure stops the others (`stop`) and is
 * rethrown only once none is still delivering: kafkajs then delivers the batch again from its first
 * offset, and a lane left running could get an older record to Temporal after a newer one.
 */
async function runLanes<T>(lanes: T[], limit: number, stop: AbortController, run: (lane: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, lanes.length) }, async () => {
    try {
      while (next < lanes.length && !stop.signal.aborted) await run(lanes[next++]!);
    } catch (err) {
      if (!stop.signal.aborted) stop.abort(err);
    }
  });
  await Promise.all(workers);
  if (stop.signal.aborted) throw stop.signal.reason;
}
