import { describe, expect, it } from 'vitest';
import { startFakeBridge, thingRoute } from '../support/fake-bridge';

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
});
