/**
 * The measured phases. Each sends a stream to a running system and waits until every row the
 * stream implies is written (and the system is at rest), reading CPU and memory of every process
 * around it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import { bookingCancellationsTopic, bookingWorkflowId } from '../../src/contracts/booking';
import { purchaseWorkflowId, sessionWindowWorkflowId } from '../../src/contracts/purchase';
import type { Say } from '../chaos/processes';
import { meter, percentile, type Measured } from './measure';
import { lastWritten, progress, written, type Pipeline, type Progress, type Written } from './rows';
import type { BenchEvent, Stream } from './stream';
import type { System } from './systems';

export interface PhaseContext {
  producer: Producer;
  say: Say;
  stackPids: Record<string, number | undefined>;
  /** A phase ends when no row was added for this long, complete or not. */
  stallSeconds: number;
  /** ...or when it has taken this long: a system that crawls is reported, not waited for. */
  timeoutSeconds: number;
}

export type Resources = Measured;

export interface Drained extends Resources {
  /** Kafka records sent, redeliveries included: context only, every rate and cost is per entity. */
  records: number;
  /** Distinct bookings or purchases the records name: what rates and costs are divided by. */
  entities: number;
  complete: boolean;
  /** Rows the stream implies, and how many were written when the phase ended. */
  rowsExpected: number;
  rowsFound: number;
  /** From the first event sent to the last row written. */
  seconds: number;
  /** How long after the last row the system was seen at rest; undefined if it never was. */
  restConfirmedAfterSeconds?: number;
  rows: Written;
}

export interface Trickled extends Resources {
  /** Kafka records sent (bookings and their cancellations, or purchases). */
  records: number;
  /** Distinct bookings or purchases: a cancellation names a booking already counted. */
  entities: number;
  /** Records sent per second. */
  rate: number;
  complete: boolean;
  /** One per booking or purchase: its first send → its first row (booking accepted or rejected; purchase recorded), ms. */
  toRow: number[];
  /** One per cancelled booking or purchase: its first send → the cancellation written, or the 7th session written, ms. */
  toLast: number[];
  rows: Written;
}

/**
 * A backlog drained as fast as the system can: the stream is sent in one burst to consumers that
 * are running and idle (Kafka takes it within a fraction of a second, far faster than either
 * system drains it), so the clock covers the work and not the processes' start-up (tsx, workflow
 * bundling, the group join). It ends at the last row written, per PostgreSQL's clock.
 */
export async function drain(ctx: PhaseContext, system: System, pipeline: Pipeline, prefix: string, stream: Stream): Promise<Drained> {
  const measured = meter(() => system.pids(), ctx.stackPids);
  const start = Date.now();
  await sendBurst(ctx.producer, stream.events);
  const finished = await waitForRows(ctx, system, pipeline, prefix, stream, measured);
  const rows = await written(system.db, pipeline, prefix, stream.expect);
  const rest = finished.complete ? await waitForRest(ctx, system, pipeline, prefix, stream) : undefined;
  return {
    records: stream.events.length,
    entities: entityCount(pipeline, stream),
    complete: finished.complete,
    rowsExpected: finished.expected,
    rowsFound: finished.found,
    seconds: (rows.lastWriteMs - start) / 1000,
    restConfirmedAfterSeconds: rest === undefined ? undefined : Math.max(0, (rest - rows.lastWriteMs) / 1000),
    rows,
    ...measured.stop(),
  };
}

/**
 * Light load: events sent one by one at `rate`, each stamped with the time it was sent; the
 * latency is from then to the row's created_at (its writer's transaction start in PostgreSQL,
 * which the seed-style worker opens just before its few statements, so at most a millisecond or
 * two early) or cancelled_at. Same machine, same clock.
 */
export async function trickle(
  ctx: PhaseContext,
  system: System,
  pipeline: Pipeline,
  prefix: string,
  stream: Stream,
  rate: number,
): Promise<Trickled> {
  const measured = meter(() => system.pids(), ctx.stackPids);
  // Keyed by topic and entity: a booking and its cancellation are two latencies, a redelivery is
  // not a third (its clock started at the first send).
  const sentAt = new Map<string, { topic: string; id: string; at: number }>();
  const start = Date.now();
  for (const [i, event] of stream.events.entries()) {
    const due = start + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const now = Date.now();
    const id = entityId(pipeline, event);
    if (!sentAt.has(`${event.topic}/${id}`)) sentAt.set(`${event.topic}/${id}`, { topic: event.topic, id, at: now });
    await ctx.producer.send({ topic: event.topic, acks: -1, messages: [{ key: event.key, value: JSON.stringify(event.value), timestamp: String(now) }] });
  }
  const finished = await waitForRows(ctx, system, pipeline, prefix, stream, measured);
  const rows = await written(system.db, pipeline, prefix, stream.expect);
  if (finished.complete) await waitForRest(ctx, system, pipeline, prefix, stream);
  const resources = measured.stop();

  const toRow: number[] = [];
  const toLast: number[] = [];
  for (const { topic, id, at: sent } of sentAt.values()) {
    const isCancellation = topic === bookingCancellationsTopic;
    const first = rows.first.get(id);
    const last = rows.last.get(id);
    if (!isCancellation && first !== undefined) toRow.push(first - sent);
    if ((isCancellation || pipeline === 'purchase') && last !== undefined) toLast.push(last - sent);
  }
  return {
    records: stream.events.length,
    entities: entityCount(pipeline, stream),
    rate,
    complete: finished.complete,
    toRow,
    toLast,
    rows,
    ...resources,
  };
}

