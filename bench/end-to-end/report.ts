/**
 * One table per pipeline with both systems side by side and their ratio (seed-style / project
 * for throughput, project / seed-style for everything that costs: latency, memory, CPU), the
 * open-bookings memory figures, and every figure as JSON for the README. Rates and costs are per
 * booking, purchase or prescription, never per Kafka record: a redelivery is more work for the
 * same booking, so dividing by records would flatter whichever system redelivers more.
 */
import { writeFileSync } from 'node:fs';
import { cpuMsPer, cpuProcesses } from './measure';
import { latency, type Drained, type Resources, type Trickled } from './phases';
import { prescriptionLines, type PrescriptionDrained } from './prescriptions';
import type { SystemName } from './systems';
import { meets, speedTargets, type Target } from './targets';

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
  /** Read once the top-up is at rest; its peak while the runs were opened is `open.peakRss`. */
  workerRssAtRestWithOpenBookings: number;
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
  /** Kafka records each phase's stream sends, redeliveries included (context; the tables divide by entities). */
  records: Record<string, number>;
  prescriptionTrackingInterval?: string;
  systems: Partial<Record<SystemName, SystemResults>>;
  bridge?: Record<string, unknown>;
  file?: string;
}

const MiB = 2 ** 20;
const fixed = (v: number | undefined, digits = 0) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !Number.isFinite(a / b) || b === 0 ? '—' : `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×`;

/** A figure, each system's value, their ratio, and where an issue sets one, its target and whether the project met it. */
type Row = [figure: string, seed: string, project: string, ratio: string, target?: string];

