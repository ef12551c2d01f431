import { describe, expect, it } from 'vitest';
import { parseStartPosition } from '../../src/bridges/start-position';
import { loadConfig } from '../../src/config';

describe('BRIDGE_START_FROM', () => {
  it('reads earliest, latest, another group and an ISO-8601 timestamp with its zone', () => {
    expect(parseStartPosition('earliest')).toEqual({ from: 'earliest' });
    expect(parseStartPosition('latest')).toEqual({ from: 'latest' });
    expect(parseStartPosition('group:legacy-booking-worker')).toEqual({ from: 'group', groupIds: ['legacy-booking-worker'] });
    expect(parseStartPosition('group:legacy-booking-worker,legacy-purchase-worker')).toEqual({
      from: 'group',
      groupIds: ['legacy-booking-worker', 'legacy-purchase-worker'],
    });
    expect(parseStartPosition('2026-12-01T00:00:00Z')).toEqual({ from: 'timestamp', at: new Date(Date.UTC(2026, 11, 1)) });
    expect(parseStartPosition('2026-12-01T01:30:00.250+01:30')).toEqual({ from: 'timestamp', at: new Date(Date.UTC(2026, 11, 1, 0, 0, 0, 250)) });
  });

  it.each(['', 'Latest', 'beginning', '2026-12-01', '2026-12-01T00:00:00', '2026-13-45T99:00:00Z', '1764547200000', 'group:', 'group:two words', 'group:a,,b', 'group:a,'])(
    'refuses %j, which would start somewhere nobody meant',
    (text) => expect(parseStartPosition(text)).toBeUndefined(),
  );

  it('defaults to earliest, and a bad value stops the process at start saying what is allowed', () => {
    expect(loadConfig({}).BRIDGE_START_FROM).toEqual({ from: 'earliest' });
    expect(() => loadConfig({ BRIDGE_START_FROM: 'yesterday' })).toThrow(
      "BRIDGE_START_FROM: must be 'earliest', 'latest', an ISO-8601 timestamp such as 2026-12-01T00:00:00Z, or group:<consumer group>[,<consumer group>...] (where those groups committed)",
    );
  });
});
