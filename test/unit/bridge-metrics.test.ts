import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BridgeMetrics, readConsumerLag } from '../../src/bridges/metrics';
import { refusalClasses } from '../../src/bridges/records';
import { startOpsServer } from '../../src/ops-server';
import { startFakeBridge, temporalRefusal, testTopic, thingRoute } from '../support/fake-bridge';
import { sample } from '../support/prometheus-text';

const thing = (id: string, n: number) => ({ key: id, value: { id, n } });

const value = async (metrics: BridgeMetrics, name: string, labels: Record<string, string>) => sample(await metrics.registry.metrics(), name, labels);
const histogramCount = (metrics: BridgeMetrics, labels: Record<string, string>) => value(metrics, 'pipelines_bridge_temporal_call_duration_seconds_count', labels);

describe("the bridge's metrics, on fake batches", () => {
  afterEach(() => void vi.restoreAllMocks());
  const group = 'fake-group';
  const labels = { group, topic: testTopic };

  it('counts records consumed, delivered and parked, the parked ones by the class of their reason, never its text', async () => {
    const metrics = new BridgeMetrics();
    const bridge = await startFakeBridge({ routes: [thingRoute(async () => undefined)], metrics: metrics.forGroup(group) });
    for (const reason of refusalClasses) expect(await value(metrics, 'pipelines_bridge_records_parked_total', { ...labels, reason })).toBe(0);

    await bridge.settle([thing('a', 1), { key: 'b', value: '{"id":' }, { key: 'c', value: { id: 'c' } }, { key: 'd', value: Buffer.from([0xff]) }, thing('e', 1)]).done;

    expect(await value(metrics, 'pipelines_bridge_records_consumed_total', labels)).toBe(5);
    expect(await value(metrics, 'pipelines_bridge_records_delivered_total', labels)).toBe(2);
    expect(await value(metrics, 'pipelines_bridge_records_duplicate_total', labels)).toBe(0);
    expect(await value(metrics, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'not_json' })).toBe(1);
    expect(await value(metrics, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'schema_violation' })).toBe(1);
    expect(await value(metrics, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'not_utf8' })).toBe(1);
    const reasons = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'pipelines_bridge_records_parked_total')!.values.map((v) => v.labels.reason);
    expect(new Set(reasons)).toEqual(new Set(refusalClasses));
    expect(await histogramCount(metrics, { ...labels, result: 'ok' })).toBe(2);
  });

  it("classes a record Temporal refuses, and one whose Kafka key contradicts its event's, and counts a duplicate", async () => {
    const metrics = new BridgeMetrics();
    const route = { ...thingRoute(async () => undefined), deliver: async (_c: unknown, e: { id: string }) => {
      if (e.id === 'big') throw temporalRefusal(3, 'Blob data size exceeds limit.');
      return e.id === 'again' ? ('duplicate' as const) : undefined;
    } };
    const bridge = await startFakeBridge({ routes: [route], metrics: metrics.forGroup(group) });
    await bridge.settle([thing('big', 1), thing('again', 1), { key: 'other', value: { id: 'x', n: 1 } }]).done;
    expect(await value(metrics, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'rejected_by_temporal' })).toBe(1);
    expect(await value(metrics, 'pipelines_bridge_records_parked_total', { ...labels, reason: 'key_mismatch' })).toBe(1);
    expect(await value(metrics, 'pipelines_bridge_records_duplicate_total', labels)).toBe(1);
    expect(await histogramCount(metrics, { ...labels, result: 'error' })).toBe(1);
  });

  it('counts a batch as held while a record of it waits for Temporal, once however many of its lanes wait, and not once it is through', async () => {
    const metrics = new BridgeMetrics();
    let down = true;
    const bridge = await startFakeBridge({
      routes: [
        thingRoute(async () => {
          if (down) throw temporalRefusal(14, 'connection refused');
        }),
      ],
      metrics: metrics.forGroup(group),
    });
    const { done } = bridge.settle([thing('a', 1), thing('b', 1)]);
    await vi.waitFor(async () => expect(await value(metrics, 'pipelines_bridge_held_batches', labels)).toBe(1));
    await new Promise((r) => setTimeout(r, 300));
    expect(await value(metrics, 'pipelines_bridge_held_batches', labels)).toBe(1);
    down = false;
    await done;
    expect(await value(metrics, 'pipelines_bridge_held_batches', labels)).toBe(0);
    expect(await histogramCount(metrics, { ...labels, result: 'error' })).toBeGreaterThanOrEqual(2);
  });

  it('shows the parking breaker open while it holds after identical refusals, and closed once Temporal accepts again', async () => {
    const metrics = new BridgeMetrics();
    let refusing = true;
    const bridge = await startFakeBridge({
      maxInFlight: 1,
      parkingBreakerThreshold: 2,
      routes: [
        thingRoute(async () => {
          if (refusing) throw temporalRefusal(3, 'search attribute value size 3000 exceeds size limit 2048');
        }),
      ],
      metrics: metrics.forGroup(group),
    });
    expect(await value(metrics, 'pipelines_bridge_parking_breaker_open', { group })).toBe(0);
    const { done } = bridge.settle(['a', 'b', 'c', 'd'].map((id) => thing(id, 1)));
    await vi.waitFor(async () => expect(await value(metrics, 'pipelines_bridge_parking_breaker_open', { group })).toBe(1));
    refusing = false;
    await done;
    expect(await value(metrics, 'pipelines_bridge_parking_breaker_open', { group })).toBe(0);
  });

  it('is served at /metrics on the ops server, in Prometheus text format', async () => {
    const metrics = new BridgeMetrics();
    metrics.forGroup(group).watch([testTopic], { open: false } as never);
    const server = await startOpsServer(0, [], '127.0.0.1', metrics.registry);
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(new Registry().contentType);
      const text = await res.text();
      expect(text).toContain('# TYPE pipelines_bridge_records_parked_total counter');
      expect(text).toContain(`pipelines_bridge_records_delivered_total{group="${group}",topic="${testTopic}"} 0`);
    } finally {
      server.close();
    }
  });
});

