/**
 * The speed issue's targets (issue 20), per booking, purchase or prescription, judged on the
 * project's figure. `atLeast` for rates, `atMost` for latencies and CPU.
 */
export const speedTargets = {
  bookingsPerSecond: { atLeast: 120, unit: '/s' },
  bookingLightP99Ms: { atMost: 50, unit: ' ms' },
  bookingCpuMs: { all: { atMost: 15, unit: ' ms' }, worker: { atMost: 5, unit: ' ms' }, temporal: { atMost: 8, unit: ' ms' } },
  purchasesPerSecond: { atLeast: 40, unit: '/s' },
  prescriptionsPerSecond: { atLeast: 15, unit: '/s' },
} as const;
export type Target = { atLeast: number; unit: string } | { atMost: number; unit: string };

/** "≥ 120/s: met", "≤ 5 ms: not met", or not measured. */
export function meets(value: number | undefined, target: Target): string {
  const stated = 'atLeast' in target ? `≥ ${target.atLeast}${target.unit}` : `≤ ${target.atMost}${target.unit}`;
  if (value === undefined || Number.isNaN(value)) return `${stated}: not measured`;
  const met = 'atLeast' in target ? value >= target.atLeast : value <= target.atMost;
  return `${stated}: ${met ? 'met' : 'not met'}`;
}
