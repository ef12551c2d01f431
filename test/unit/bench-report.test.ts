import { describe, expect, it } from 'vitest';
import type { Measured } from '../../bench/end-to-end/measure';
import type { Drained, Trickled } from '../../bench/end-to-end/phases';
import { prescriptionLines } from '../../bench/end-to-end/prescriptions';
import { renderReport, type Results, type SystemResults } from '../../bench/end-to-end/report';
import type { Written } from '../../bench/end-to-end/rows';
import { meets, speedTargets } from '../../bench/end-to-end/targets';

const MiB = 2 ** 20;

const noRows = (): Written => ({ first: new Map(), last: new Map(), lastWriteMs: 0, lost: [], duplicated: [], wrong: [] });

const measured = (workerCpuSeconds: number, workerPeakRss = 200 * MiB): Measured => ({
  cpuSeconds: { worker: workerCpuSeconds },
  otherCores: 0,
  peakRss: { worker: workerPeakRss },
  sampling: { intervalMs: 250, samples: 40, longestGapMs: 270 },
});

function drained(entities: number, records: number, seconds: number, workerCpuSeconds: number, workerPeakRss?: number): Drained {
  return { records, entities, complete: true, rowsExpected: entities, rowsFound: entities, seconds, rows: noRows(), ...measured(workerCpuSeconds, workerPeakRss) };
}

const trickled = (entities: number, records: number): Trickled => ({
  records,
  entities,
  rate: 10,
  complete: true,
  toRow: [20, 30],
  toLast: [40],
  rows: noRows(),
  ...measured(1),
});

/**
 * Both systems drain 100 bookings sent as 125 records in 10 s with 2 s of worker CPU, and 50
 * purchases sent as 60 records in 5 s; the top-up to the open bookings peaks at `openPeak`.
 */
function results({ openPeak, atRest, openRuns }: { openPeak: number; atRest: number; openRuns: number }): Results {
  const system = (): SystemResults => ({
    idleRss: { worker: 150 * MiB },
    bookingDrain: drained(100, 125, 10, 2),
    bookingLight: trickled(45, 50),
    purchaseDrain: drained(50, 60, 5, 1),
    purchaseLight: trickled(50, 50),
    open: drained(openRuns, openRuns, 100, 10, openPeak),
    openRuns,
    workerRssAtRestWithOpenBookings: atRest,
    deadLettered: 0,
    refusalsExpected: 0,
    crashes: {},
  });
  return {
    date: '2026-12-02T00:00:00.000Z',
    machine: { cpus: 2, cpuModel: 'test', memoryGiB: 8, node: 'v20' },
    temporalProfile: 'dev',
    quick: false,
    settings: { bookings: 100, purchases: 50, duplicateShare: 0.25, lightEvents: 50, lightRate: 10, lightPurchaseRate: 2, openBookings: 10_000, seed: 1 },
    records: {},
    systems: { seed: system(), project: system() },
  };
}

/** The cells of the printed row whose figure starts with `label`: columns are two or more spaces apart. */
function row(report: string, label: string): string[] {
  const line = report.split('\n').find((l) => l.trimStart().startsWith(label));
  if (!line) throw new Error(`no row starting with "${label}" in:\n${report}`);
  return line.trim().split(/\s{2,}/);
}

/** The row `label` under the heading row `heading` (the CPU rows repeat their labels in each table). */
function rowAfter(report: string, heading: string, label: string): string[] {
  return row(report.slice(report.indexOf(heading)), label);
}

