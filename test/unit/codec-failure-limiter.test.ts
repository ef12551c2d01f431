import { describe, expect, it } from 'vitest';
import { createFailureLimiter } from '../../src/codec-server/failure-limiter';

/** The codec server's limit on failed sign-ins, keyed by remote address and by claimed operator name. */
describe('the failed sign-in limiter', () => {
  it('refuses an operator name past its failures from any address, and leaves other names alone', () => {
    const limiter = createFailureLimiter({ maxFailures: 3, windowMs: 60_000 });
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) limiter.fail([`address:${address}`, 'operator:alice']);
    // A fourth address, never failed before, still may not try alice...
    expect(limiter.blocked(['address:10.0.0.4', 'operator:alice'])).toBe(true);
    // ...but may try bob, and none of the three addresses is blocked on its own.
    expect(limiter.blocked(['address:10.0.0.4', 'operator:bob'])).toBe(false);
    expect(limiter.blocked(['address:10.0.0.1', 'operator:bob'])).toBe(false);
  });

  it('refuses an address past its failures whatever name it claims', () => {
    const limiter = createFailureLimiter({ maxFailures: 2, windowMs: 60_000 });
    limiter.fail(['address:10.0.0.9', 'operator:a']);
    limiter.fail(['address:10.0.0.9', 'operator:b']);
    expect(limiter.blocked(['address:10.0.0.9', 'operator:c'])).toBe(true);
  });

  it('lets a refused key try again once its window has passed', () => {
    let now = 0;
    const limiter = createFailureLimiter({ maxFailures: 1, windowMs: 1_000 }, () => now);
    limiter.fail(['operator:alice']);
    now = 999;
    expect(limiter.blocked(['operator:alice'])).toBe(true);
    now = 1_000;
    expect(limiter.blocked(['operator:alice'])).toBe(false);
  });

  it('keeps at most maxKeys windows, dropping the oldest first', () => {
    const limiter = createFailureLimiter({ maxFailures: 1, windowMs: 60_000, maxKeys: 100 });
    for (let i = 0; i < 1_000; i++) limiter.fail([`address:${i}`]);
    expect(limiter.blocked(['address:0'])).toBe(false); // dropped
    expect(limiter.blocked(['address:999'])).toBe(true);
    expect(limiter.blocked(['address:900'])).toBe(true);
    expect(limiter.blocked(['address:899'])).toBe(false);
  });
});