export const latency = (values: number[]) => ({ p50: percentile(values, 50), p99: percentile(values, 99), n: values.length });

const entityId = (pipeline: Pipeline, event: BenchEvent) =>
  pipeline === 'booking' ? (event.value as { bookingId: string }).bookingId : (event.value as { paymentId: string }).paymentId;

/** Distinct booking IDs (a cancellation or a redelivery names one already counted), or distinct purchases. */
const entityCount = (pipeline: Pipeline, stream: Stream) => new Set(stream.events.map((e) => entityId(pipeline, e))).size;

async function sendBurst(producer: Producer, events: BenchEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    const batch = events.slice(i, i + 500);
    const topics = [...new Set(batch.map((e) => e.topic))];
    await producer.sendBatch({
      acks: -1,
      topicMessages: topics.map((topic) => ({
        topic,
        messages: batch.filter((e) => e.topic === topic).map((e) => ({ key: e.key, value: JSON.stringify(e.value) })),
      })),
    });
  }
}

/** Polls the row counts until complete, or until nothing was added for `stallSeconds`, or the timeout. */
async function waitForRows(
  ctx: PhaseContext,
  system: System,
  pipeline: Pipeline,
  prefix: string,
  stream: Stream,
  measured: Pick<ReturnType<typeof meter>, 'coresSinceLastAsked'>,
): Promise<Progress> {
  const start = Date.now();
  let lastFound = -1;
  let lastChange = start;
  let lastReport = start;
  let foundAtLastReport = 0;
  for (;;) {
    const p = await progress(system.db, pipeline, prefix, stream.expect);
    if (p.complete) return p;
    if (p.found !== lastFound) {
      lastFound = p.found;
      lastChange = Date.now();
    }
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now();
      // Which processes were busy over those 30 s: a drain that starts slowly shows where it waited.
      const busy = Object.entries(measured.coresSinceLastAsked())
        .filter(([, cores]) => cores >= 0.05)
        .sort(([, a], [, b]) => b - a)
        .map(([role, cores]) => `${role} ${cores.toFixed(2)}`)
        .join(', ');
      ctx.say(`  ${system.name} ${pipeline}: ${p.found}/${p.expected} rows (+${p.found - foundAtLastReport}); cores busy since the last line: ${busy}`);
      foundAtLastReport = p.found;
    }
    const stalled = Date.now() - lastChange > ctx.stallSeconds * 1000;
    if (stalled || Date.now() - start > ctx.timeoutSeconds * 1000) {
      const why = stalled ? `no new row for ${ctx.stallSeconds} s` : `not done after ${ctx.timeoutSeconds} s`;
      ctx.say(`  ${system.name} ${pipeline}: ${why}; ${p.found}/${p.expected} rows; giving up on this phase`);
      return p;
    }
    await sleep(250);
  }
}

/** Polls until the system says it is at rest; resolves with when it first did (epoch ms). */
async function waitForRest(ctx: PhaseContext, system: System, pipeline: Pipeline, prefix: string, stream: Stream): Promise<number | undefined> {
  const lastSent = [...new Set(stream.events.slice(-30).map((e) => entityId(pipeline, e)))];
  const recent = await lastWritten(system.db, pipeline, prefix, 20);
  const workflowIds =
    pipeline === 'booking'
      ? [...new Set([...lastSent, ...recent])].map(bookingWorkflowId)
      : [...lastSent.map(purchaseWorkflowId), ...recent.map(sessionWindowWorkflowId)];
  const deadline = Date.now() + ctx.stallSeconds * 1000;
  let reason: string | undefined;
  for (;;) {
    reason = await system.unsettled(workflowIds).catch((err) => `check failed: ${(err as Error).message}`);
    if (reason === undefined) return Date.now();
    if (Date.now() > deadline) {
      ctx.say(`  ${system.name} ${pipeline}: not at rest after ${ctx.stallSeconds} s: ${reason}`);
      return undefined;
    }
    await sleep(200);
  }
}
