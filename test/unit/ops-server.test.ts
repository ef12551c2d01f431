import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsumerReadiness } from '../../src/bridges/kafka-bridge';
import { startOpsServer, type ReadinessCheck } from '../../src/ops-server';

describe('the health endpoints', () => {
  const servers: Array<{ close(): void }> = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));

  async function serve(checks: ReadinessCheck[]) {
    const server = await startOpsServer(0, checks, '127.0.0.1');
    servers.push(server);
    const { port } = server.address() as AddressInfo;
    return async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, body: await res.json() };
    };
  }

  it('answers /readyz 503 naming each failing check and why, a thrown or hanging check included; /livez 200 regardless', async () => {
    const get = await serve([
      { name: 'temporal', check: () => undefined },
      { name: 'consumer:bookings', check: () => 'its group is rebalancing' },
      { name: 'database', check: async () => Promise.reject(new Error('connection refused')) },
      { name: 'stuck', check: () => new Promise<undefined>(() => undefined) },
    ]);
    expect(await get('/livez')).toEqual({ status: 200, body: { live: true } });
    expect(await get('/readyz')).toEqual({
      status: 503,
      body: {
        ready: false,
        failing: { 'consumer:bookings': 'its group is rebalancing', database: 'connection refused', stuck: 'no answer within 2000 ms' },
      },
    });
  });

  it('listens on loopback unless told otherwise, as everything the local stack starts', async () => {
    const server = await startOpsServer(0, []);
    servers.push(server);
    expect((server.address() as AddressInfo).address).toBe('127.0.0.1');
  });

  it('answers /readyz 200 when every check passes', async () => {
    const get = await serve([{ name: 'temporal', check: async () => undefined }]);
    expect(await get('/readyz')).toEqual({ status: 200, body: { ready: true, failing: {} } });
  });

  it("follows a consumer's group membership: ready from its join until it rebalances, stops, disconnects or crashes", () => {
    const consumer = Object.assign(new EventEmitter(), {
      events: { GROUP_JOIN: 'join', REBALANCING: 'rebalancing', STOP: 'stop', DISCONNECT: 'disconnect', CRASH: 'crash' },
    });
    const readiness = new ConsumerReadiness();
    readiness.watch(consumer as never);
    expect(readiness.notReady).toBe('it has not joined its group yet');
    for (const [event, reason] of [
      ['rebalancing', 'its group is rebalancing'],
      ['stop', 'it has stopped'],
      ['disconnect', 'it is disconnected from Kafka'],
      ['crash', 'it crashed'],
    ] as const) {
      consumer.emit('join');
      expect(readiness.notReady).toBeUndefined();
      consumer.emit(event);
      expect(readiness.notReady).toBe(reason);
    }
  });
});
