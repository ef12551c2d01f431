/**
 * The prescription figure: a backlog of intakes drained by the project, each to the end of its
 * fulfillment (validated, enrolled, pharmacy, claim, label, delivered). There is no seed-style
 * worker for prescriptions (bench/seed-worker has bookings and purchases only), so no ratio: the
 * figure stands alone. Every intake is for payer-full-coverage (nothing owed: no payment to wait
 * for), and main.ts gives the workers and bridges a short tracking interval; the carrier stand-in
 * delivers about 5 s after the label, which is most of each prescription's latency.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { prescriptionTopics } from '../../src/contracts/prescription';
import type { Say } from '../chaos/processes';
import { cpuMsPer, cpuProcesses, percentile } from './measure';
import { random } from '../chaos/stream';
import { meets, speedTargets } from './targets';

/** The steps a fully covered prescription takes, each with its one audit row. */
const steps = ['validatePrescription', 'enrollPatient', 'selectPharmacy', 'adjudicateClaim', 'requestPayment', 'createShippingLabel', 'recordDelivery'];

export interface PrescriptionStream {
  ids: string[];
  /** Intakes in the order sent: `duplicateShare` of them a second time, a little later. */
  events: Array<{ key: string; value: object }>;
}

export function prescriptionBacklog(seed: number, prefix: string, count: number, duplicateShare: number): PrescriptionStream {
  const rnd = random(seed);
  const today = new Date().toISOString().slice(0, 10);
  const slots: Array<{ at: number; event: { key: string; value: object } }> = [];
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const prescriptionId = `${prefix}_rx${i}`;
    ids.push(prescriptionId);
    const value = {
      type: 'PRESCRIPTION_INTAKE_RECEIVED',
      prescriptionId,
      patient: {
        patientId: `${prefix}_patient${i}`,
        name: `Bench Patient ${i}`,
        dateOfBirth: '1975-09-12',
        address: { line1: `${i} Benchmark Road`, city: 'Springfield', postalCode: '12345', country: 'US' },
      },
      prescriber: { npi: '1234567893', name: 'Dr. Bench' },
      medication: { ndc: '11111-0001-01', name: 'Metformin 500 mg', quantity: 30 + Math.floor(rnd() * 60) },
      insurance: { payerId: 'payer-full-coverage', memberId: `M${prefix}${i}` },
      writtenOn: today,
      receivedAt: new Date().toISOString(),
    };
    const event = { key: prescriptionId, value };
    slots.push({ at: i, event });
    if (rnd() < duplicateShare) slots.push({ at: i + 1 + Math.floor(rnd() * 50), event });
  }
  slots.sort((a, b) => a.at - b.at);
  return { ids, events: slots.map((s) => s.event) };
}

export interface PrescriptionDrained {
  /** Distinct prescriptions: what the rate is per. */
  prescriptions: number;
  /** Intake records sent, redeliveries included: context only. */
  records: number;
  complete: boolean;
  delivered: number;
  /** From the first intake sent to the last delivery recorded. */
  seconds: number;
  /** Intake produced (its batch acknowledged by Kafka) → the delivery's audit row, ms. */
  toCompleted: { p50: number; p99: number; n: number };
  lost: string[];
  duplicated: string[];
  wrong: string[];
  /** CPU seconds by process over the drain (bench/end-to-end/measure.ts), when measured. */
  cpuSeconds?: Record<string, number>;
}

const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