describe('the benchmark report', () => {
  it('divides a drain by its distinct bookings or purchases, not by the records that carried them, redeliveries included', () => {
    const report = renderReport(results({ openPeak: 250 * MiB, atRest: 240 * MiB, openRuns: 10_000 }));

    const bookings = row(report, 'Backlog drain, bookings/s');
    expect(bookings[0]).toBe('Backlog drain, bookings/s (100 bookings sent as 125 records, 25 of them redelivered)');
    expect(bookings.slice(1, 3)).toEqual(['10.0', '10.0']);
    expect(rowAfter(report, 'Backlog drain, CPU ms per booking', 'worker').slice(1, 3)).toEqual(['20.00', '20.00']);

    const purchases = row(report, 'Backlog drain, purchases/s');
    expect(purchases[0]).toBe('Backlog drain, purchases/s (50 purchases sent as 60 records, 10 of them redelivered)');
    expect(purchases.slice(1, 3)).toEqual(['10.0', '10.0']);
    expect(rowAfter(report, 'Backlog drain, CPU ms per purchase', 'worker').slice(1, 3)).toEqual(['20.00', '20.00']);

    // 45 bookings in 50 records at 10 records/s bring 9 bookings/s, against a drain of 10 bookings/s.
    expect(row(report, 'Light load: 45 bookings (50 records, 5 of them cancellations) at 10 records/s, 9.0 bookings/s').slice(1, 3)).toEqual(['90 %', '90 %']);
    expect(row(report, 'Top-up drain, bookings/s').slice(1, 3)).toEqual(['100.0', '100.0']);
  });

  it("judges the worker's memory with 10,000 open bookings at its peak while they were opened, and shows its RSS at rest beside it", () => {
    const report = renderReport(results({ openPeak: 320e6, atRest: 240e6, openRuns: 10_000 }));

    const peak = row(report, 'Worker peak RSS while the top-up opened its runs, MiB');
    expect(peak.slice(1, 3)).toEqual(['305', '305']);
    expect(peak[4]).toBe('≤ 300 MB (286 MiB): not met');
    const atRest = row(report, 'Worker RSS at rest after the top-up, MiB');
    expect(atRest.slice(1, 3)).toEqual(['229', '229']);
    expect(atRest[4]).toBe('≤ 300 MB (286 MiB): met');
    expect(row(report, 'sampled every 250 ms from the first record sent to at rest; longest gap, ms').slice(1, 3)).toEqual(['270', '270']);
  });

  it('says so when fewer runs were open than the 10,000 the memory target is for', () => {
    const report = renderReport(results({ openPeak: 250 * MiB, atRest: 240 * MiB, openRuns: 600 }));

    expect(row(report, 'Worker peak RSS while the top-up opened its runs, MiB')[4]).toBe('≤ 300 MB (286 MiB): met at 600 open, not 10,000');
  });

  it("prints the speed issue's targets beside the project's figures, judged on them", () => {
    // 10 bookings/s, 20 ms of worker CPU each, the light load's p99 30 ms; 10 purchases/s.
    const report = renderReport(results({ openPeak: 250 * MiB, atRest: 240 * MiB, openRuns: 10_000 }));

    expect(row(report, 'Backlog drain, bookings/s')[4]).toBe('≥ 120/s: not met');
    expect(row(report, 'Backlog drain, purchases/s')[4]).toBe('≥ 40/s: not met');
    expect(row(report.slice(report.indexOf('Booking (seed 004)')), 'produced → row p99 ms')[4]).toBe('≤ 50 ms: met');
    expect(rowAfter(report, 'Backlog drain, CPU ms per booking', 'worker')[4]).toBe('≤ 5 ms: not met');
    expect(rowAfter(report, 'Backlog drain, CPU ms per booking', 'Temporal server')[4]).toBe('≤ 8 ms: not measured');
    expect(rowAfter(report, 'Backlog drain, CPU ms per booking', 'all of the above')[4]).toBe('≤ 15 ms: not met');
    // Purchases have no CPU target.
    expect(rowAfter(report, 'Backlog drain, CPU ms per purchase', 'worker')).toHaveLength(4);
  });

  it('judges a target met only on the right side of it', () => {
    expect(meets(120, speedTargets.bookingsPerSecond)).toBe('≥ 120/s: met');
    expect(meets(119.9, speedTargets.bookingsPerSecond)).toBe('≥ 120/s: not met');
    expect(meets(15, speedTargets.bookingCpuMs.all)).toBe('≤ 15 ms: met');
    expect(meets(15.01, speedTargets.bookingCpuMs.all)).toBe('≤ 15 ms: not met');
    expect(meets(undefined, speedTargets.prescriptionsPerSecond)).toBe('≥ 15/s: not measured');
  });
});

describe('the prescription lines', () => {
  it('divide the drain’s CPU by its distinct prescriptions, each process and all of them', () => {
    const lines = prescriptionLines(
      {
        prescriptions: 200,
        records: 215,
        complete: true,
        delivered: 200,
        seconds: 40,
        toCompleted: { p50: 1000, p99: 2000, n: 200 },
        lost: [],
        duplicated: [],
        wrong: [],
        cpuSeconds: { worker: 60, bridge: 6, temporal: 40, postgres: 4, kafka: 2, harness: 100 },
      },
      '1s',
    );
    expect(lines).toContain('prescriptions/s to delivered (200 prescriptions sent as 215 intake records, 15 of them redelivered; payer-full-coverage, tracking every 1s): 5.0');
    expect(lines).toContain(
      'CPU ms per prescription over the drain: worker 300.0 / bridge 30.0 / Temporal server 200.0 / PostgreSQL 20.0 / Kafka 10.0; all of these 560.0',
    );
  });
});
