/**
 * One table per pipeline with both systems side by side and their ratio (seed-style / project
 * for throughput, project / seed-style for everything that costs: latency, memory, CPU), the
 * open-bookings memory figures, and every figure as JSON for the README.
 */
import { writeFileSync } from 'node:fs';
import { latency, type Drained, type Resources, type Trickled } from './phases';
import { prescriptionLines, type PrescriptionDrained } from './prescriptions';
import type { SystemName } from './systems';

export interface SystemResults {
  /** Resident memory of its processes once started and idle, before any event, bytes. */
  idleRss: Record<string, number>;
  bookingDrain: Drained;
  bookingLight: Trickled;
  purchaseDrain: Drained;
  purchaseLight: Trickled;
  /** Project only: there is no seed-style prescription worker. */
  prescriptionDrain?: PrescriptionDrained;
  /** The top-up to the open-bookings target; undefined when the earlier phases already reached it. */
  open?: Drained;
  /** Booking runs open afterwards (project only). */
  openRuns?: number;
  workerRssWithOpenBookings: number;
  /** Runs waiting for a person at the end (project only): the refused purchases, nothing else. */
  needingPerson?: number;
  /** Records on the dead-letter topic (the seed-style worker's refused purchases). */
  deadLettered: number;
  refusalsExpected: number;
  /** Processes that exited by themselves during the run and were started again, and why. */
  crashes: Record<string, { exits: number; why: string[] }>;
}

export interface Results {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string };
  temporalProfile: string;
  quick: boolean;
  settings: Record<string, number>;
  events: Record<string, number>;
  prescriptionTrackingInterval?: string;
  systems: Partial<Record<SystemName, SystemResults>>;
  bridge?: Record<string, unknown>;
  file?: string;
}

const MiB = 2 ** 20;
const fixed = (v: number | undefined, digits = 0) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !Number.isFinite(a / b) || b === 0 ? '—' : `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×`;

type Row = [figure: string, seed: string, project: string, ratio: string];

