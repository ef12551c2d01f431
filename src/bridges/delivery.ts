import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import { carriesPersonalData } from '../contracts/personal';
import { withTrace } from '../trace-node';
import { loggerFor } from '../logger';
import type { TraceContext } from '../trace';
import type { GroupMetrics } from './metrics';
import type { ParkedEvents } from './parked-events';
import type { Refusal } from './records';
import { howRunEnded, Undeliverable, type Route } from './route';
import { describeError, judgeTemporalError, ParkingBreaker, type Verdict } from './temporal-refusals';

/** What became of a record: acknowledged by Temporal (new or already there), or parked. */
export type Outcome = 'delivered' | 'duplicate' | 'parked';

/** The waits of delivery and parking; `bridgeTimings` (kafka-bridge.ts) says why they fit the consumer's clocks. */
export interface DeliveryTimings {
  maxBackoffMs: number;
  temporalCallTimeoutMs: number;
  parkingTimeoutMs: number;
}

/** What delivery and parking use of the running bridge, shared by all its batches. */
export interface DeliveryOptions {
  client: Client;
  parkedEvents: ParkedEvents;
  timings: DeliveryTimings;
  breaker: ParkingBreaker;
  metrics?: GroupMetrics;
}

export interface BatchContext {
  payload: EachBatchPayload;
  route: Route;
  options: DeliveryOptions;
  /** Aborted when the batch has failed: its lanes stop delivering, because kafkajs will deliver it all again. */
  signal: AbortSignal;
  /** Its records waiting in `untilDone` now: the batch is held while any is. */
  waiting: number;
}

class Unrecoverable extends Error {}

/** Temporal refused the record itself (`cause`): retrying cannot change the answer. */
class Refused extends Error {
  constructor(override readonly cause: unknown) {
    super('refused', { cause });
  }
}

/**
 * Job 2, delivery: the route's start or signal, retried while Temporal is unreachable or refuses
 * every record alike. Only Temporal's own refusal of the record makes it a refusal; any other error
 * (a heartbeat that finds the group rebalancing, the consumer stopping) ends the batch unresolved
 * and kafkajs delivers it again.
 */
export async function deliver(batch: BatchContext, event: unknown, trace: TraceContext): Promise<Exclude<Outcome, 'parked'> | Refusal> {
  const { route, options } = batch;
  try {
    const outcome = await untilDone(batch, 'delivery to Temporal', trace, judgeDelivery(options.breaker), () =>
      callTemporal(batch, async () => {
        try {
          const outcome = await withTrace(trace, () => route.deliver(options.client, event, trace));
          return outcome === 'duplicate' ? outcome : ('delivered' as const);
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) return await alreadyStarted(batch, err, event, trace);
          if (err instanceof Undeliverable) return { refused: err.message, refusedAs: 'undeliverable' as const };
          throw err;
        }
      }),
    );
    options.breaker.delivered();
    return outcome;
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return { refused: `rejected by Temporal: ${describeError(err.cause)}`, refusedAs: 'rejected_by_temporal' };
  }
}

/** One Temporal call (or a few that belong together) with the bridge's deadline, timed. */
async function callTemporal<T>(batch: BatchContext, fn: () => Promise<T>): Promise<T> {
  const { client, timings, metrics } = batch.options;
  const timeoutMs = timings.temporalCallTimeoutMs;
  const ended = metrics?.timeTemporalCall(batch.payload.batch.topic);
  try {
    const result = await withTimeLimit('delivery to Temporal', timeoutMs, () => client.withDeadline(Date.now() + timeoutMs, fn));
    ended?.(true);
    return result;
  } catch (err) {
    ended?.(false);
    throw err;
  }
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
  event: unknown,
  trace: TraceContext,
): Promise<Exclude<Outcome, 'parked'> | Refusal> {
  let run: Awaited<ReturnType<typeof howRunEnded>>;
  try {
    run = await howRunEnded(batch.options.client, err.workflowId);
  } catch (unreadable) {
    if (unreadable instanceof Undeliverable) return { refused: unreadable.message, refusedAs: 'undeliverable' };
    throw unreadable;
  }
  // Closed past its retention: the next start will go through.
  if (run === 'missing') throw new Error(`workflow ${err.workflowId} no longer exists; starting it again`);
  // Closed and started again between the two calls, or a policy that let it run: deliver again.
  if (run === 'running') throw new Error(`workflow ${err.workflowId} answered AlreadyStarted but is running; delivering again`);
  const log = loggerFor(trace, { topic: batch.payload.batch.topic, partition: batch.payload.batch.partition, workflowId: err.workflowId });
  const ended = run.outcome ? `${run.status}: ${run.outcome}` : run.status;
  const meaning = batch.route.closedRun(run, event);
  log.warn({ run: ended, meaning }, `Workflow ${err.workflowId} already started and closed (${ended})`);
  if (meaning === 'duplicate') return 'duplicate';
  if (typeof meaning === 'object') return { refused: meaning.undelivered, refusedAs: 'run_closed' };
  return { refused: `workflow ${err.workflowId} already closed (${ended}); the event was not delivered`, refusedAs: 'run_closed' };
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
export async function park(batch: BatchContext, message: KafkaMessage, trace: TraceContext, reason: string): Promise<'parked'> {
  const { topic, partition } = batch.payload.batch;
  loggerFor(trace, { topic, partition, offset: message.offset }).error({ reason }, 'Parked an event that cannot become a workflow');
  await untilDone(batch, 'parking', trace, judgeParking, () =>
    withTimeLimit('parking', batch.options.timings.parkingTimeoutMs, () =>
      batch.options.parkedEvents.park(topic, partition, message, reason, trace.correlationId, carriesPersonalData(batch.route.schema)),
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
  let waiting = false;
  try {
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
      if (!waiting && batch.waiting++ === 0) batch.options.metrics?.holding(kafkaBatch.topic, 1);
      waiting = true;
      await sleep(delayMs, undefined, { signal: batch.signal });
      await heartbeat();
    }
  } finally {
    if (waiting && --batch.waiting === 0) batch.options.metrics?.holding(kafkaBatch.topic, -1);
  }
}

/**
 * `fn`, or an error after `ms`: the retry loop then tries again. The call may still finish in the
 * background; every delivery and parking is idempotent, so that is harmless.
 */
export async function withTimeLimit<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
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