/** Sends the intakes in one burst and waits until every prescription is delivered (or stalls, or times out). */
export async function drainPrescriptions(
  ctx: { producer: Producer; say: Say; stallSeconds: number; timeoutSeconds: number },
  db: Pool,
  prefix: string,
  stream: PrescriptionStream,
): Promise<PrescriptionDrained> {
  const start = Date.now();
  const producedAt = new Map<string, number>();
  for (let i = 0; i < stream.events.length; i += 500) {
    const batch = stream.events.slice(i, i + 500);
    await ctx.producer.send({
      topic: prescriptionTopics.intakeReceived,
      acks: -1,
      messages: batch.map((e) => ({ key: e.key, value: JSON.stringify(e.value) })),
    });
    // The first copy's time: a redelivery does not restart the clock.
    const now = Date.now();
    for (const e of batch) if (!producedAt.has(e.key)) producedAt.set(e.key, now);
  }

  let lastFound = -1;
  let lastChange = Date.now();
  let lastReport = Date.now();
  let complete = false;
  for (;;) {
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM prescription_audit_log WHERE starts_with(prescription_id, $1) AND step = 'recordDelivery'`,
      [prefix],
    );
    const found = Number(rows[0]!.n);
    if (found >= stream.ids.length) {
      complete = true;
      break;
    }
    if (found !== lastFound) [lastFound, lastChange] = [found, Date.now()];
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now();
      ctx.say(`  project prescriptions: ${found}/${stream.ids.length} delivered`);
    }
    const stalled = Date.now() - lastChange > ctx.stallSeconds * 1000;
    if (stalled || Date.now() - start > ctx.timeoutSeconds * 1000) {
      ctx.say(`  project prescriptions: ${stalled ? `no delivery for ${ctx.stallSeconds} s` : `not done after ${ctx.timeoutSeconds} s`}; ${found}/${stream.ids.length}; giving up on this phase`);
      break;
    }
    await sleep(250);
  }

  const [prescriptions, audit] = await Promise.all([
    db.query<{ prescription_id: string; status: string }>(`SELECT prescription_id, status FROM prescriptions WHERE starts_with(prescription_id, $1)`, [prefix]),
    db.query<{ prescription_id: string; step: string; at: number }>(
      `SELECT prescription_id, step, ${epochMs('recorded_at')} AS at FROM prescription_audit_log WHERE starts_with(prescription_id, $1)`,
      [prefix],
    ),
  ]);
  const lost: string[] = [];
  const duplicated: string[] = [];
  const wrong: string[] = [];
  const rowsOf = new Map<string, string[]>();
  for (const r of prescriptions.rows) rowsOf.set(r.prescription_id, [...(rowsOf.get(r.prescription_id) ?? []), r.status]);
  const stepsOf = new Map<string, string[]>();
  const deliveredAt = new Map<string, number>();
  for (const r of audit.rows) {
    stepsOf.set(r.prescription_id, [...(stepsOf.get(r.prescription_id) ?? []), r.step]);
    if (r.step === 'recordDelivery') deliveredAt.set(r.prescription_id, r.at);
  }
  const latencies: number[] = [];
  let lastDelivery = start;
  for (const id of stream.ids) {
    const statuses = rowsOf.get(id) ?? [];
    const taken = stepsOf.get(id) ?? [];
    if (statuses.length === 0) lost.push(`prescription ${id}: no row`);
    if (statuses.length > 1) duplicated.push(`prescription ${id}: ${statuses.length} rows`);
    if (taken.length !== new Set(taken).size) duplicated.push(`prescription ${id}: a step audited twice`);
    const at = deliveredAt.get(id);
    if (at === undefined) {
      if (statuses.length) lost.push(`prescription ${id}: not delivered (${statuses[0]})`);
      continue;
    }
    if (statuses[0] !== 'Delivered') wrong.push(`prescription ${id}: ${statuses[0]}, expected Delivered`);
    const missing = steps.filter((s) => !taken.includes(s));
    const extra = taken.filter((s) => !steps.includes(s));
    if (missing.length || extra.length) wrong.push(`prescription ${id}: audit ${missing.length ? `lacks ${missing.join(', ')}` : ''}${extra.length ? ` has ${extra.join(', ')}` : ''}`);
    latencies.push(at - producedAt.get(id)!);
    lastDelivery = Math.max(lastDelivery, at);
  }
  for (const id of rowsOf.keys()) if (!stream.ids.includes(id)) duplicated.push(`prescription ${id}: a row no intake asked for`);
  return {
    prescriptions: stream.ids.length,
    records: stream.events.length,
    complete: complete && lost.length === 0,
    delivered: deliveredAt.size,
    seconds: (lastDelivery - start) / 1000,
    toCompleted: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length },
    lost,
    duplicated,
    wrong,
  };
}

/** The report's lines: one figure, no seed-style column (there is no seed-style prescription worker). */
export function prescriptionLines(d: PrescriptionDrained | undefined, trackingInterval: string): string {
  if (!d) return '\nPrescription fulfillment (seed 000): not measured';
  const rate = d.complete && d.seconds > 0 ? (d.prescriptions / d.seconds).toFixed(1) : `incomplete: ${d.delivered}/${d.prescriptions} delivered in ${d.seconds.toFixed(0)} s`;
  const examples = [...d.lost, ...d.duplicated, ...d.wrong].slice(0, 3).map((e) => `  e.g. ${e}`);
  return [
    '\nPrescription fulfillment (seed 000), project only: no seed-style baseline exists for prescriptions, so no ratio',
    `  Backlog drain, prescriptions/s to delivered (${d.prescriptions} prescriptions sent as ${d.records} intake records, ${d.records - d.prescriptions} of them redelivered; payer-full-coverage, tracking every ${trackingInterval}): ${rate}`,
    `  the speed issue's target, on that rate (the carrier's ~5 s for the last parcel included): ${meets(d.complete && d.seconds > 0 ? d.prescriptions / d.seconds : undefined, speedTargets.prescriptionsPerSecond)}`,
    `  seconds to the last delivery: ${d.seconds.toFixed(1)}`,
    `  produced → delivered p50 / p99 ms, per prescription of the burst (n=${d.toCompleted.n}; includes the carrier stand-in's ~5 s): ${Math.round(d.toCompleted.p50)} / ${Math.round(d.toCompleted.p99)}`,
    ...(d.cpuSeconds ? [cpuLine(d.cpuSeconds, d.prescriptions)] : []),
    `  Lost / duplicated / wrong: ${d.lost.length} / ${d.duplicated.length} / ${d.wrong.length}`,
    ...examples,
  ].join('\n');
}

/** CPU per prescription of each process over the drain, as the booking and purchase tables count it. */
function cpuLine(cpuSeconds: Record<string, number>, prescriptions: number): string {
  const processes = cpuProcesses(Object.keys(cpuSeconds));
  const each = processes.map(([what, roles]) => `${what} ${cpuMsPer(cpuSeconds, roles, prescriptions).toFixed(1)}`).join(' / ');
  return `  CPU ms per prescription over the drain: ${each}; all of these ${cpuMsPer(cpuSeconds, processes.flatMap(([, roles]) => roles), prescriptions).toFixed(1)}`;
}
