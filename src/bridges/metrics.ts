import type { Admin } from 'kafkajs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { logger } from '../logger';
import { withTimeLimit, type Outcome } from './delivery';
import { refusalClasses, type Refusal } from './records';
import type { ParkingBreaker } from './temporal-refusals';

/** Within Prometheus' default scrape timeout (10 s), with room for the rest of the scrape. */
const lagReadTimeoutMs = 5_000;

/**
 * The bridges' Prometheus series, served at /metrics on OPS_PORT (src/ops-server.ts). Labels are
 * the consumer group, topic, partition and a refusal's class: fixed by the pipeline list and the
 * code, never an ID or anything from a record (docs/production/metrics.md lists every series).
 */
export class BridgeMetrics {
  readonly registry = new Registry();
  private readonly consumed: Counter<'group' | 'topic'>;
  private readonly delivered: Counter<'group' | 'topic'>;
  private readonly duplicate: Counter<'group' | 'topic'>;
  private readonly parked: Counter<'group' | 'topic' | 'reason'>;
  private readonly temporalCalls: Histogram<'group' | 'topic' | 'result'>;
  private readonly held: Gauge<'group' | 'topic'>;
  private readonly breakers = new Map<string, ParkingBreaker>();
  private readonly topicsOf = new Map<string, string[]>();
  private admin: Pick<Admin, 'connect' | 'fetchOffsets' | 'fetchTopicOffsets'> | undefined;

  constructor() {
    const registers = [this.registry];
    const records = (what: string, help: string) =>
      new Counter({ name: `pipelines_bridge_records_${what}_total`, help, labelNames: ['group', 'topic'] as const, registers });
    this.consumed = records('consumed', 'Records the bridge read from Kafka (a batch kafkajs delivers again is counted again).');
    this.delivered = records('delivered', 'Records Temporal acknowledged as a new start or signal.');
    this.duplicate = records('duplicate', 'Records Temporal already had (a redelivery), acknowledged without effect.');
    this.parked = new Counter({
      name: 'pipelines_bridge_records_parked_total',
      help: 'Records parked in parked_events, by the class of their reason.',
      labelNames: ['group', 'topic', 'reason'] as const,
      registers,
    });
    this.temporalCalls = new Histogram({
      name: 'pipelines_bridge_temporal_call_duration_seconds',
      help: "One attempt at a record's delivery to Temporal (its start or signal, and a closed run's lookup), ok or error.",
      labelNames: ['group', 'topic', 'result'] as const,
      // The calls' deadline is 10 s (bridgeTimings.temporalCallTimeoutMs).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.held = new Gauge({
      name: 'pipelines_bridge_held_batches',
      help: 'Batches held now: a record of theirs waits for Temporal or PostgreSQL, or for a systemic refusal to be fixed.',
      labelNames: ['group', 'topic'] as const,
      registers,
    });
    // prom-client calls `collect` with the gauge as `this`.
    const { breakers, topicsOf } = this;
    const admin = () => this.admin;
    new Gauge({
      name: 'pipelines_bridge_parking_breaker_open',
      help: '1 while the bridge has stopped parking after identical refusals in a row (it holds the partition), else 0.',
      labelNames: ['group'] as const,
      registers,
      collect() {
        for (const [group, breaker] of breakers) this.set({ group }, breaker.open ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pipelines_bridge_consumer_lag_records',
      help: "Records on a partition after its group's committed offset, read from Kafka at each scrape.",
      labelNames: ['group', 'topic', 'partition'] as const,
      registers,
      async collect() {
        const kafka = admin();
        if (!kafka) return;
        await Promise.all(
          [...topicsOf].map(async ([group, topics]) => {
            try {
              const lags = await withTimeLimit('reading the consumer lag', lagReadTimeoutMs, async () => {
                await kafka.connect();
                return readConsumerLag(kafka, group, topics);
              });
              for (const { topic, partition, lag } of lags) this.set({ group, topic, partition }, lag);
            } catch (err) {
              // The last values stay: a lag that stops falling while Kafka does not answer should alert.
              logger.warn({ err, group }, 'Could not read the consumer lag from Kafka; its gauge keeps the last values');
            }
          }),
        );
      },
    });
  }

  /** Reads every watched group's lag at each scrape with `admin` (connected when first needed). */
  readLagWith(admin: Pick<Admin, 'connect' | 'fetchOffsets' | 'fetchTopicOffsets'>): void {
    this.admin = admin;
  }

  /** One bridge's view, labelled with its consumer group. */
  forGroup(group: string): GroupMetrics {
    return {
      consumed: (topic, count) => this.consumed.inc({ group, topic }, count),
      settled: (topic, result) => {
        if (typeof result === 'object') this.parked.inc({ group, topic, reason: result.refusedAs });
        else (result === 'delivered' ? this.delivered : this.duplicate).inc({ group, topic });
      },
      timeTemporalCall: (topic) => {
        const end = this.temporalCalls.startTimer({ group, topic });
        return (ok) => void end({ result: ok ? 'ok' : 'error' });
      },
      holding: (topic, delta) => this.held.inc({ group, topic }, delta),
      watch: (topics, breaker) => {
        this.breakers.set(group, breaker);
        this.topicsOf.set(group, topics);
        // Every series exists from the start, at 0, so a rate() over them has a beginning.
        for (const topic of topics) {
          for (const counter of [this.consumed, this.delivered, this.duplicate]) counter.inc({ group, topic }, 0);
          for (const reason of refusalClasses) this.parked.inc({ group, topic, reason }, 0);
          this.held.inc({ group, topic }, 0);
        }
      },
    };
  }
}

/** What a running bridge reports; `runBridge` takes one, made by `BridgeMetrics.forGroup`. */
export interface GroupMetrics {
  consumed(topic: string, count: number): void;
  /** A record acknowledged by Temporal, or parked for its refusal. */
  settled(topic: string, result: Exclude<Outcome, 'parked'> | Refusal): void;
  /** Starts timing one Temporal call; call what it returns when the call ends. */
  timeTemporalCall(topic: string): (ok: boolean) => void;
  /** +1 when a batch begins to wait, -1 when it stops waiting. */
  holding(topic: string, delta: 1 | -1): void;
  /** The bridge's topics (its lag is read on these) and its breaker. */
  watch(topics: string[], breaker: ParkingBreaker): void;
}

/**
 * Each partition's lag as `kafka-consumer-groups.sh --describe` shows it: the high watermark less
 * the group's committed offset; a partition the group has never committed on counts from its low
 * watermark (the oldest record Kafka still has).
 */
export async function readConsumerLag(
  admin: Pick<Admin, 'fetchOffsets' | 'fetchTopicOffsets'>,
  groupId: string,
  topics: string[],
): Promise<Array<{ topic: string; partition: string; lag: number }>> {
  const committed = await admin.fetchOffsets({ groupId, topics });
  const lags = await Promise.all(
    committed.map(async ({ topic, partitions }) => {
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p]));
      return partitions.map(({ partition, offset }) => {
        const end = ends.get(partition);
        const high = Number(end?.high ?? 0);
        const from = Number(offset) >= 0 ? Number(offset) : Number(end?.low ?? 0);
        return { topic, partition: String(partition), lag: Math.max(0, high - from) };
      });
    }),
  );
  return lags.flat();
}
