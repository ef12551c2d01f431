import type { Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { logger, type Logger } from '../logger';
import { deliver, park, type BatchContext, type Outcome } from './delivery';
import type { GroupMetrics } from './metrics';
import type { ParkedEvents } from './parked-events';
import { buildLanes, type BatchRecord } from './records';
import { inRecordSpan } from './record-span';
import { placeNewGroup, type StartPosition } from './start-position';
import type { Route } from './route';
import { describeError, ParkingBreaker } from './temporal-refusals';

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
  /** Where the group begins if it has never committed on a topic (BRIDGE_START_FROM); `earliest` if not given. */
  startFrom?: StartPosition;
  /** Follows whether the consumer is in its group, for the process's /readyz. */
  readiness?: ConsumerReadiness;
  /** Its Prometheus series (BridgeMetrics.forGroup); none if not given. */
  metrics?: GroupMetrics;
  /** Tests shorten these; see `bridgeTimings`. */
  timings?: Partial<BridgeTimings>;
  /** Called after each record is acknowledged or parked, with when its batch arrived; the benchmark uses it. */
  onSettled?: (topic: string, message: KafkaMessage, outcome: Outcome, consumedAtMs: number) => void;
}

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

  options.metrics?.watch([...routes.keys()], running.breaker);
  watchForCrash(consumer, log, options.onConsumerGaveUp);
  options.readiness?.watch(consumer);
  await placeNewGroup(options.kafka, options.groupId, [...routes.keys()], options.startFrom ?? { from: 'earliest' });
  await consumer.connect();
  for (const topic of routes.keys()) await consumer.subscribe({ topic, fromBeginning: true });

  await consumer.run({
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: (payload) => settleBatch(payload, routes.get(payload.batch.topic)!, running, log),
  });
  return consumer;
}

/** Whether a consumer is in its group now: from its last join until it rebalances, stops, disconnects or crashes. */
export class ConsumerReadiness {
  /** Why it is not ready; undefined when it is. */
  notReady: string | undefined = 'it has not joined its group yet';

  watch(consumer: Pick<Consumer, 'on' | 'events'>): void {
    consumer.on(consumer.events.GROUP_JOIN, () => (this.notReady = undefined));
    consumer.on(consumer.events.REBALANCING, () => (this.notReady = 'its group is rebalancing'));
    consumer.on(consumer.events.STOP, () => (this.notReady = 'it has stopped'));
    consumer.on(consumer.events.DISCONNECT, () => (this.notReady = 'it is disconnected from Kafka'));
    consumer.on(consumer.events.CRASH, () => (this.notReady = 'it crashed'));
  }
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
  const batch: Batch = { payload, route, options, consumedAtMs: Date.now(), signal: stop.signal, waiting: 0 };
  const lanes = buildLanes(route, payload.batch.partition, payload.batch.messages);
  options.metrics?.consumed(route.topic, payload.batch.messages.length);
  // A heartbeat that fails (the group is rebalancing) stops the batch like a failed lane.
  const keepAlive = setInterval(
    () => void payload.heartbeat().catch((err) => stop.signal.aborted || stop.abort(err)),
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

/** A batch as the consumer loop sees it: what delivery needs, and what `onSettled` reports. */
interface Batch extends BatchContext {
  options: RunningOptions;
  /** When the batch arrived, for `onSettled`. */
  consumedAtMs: number;
}

/** One record: delivered to Temporal, or parked with the reason it never can be. */
async function settleRecord(batch: Batch, { message, trace, decoded }: BatchRecord): Promise<void> {
  const { topic } = batch.payload.batch;
  const outcome = await inRecordSpan(topic, batch.payload.batch.partition, message, async () => {
    const result = decoded.ok ? await deliver(batch, decoded.event, trace) : decoded;
    const settled = typeof result === 'string' ? result : await park(batch, message, trace, result.refused);
    batch.options.metrics?.settled(topic, result);
    return settled;
  });
  batch.options.onSettled?.(topic, message, outcome, batch.consumedAtMs);
  // Learns of a rebalance between records, sooner than the timer; kafkajs rate-limits these calls.
  await batch.payload.heartbeat();
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