function table(title: string, rows: Row[]): string {
  const header: Row = ['Figure', 'Seed-style', 'Project', 'Ratio'];
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const line = (r: Row) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [`\n${title}`, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const share = (load: number, capacity: number | undefined) => (capacity === undefined ? '—' : `${Math.round((load / capacity) * 100)} %`);
const rate = (d: Drained | undefined) => (d && d.complete ? d.events / d.seconds : undefined);
/** A drain's rate, or for one that did not finish, how far it got. */
const drainRate = (d: Drained | undefined) =>
  d === undefined ? '—' : d.complete ? fixed(rate(d), 1) : `incomplete: ${d.rowsFound}/${d.rowsExpected} rows in ${fixed(d.seconds)} s`;
const perEventMs = (r: Resources, name: string, events: number) => (r.cpuSeconds[name] ?? NaN) * 1000 / events;

/** The CPU rows of one phase: each process, ours together, and everything measured. */
function cpuRows(label: string, seed: Resources, project: Resources, events: number, withAdmin: boolean): Row[] {
  const processes: Array<[string, string[]]> = [
    ['worker', ['worker']],
    ['bridge', ['bridge']],
    ['Temporal server', ['temporal']],
    ['PostgreSQL', ['postgres']],
    ['Kafka', ['kafka']],
    ...(withAdmin ? ([['admin service', ['adminService']]] as Array<[string, string[]]>) : []),
  ];
  const sum = (r: Resources, names: string[]) => names.reduce((s, n) => s + (Number.isNaN(perEventMs(r, n, events)) ? 0 : perEventMs(r, n, events)), 0);
  const all = processes.flatMap(([, names]) => names);
  const rows: Row[] = processes.map(([what, names]) => {
    const s = names.some((n) => n in seed.cpuSeconds) ? sum(seed, names) : undefined;
    const p = names.some((n) => n in project.cpuSeconds) ? sum(project, names) : undefined;
    return [`  ${what}`, fixed(s, 2), fixed(p, 2), ratio(p, s)];
  });
  const own = (r: Resources) => sum(r, ['worker', 'bridge']);
  return [
    [`${label}, CPU ms per event`, '', '', ''],
    ...rows,
    ['  its own processes', fixed(own(seed), 2), fixed(own(project), 2), ratio(own(project), own(seed))],
    ['  all of the above', fixed(sum(seed, all), 2), fixed(sum(project, all), 2), ratio(sum(project, all), sum(seed, all))],
  ];
}

/** Cores other work on this machine kept busy, on average, while a phase ran. */
function otherLoadRow(seed: Drained, project: Drained): Row {
  return ['Other work on the machine meanwhile, cores busy', fixed(seed.otherCores, 2), fixed(project.otherCores, 2), ''];
}

function peakRss(phases: Resources[], name: string): number | undefined {
  const peaks = phases.map((p) => p.peakRss[name]).filter((v): v is number => v !== undefined);
  return peaks.length ? Math.max(...peaks) / MiB : undefined;
}

function correctness(phases: Array<Drained | Trickled | undefined>) {
  const present = phases.filter((p): p is Drained | Trickled => p !== undefined);
  const count = (k: 'lost' | 'duplicated' | 'wrong') => present.reduce((s, p) => s + p.rows[k].length, 0);
  const examples = present.flatMap((p) => [...p.rows.lost, ...p.rows.duplicated, ...p.rows.wrong]).slice(0, 3);
  return { text: `${count('lost')} / ${count('duplicated')} / ${count('wrong')}`, examples };
}

function pipelineTable(pipeline: 'booking' | 'purchase', results: Results): string {
  const s = results.systems.seed!;
  const p = results.systems.project!;
  const drainOf = (r: SystemResults) => (pipeline === 'booking' ? r.bookingDrain : r.purchaseDrain);
  const lightOf = (r: SystemResults) => (pipeline === 'booking' ? r.bookingLight : r.purchaseLight);
  const [sd, pd, sl, pl] = [drainOf(s), drainOf(p), lightOf(s), lightOf(p)];
  const [sRow, pRow, sLast, pLast] = [latency(sl.toRow), latency(pl.toRow), latency(sl.toLast), latency(pl.toLast)];
  const lastLabel = pipeline === 'booking' ? 'cancellation → cancelled' : '→ 7th session written';
  const distinct = pipeline === 'booking' ? results.events.bookingDrainBookings! : results.events.purchaseDrainPurchases!;
  const entities = `${distinct} ${pipeline === 'booking' ? 'bookings' : 'purchases'}, ${sd.events - distinct} redelivered`;
  const c = [correctness([sd, sl, ...(pipeline === 'booking' ? [s.open] : [])]), correctness([pd, pl, ...(pipeline === 'booking' ? [p.open] : [])])];
  const rows: Row[] = [
    [`Backlog drain, events/s (${sd.events} events: ${entities})`, drainRate(sd), drainRate(pd), ratio(rate(sd), rate(pd))],
    ['  seconds to the last row', fixed(sd.seconds, 1), fixed(pd.seconds, 1), ratio(pd.seconds, sd.seconds)],
    ['  project at rest, seconds after the last row', '—', fixed(pd.restConfirmedAfterSeconds, 1), ''],
    // A light load must stay well below what each system drains, or it measures queueing.
    [`Light load: ${sl.events} events at ${sl.rate}/s, as a share of the drain rate`, share(sl.rate, rate(sd)), share(pl.rate, rate(pd)), ''],
    ['  produced → row p50 ms', fixed(sRow.p50), fixed(pRow.p50), ratio(pRow.p50, sRow.p50)],
    ['  produced → row p99 ms', fixed(sRow.p99), fixed(pRow.p99), ratio(pRow.p99, sRow.p99)],
    [`  ${lastLabel} p50 ms (n=${sLast.n})`, fixed(sLast.p50), fixed(pLast.p50), ratio(pLast.p50, sLast.p50)],
    [`  ${lastLabel} p99 ms`, fixed(sLast.p99), fixed(pLast.p99), ratio(pLast.p99, sLast.p99)],
    ['Peak RSS, worker MiB (drain and light load)', fixed(peakRss([sd, sl], 'worker')), fixed(peakRss([pd, pl], 'worker')), ratio(peakRss([pd, pl], 'worker'), peakRss([sd, sl], 'worker'))],
    ['Peak RSS, bridge MiB', '—', fixed(peakRss([pd, pl], 'bridge')), ''],
    ...cpuRows('Backlog drain', sd, pd, sd.events, pipeline === 'purchase'),
    otherLoadRow(sd, pd),
    ['Lost / duplicated / wrong rows' + (pipeline === 'booking' ? ' (all booking phases)' : ''), c[0]!.text, c[1]!.text, ''],
  ];
  if (pipeline === 'purchase') {
    rows.push([
      `Refused (no trainer), expected ${s.refusalsExpected}`,
      `${s.deadLettered} dead-lettered`,
      `${p.needingPerson ?? '—'} waiting for a person`,
      '',
    ]);
  }
  const title = pipeline === 'booking' ? 'Booking (seed 004)' : 'Purchase to sessions (seeds 001, 003)';
  const examples = c.flatMap((x, i) => x.examples.map((e) => `  ${i === 0 ? 'seed-style' : 'project'}: ${e}`));
  return table(title, rows) + (examples.length ? `\n${examples.join('\n')}` : '');
}

function openTable(results: Results): string {
  const s = results.systems.seed!;
  const p = results.systems.project!;
  const target = results.settings.openBookings!;
  return table(`Many open bookings (target ${target}; the top-up of ${results.events.openTopUp} bookings drained as a backlog)`, [
    ['Worker RSS idle after start-up, before any event, MiB', fixed(s.idleRss.worker! / MiB), fixed(p.idleRss.worker! / MiB), ratio(p.idleRss.worker, s.idleRss.worker)],
    ['Booking runs open afterwards', '— (none kept)', String(p.openRuns ?? '—'), ''],
    ['Top-up drain, events/s', drainRate(s.open), drainRate(p.open), ratio(rate(s.open), rate(p.open))],
    ['Worker RSS at that point, MiB', fixed(s.workerRssWithOpenBookings / MiB), fixed(p.workerRssWithOpenBookings / MiB), ratio(p.workerRssWithOpenBookings, s.workerRssWithOpenBookings)],
    ['Worker peak RSS during the top-up, MiB', fixed(s.open && peakRss([s.open], 'worker')), fixed(p.open && peakRss([p.open], 'worker')), ratio(p.open && peakRss([p.open], 'worker'), s.open && peakRss([s.open], 'worker'))],
    ['Bridge peak RSS during the top-up, MiB', '—', fixed(p.open && peakRss([p.open], 'bridge')), ''],
    ...(s.open && p.open ? [otherLoadRow(s.open, p.open)] : []),
  ]);
}

export function report(results: Results, file: string): void {
  const m = results.machine;
  console.log(`\n== End-to-end benchmark, ${results.date}${results.quick ? ' (BENCH_QUICK)' : ''} ==`);
  console.log(`Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}; Temporal profile: ${results.temporalProfile}`);
  console.log(
    `N: ${results.settings.bookings} bookings and ${results.settings.purchases} purchases (${results.settings.duplicateShare! * 100} % delivered twice), ` +
      `light load ${results.settings.lightEvents} events at ${results.settings.lightRate}/s (purchases ${results.settings.lightPurchaseRate}/s), ` +
      `${results.settings.openBookings} open bookings, ${results.settings.prescriptions ?? 0} prescriptions (project only); stream seed ${results.settings.seed}`,
  );
  if (results.systems.seed && results.systems.project) {
    console.log(pipelineTable('booking', results));
    console.log(pipelineTable('purchase', results));
    console.log(openTable(results));
  }
  if (results.systems.project) console.log(prescriptionLines(results.systems.project.prescriptionDrain, results.prescriptionTrackingInterval ?? '?'));
  for (const [name, r] of Object.entries(results.systems)) {
    for (const [role, { exits, why }] of Object.entries(r.crashes)) {
      if (exits > 0) console.log(`\n${name}: the ${role} exited ${exits} times by itself and was started again${why.length ? `: ${why.join('; ')}` : ''}`);
    }
  }
  if (results.bridge) {
    console.log('\nBridge only (no worker; bench/bridge-throughput.ts):');
    for (const [k, v] of Object.entries(results.bridge)) console.log(`  ${k.padEnd(28)} ${String(v)}`);
  }
  // Per-entity write times are summarised, not listed.
  const summarised = (key: string, value: unknown) =>
    key === 'first' || key === 'last' ? undefined : (key === 'toRow' || key === 'toLast') && Array.isArray(value) ? latency(value) : value;
  writeFileSync(file, JSON.stringify(results, summarised, 2));
  console.log(`\nAll figures as JSON: ${file}`);
}
