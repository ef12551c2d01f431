import { describe, expect, it } from 'vitest';
import { startFakeBridge, temporalRefusal, thingRoute } from '../support/fake-bridge';

/** What kafkajs' heartbeat() throws when the group rebalances while a batch is in flight. */
const rebalancing = () =>
  Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), {
    name: 'KafkaJSProtocolError',
    type: 'REBALANCE_IN_PROGRESS',
    retriable: false,
  });


const thing = (id: string, n: number) => ({ key: id, value: { id, n } });

describe('the Kafka bridge, on fake batches', () => {
  it('delivers each key in offset order, parks what cannot be decoded, then commits the whole batch', async () => {
    const delivered: string[] = [];
    const bridge = await startFakeBridge({
      routes: [thingRoute(async (e) => void delivered.push(`${e.id}:${e.n}`))],
    });
    const { payload, done } = bridge.settle([thing('a', 1), thing('b', 1), { key: 'a', value: '{"id":' }, thing('a', 2)]);
    await done;
    expect(delivered.filter((d) => d.startsWith('a'))).toEqual(['a:1', 'a:2']);
    expect(delivered).toContain('b:1');
    expect(bridge.parked).toMatchObject([{ offset: '2', reason: expect.stringMatching(/^unparseable JSON/) }]);
    expect(payload.resolveOffset).toHaveBeenCalledWith('3');
    expect(payload.commitOffsetsIfNecessary).toHaveBeenCalled();
  });

  it('a heartbeat that finds the group rebalancing during a Temporal outage parks nothing and resolves no offset', async () => {
    let calls = 0;
    const bridge = await startFakeBridge({
      routes: [
        thingRoute(async () => {
          if (calls++ === 0) throw temporalRefusal(14, 'connection refused');
        }),
      ],
    });
    const { payload, done } = bridge.settle([thing('a', 1), thing('a', 2)], {});
    payload.heartbeat.mockRejectedValueOnce(rebalancing());
    await expect(done).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(bridge.parked).toEqual([]);
    expect(payload.resolveOffset).not.toHaveBeenCalled();
    expect(payload.commitOffsetsIfNecessary).not.toHaveBeenCalled();
  });

  it('when one lane fails, the other lanes of the batch stop before it fails, so kafkajs redelivers it in order', async () => {
    const events: string[] = [];
    let aFailed = false;
    const bridge = await startFakeBridge({
      maxInFlight: 2,
      routes: [
        thingRoute(async (e) => {
          if (e.id === 'a' && !aFailed) {
            aFailed = true;
            throw temporalRefusal(14, 'connection refused');
          }
          if (e.id === 'b' && e.n === 1) await new Promise((r) => setTimeout(r, 300));
          events.push(`${e.id}:${e.n}`);
        }),
      ],
    });
    const { payload, done } = bridge.settle([thing('a', 1), thing('b', 1), thing('b', 2), thing('c', 1)]);
    // Lane a's retry wait ends in a heartbeat that finds the group rebalancing.
    payload.heartbeat.mockRejectedValueOnce(rebalancing());
    await done.catch(() => events.push('batch failed'));
    await new Promise((r) => setTimeout(r, 400));
    // b:1 was already with Temporal when a failed; nothing started after that.
    expect(events).toEqual(['b:1', 'batch failed']);
    expect(payload.resolveOffset).not.toHaveBeenCalled();
  });
});