function table(title: string, rows: Row[]): string {
  const withTarget = rows.some((r) => r[4] !== undefined);
  const header: Row = ['Figure', 'Seed-style', 'Project', 'Ratio', withTarget ? 'Issue target (project)' : undefined];
  const columns = withTarget ? 5 : 4;
  const cells = (r: Row) => Array.from({ length: columns }, (_, i) => r[i] ?? '');
  const widths = cells(header).map((_, i) => Math.max(...[header, ...rows].map((r) => cells(r)[i]!.length)));
  const line = (r: Row) =>
    cells(r)
      .map((cell, i) => (i === 0 || i === 4 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [`\n${title}`, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const share = (load: number, capacity: number | undefined) => (capacity === undefined ? '—' : `${Math.round((load / capacity) * 100)} %`);
/** Bookings or purchases per second: distinct entities, however many records carried them. */
const rate = (d: Drained | undefined) => (d && d.complete ? d.entities / d.seconds : undefined);
/** A drain's rate, or for one that did not finish, how far it got. */
const drainRate = (d: Drained | undefined) =>
  d === undefined ? '—' : d.complete ? fixed(rate(d), 1) : `incomplete: ${d.rowsFound}/${d.rowsExpected} rows in ${fixed(d.seconds)} s`;

/** The CPU rows of one drain, per booking or purchase: each process, ours together, and everything measured. */
function cpuRows(label: string, seed: Drained, project: Drained, entity: string, withAdmin: boolean): Row[] {
  const targets: Partial<Record<string, Target>> = entity === 'booking' ? speedTargets.bookingCpuMs : {};
  const processes = cpuProcesses([...Object.keys(seed.cpuSeconds), ...Object.keys(project.cpuSeconds)], withAdmin);
  const workerRoles = processes[0]![1];
  const sum = (d: Drained, names: string[]) => cpuMsPer(d.cpuSeconds, names, d.entities);
  const all = processes.flatMap(([, names]) => names);
  const rows: Row[] = processes.map(([what, names]) => {
    const s = names.some((n) => n in seed.cpuSeconds) ? sum(seed, names) : undefined;
    const p = names.some((n) => n in project.cpuSeconds) ? sum(project, names) : undefined;
    const target = what === 'worker' ? targets.worker : what === 'Temporal server' ? targets.temporal : undefined;
    return [`  ${what}`, fixed(s, 2), fixed(p, 2), ratio(p, s), target && meets(p, target)];
  });
  const own = (d: Drained) => sum(d, [...workerRoles, 'bridge']);
  return [
    [`${label}, CPU ms per ${entity}`, '', '', ''],
    ...rows,
    ['  its own processes', fixed(own(seed), 2), fixed(own(project), 2), ratio(own(project), own(seed))],
    ['  all of the above', fixed(sum(seed, all), 2), fixed(sum(project, all), 2), ratio(sum(project, all), sum(seed, all)), targets.all && meets(sum(project, all), targets.all)],
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
  const [entity, entities] = pipeline === 'booking' ? ['booking', 'bookings'] : ['purchase', 'purchases'];
  const c = [correctness([sd, sl, ...(pipeline === 'booking' ? [s.open] : [])]), correctness([pd, pl, ...(pipeline === 'booking' ? [p.open] : [])])];
  // The light load is sent at a record rate; compared with the drain as the bookings or purchases
  // it brings per second (a cancellation is a record but not a new booking).
  const lightRate = (t: Trickled) => (t.rate * t.entities) / t.records;
  const cancellations = sl.records - sl.entities;
  const rows: Row[] = [
    [
      `Backlog drain, ${entities}/s (${sd.entities} ${entities} sent as ${sd.records} records, ${sd.records - sd.entities} of them redelivered)`,
      drainRate(sd),
      drainRate(pd),
      ratio(rate(sd), rate(pd)),
      meets(rate(pd), pipeline === 'booking' ? speedTargets.bookingsPerSecond : speedTargets.purchasesPerSecond),
    ],
    ['  seconds to the last row', fixed(sd.seconds, 1), fixed(pd.seconds, 1), ratio(pd.seconds, sd.seconds)],
    ['  project at rest, seconds after the last row', '—', fixed(pd.restConfirmedAfterSeconds, 1), ''],
    // A light load must stay well below what each system drains, or it measures queueing.
    [
      `Light load: ${sl.entities} ${entities} (${sl.records} records${cancellations > 0 ? `, ${cancellations} of them cancellations` : ''}) at ${sl.rate} records/s, ` +
        `${fixed(lightRate(sl), 1)} ${entities}/s as a share of the drain's ${entities}/s`,
      share(lightRate(sl), rate(sd)),
      share(lightRate(pl), rate(pd)),
      '',
    ],
    [`  produced → row p50 ms, per ${entity} (n=${sRow.n})`, fixed(sRow.p50), fixed(pRow.p50), ratio(pRow.p50, sRow.p50)],
    [`  produced → row p99 ms`, fixed(sRow.p99), fixed(pRow.p99), ratio(pRow.p99, sRow.p99), pipeline === 'booking' ? meets(pRow.p99, speedTargets.bookingLightP99Ms) : undefined],
    [`  ${lastLabel} p50 ms, per ${pipeline === 'booking' ? 'cancelled booking' : entity} (n=${sLast.n})`, fixed(sLast.p50), fixed(pLast.p50), ratio(pLast.p50, sLast.p50)],
    [`  ${lastLabel} p99 ms`, fixed(sLast.p99), fixed(pLast.p99), ratio(pLast.p99, sLast.p99)],
    ['Peak RSS, worker MiB (drain and light load)', fixed(peakRss([sd, sl], 'worker')), fixed(peakRss([pd, pl], 'worker')), ratio(peakRss([pd, pl], 'worker'), peakRss([sd, sl], 'worker'))],
    ['Peak RSS, bridge MiB', '—', fixed(peakRss([pd, pl], 'bridge')), ''],
    ...cpuRows('Backlog drain', sd, pd, entity, pipeline === 'purchase'),
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

/**
 * The issue's memory target: worker RSS with 10,000 bookings open, judged at the peak while
 * they are opened (and shown at rest too). MB as written there, so 300 × 10^6 bytes, not MiB.
 */
const openBookingsRssTarget = { bytes: 300e6, openBookings: 10_000 };

function againstTarget(bytes: number | undefined, openRuns: number | undefined): string {
  const { bytes: limit, openBookings } = openBookingsRssTarget;
  const stated = `≤ ${limit / 1e6} MB (${fixed(limit / MiB)} MiB)`;
  if (bytes === undefined || Number.isNaN(bytes)) return `${stated}: not measured`;
  const verdict = bytes <= limit ? 'met' : 'not met';
  // A smaller run (BENCH_QUICK) still says where it stands, but not that it settles the target.
  return openRuns !== undefined && openRuns >= openBookings ? `${stated}: ${verdict}` : `${stated}: ${verdict} at ${openRuns ?? '?'} open, not ${openBookings.toLocaleString('en-US')}`;
}

function openTable(results: Results): string {
  const s = results.systems.seed!;
  const p = results.systems.project!;
  const target = results.settings.openBookings!;
  const peak = (r: SystemResults) => (r.open ? peakRss([r.open], 'worker') : undefined);
  const gap = (r: SystemResults) => r.open?.sampling.longestGapMs;
  const topUp = p.open?.entities ?? s.open?.entities ?? 0;
  return table(`Many open bookings (target ${target}; the top-up of ${topUp} bookings drained as a backlog)`, [
    ['Worker RSS idle after start-up, before any event, MiB', fixed(s.idleRss.worker! / MiB), fixed(p.idleRss.worker! / MiB), ratio(p.idleRss.worker, s.idleRss.worker)],
    ['Booking runs open afterwards', '— (none kept)', String(p.openRuns ?? '—'), ''],
    ['Top-up drain, bookings/s', drainRate(s.open), drainRate(p.open), ratio(rate(s.open), rate(p.open))],
    ['Worker peak RSS while the top-up opened its runs, MiB', fixed(peak(s)), fixed(peak(p)), ratio(peak(p), peak(s)), againstTarget(p.open && p.open.peakRss.worker, p.openRuns)],
    [
      `  sampled every ${p.open?.sampling.intervalMs ?? s.open?.sampling.intervalMs ?? '?'} ms from the first record sent to at rest; longest gap, ms`,
      fixed(gap(s)),
      fixed(gap(p)),
      '',
    ],
    [
      'Worker RSS at rest after the top-up, MiB',
      fixed(s.workerRssAtRestWithOpenBookings / MiB),
      fixed(p.workerRssAtRestWithOpenBookings / MiB),
      ratio(p.workerRssAtRestWithOpenBookings, s.workerRssAtRestWithOpenBookings),
      againstTarget(p.workerRssAtRestWithOpenBookings, p.openRuns),
    ],
    ['Bridge peak RSS during the top-up, MiB', '—', fixed(p.open && peakRss([p.open], 'bridge')), ''],
    ...(s.open && p.open ? [otherLoadRow(s.open, p.open)] : []),
  ]);
}

/** The printed report: the run's settings, one table per pipeline, the open-bookings memory, prescriptions and the bridge-only figures. */
export function renderReport(results: Results): string {
  const m = results.machine;
  const out: string[] = [];
  out.push(`\n== End-to-end benchmark, ${results.date}${results.quick ? ' (BENCH_QUICK)' : ''} ==`);
  out.push(`Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}; Temporal profile: ${results.temporalProfile}`);
  out.push(
    `N: ${results.settings.bookings} bookings and ${results.settings.purchases} purchases (${results.settings.duplicateShare! * 100} % delivered twice), ` +
      `light load ${results.settings.lightEvents} records at ${results.settings.lightRate}/s (purchases ${results.settings.lightPurchaseRate}/s), ` +
      `${results.settings.openBookings} open bookings, ${results.settings.prescriptions ?? 0} prescriptions (project only); stream seed ${results.settings.seed}`,
  );
  out.push('Rates and CPU are per booking, purchase or prescription (distinct IDs); record counts, redeliveries included, are context.');
  if (results.systems.seed && results.systems.project) {
    out.push(pipelineTable('booking', results));
    out.push(pipelineTable('purchase', results));
    out.push(openTable(results));
  }
  if (results.systems.project) out.push(prescriptionLines(results.systems.project.prescriptionDrain, results.prescriptionTrackingInterval ?? '?'));
  for (const [name, r] of Object.entries(results.systems)) {
    for (const [role, { exits, why }] of Object.entries(r.crashes)) {
      if (exits > 0) out.push(`\n${name}: the ${role} exited ${exits} times by itself and was started again${why.length ? `: ${why.join('; ')}` : ''}`);
    }
  }
  if (results.bridge) {
    // The bridge moves records, so its figures are per record; its streams send each booking once.
    out.push('\nBridge only (no worker; bench/bridge-throughput.ts), per Kafka record: each record is a distinct booking, none redelivered');
    for (const [k, v] of Object.entries(results.bridge)) out.push(`  ${k.padEnd(28)} ${String(v)}`);
  }
  return out.join('\n');
}

export function report(results: Results, file: string): void {
  console.log(renderReport(results));
  // Per-entity write times are summarised, not listed.
  const summarised = (key: string, value: unknown) =>
    key === 'first' || key === 'last' ? undefined : (key === 'toRow' || key === 'toLast') && Array.isArray(value) ? latency(value) : value;
  writeFileSync(file, JSON.stringify(results, summarised, 2));
  console.log(`\nAll figures as JSON: ${file}`);
}
