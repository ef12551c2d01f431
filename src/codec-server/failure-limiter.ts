/**
 * Counts failed sign-ins per key (a remote address, an operator name) in fixed windows; a key with
 * `maxFailures` in its window is refused until the window ends. Bounded: past `maxKeys` the oldest
 * window is dropped first, so a flood of addresses costs memory up to that and no more. In memory
 * and per process: several codec-server processes each allow `maxFailures`.
 */
export interface FailureLimits {
  maxFailures: number;
  windowMs: number;
  maxKeys?: number;
}

export interface FailureLimiter {
  /** Whether any of `keys` is refused now. */
  blocked(keys: string[]): boolean;
  /** Counts one failure against each of `keys`. */
  fail(keys: string[]): void;
}

export function createFailureLimiter({ maxFailures, windowMs, maxKeys = 10_000 }: FailureLimits, now: () => number = Date.now): FailureLimiter {
  // Insertion order is window-start order: a key is deleted and set again when its window restarts.
  const windows = new Map<string, { startedAt: number; failures: number }>();
  const current = (key: string) => {
    const w = windows.get(key);
    return w && now() - w.startedAt < windowMs ? w : undefined;
  };
  return {
    blocked: (keys) => keys.some((k) => (current(k)?.failures ?? 0) >= maxFailures),
    fail(keys) {
      for (const key of keys) {
        const w = current(key);
        if (w) {
          w.failures++;
          continue;
        }
        windows.delete(key);
        windows.set(key, { startedAt: now(), failures: 1 });
        while (windows.size > maxKeys) windows.delete(windows.keys().next().value!);
      }
    },
  };
}