describe('the consumer lag', () => {
  const admin = (committed: Record<number, string>, ends: Record<number, { low: string; high: string }>) => ({
    fetchOffsets: async () => [{ topic: 't', partitions: Object.entries(committed).map(([p, offset]) => ({ partition: Number(p), offset, metadata: null })) }],
    fetchTopicOffsets: async () => Object.entries(ends).map(([p, e]) => ({ partition: Number(p), offset: e.high, ...e })),
  });

  it("is each partition's high watermark less the group's committed offset, from the oldest record Kafka has where it never committed", async () => {
    const lags = await readConsumerLag(admin({ 0: '10', 1: '-1', 2: '7' }, { 0: { low: '0', high: '12' }, 1: { low: '5', high: '9' }, 2: { low: '0', high: '7' } }) as never, 'g', ['t']);
    expect(lags).toEqual([
      { topic: 't', partition: '0', lag: 2 },
      { topic: 't', partition: '1', lag: 4 },
      { topic: 't', partition: '2', lag: 0 },
    ]);
  });

  it('is read at each scrape, and keeps its last values while Kafka does not answer', async () => {
    const metrics = new BridgeMetrics();
    let high = '12';
    let answering = true;
    metrics.readLagWith({
      connect: async () => undefined,
      fetchOffsets: async () => {
        if (!answering) throw new Error('Connection timeout');
        return [{ topic: 't', partitions: [{ partition: 0, offset: '10', metadata: null }] }];
      },
      fetchTopicOffsets: async () => [{ partition: 0, offset: high, high, low: '0' }],
    } as never);
    metrics.forGroup('g').watch(['t'], { open: false } as never);
    expect(await value(metrics, 'pipelines_bridge_consumer_lag_records', { group: 'g', topic: 't', partition: '0' })).toBe(2);
    high = '10';
    expect(await value(metrics, 'pipelines_bridge_consumer_lag_records', { group: 'g', topic: 't', partition: '0' })).toBe(0);
    high = '15';
    answering = false;
    expect(await value(metrics, 'pipelines_bridge_consumer_lag_records', { group: 'g', topic: 't', partition: '0' })).toBe(0);
  });
});
