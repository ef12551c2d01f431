/**
 * The checker: reads the final state (PostgreSQL rows, parked records, Temporal runs) and compares
 * it with what the stream implies. Nothing here knows how the pipeline works inside; it only
 * knows what the tables and the run list must hold once every event has been handled.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { attentionKindKey, failedStepKey } from '../../src/contracts/pipeline';
import { prescriptionIdFromWorkflowId, type FulfillmentState } from '../../src/contracts/prescription';
import { sessionWindowSize } from '../../src/workflows/session-window';
import { poisonKinds, type Expectations, type PoisonKind } from './stream';

export interface State {
  bookings: Array<{ booking_id: string; status: string }>;
  bookingDuplicates: number;
  purchases: Array<{ payment_id: string; student_id: string; course_id: string }>;
  allocations: Array<{ allocation_id: string; student_id: string; course_id: string }>;
  adminAllocations: Array<{ student_id: string; course_id: string; n: number }>;
  sessions: Map<string, { total: number; distinct: number }>;
  prescriptions: Array<{ prescription_id: string; status: string }>;
  /** prescription_id → its audit rows' steps (a step twice would be a duplicate). */
  prescriptionAudit: Map<string, string[]>;
  /** prescription_id → the status its ended run returned (see PrescriptionOutcomes). */
  prescriptionOutcomes: Map<string, string>;
  parked: Array<{ marker: string | null; reason: string; topic: string }>;
  needsAttention: Array<{ workflowId: string; kind?: string; step?: string }>;
}

async function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How each prescription's run ended, read from the runs themselves: Temporal's list of completed
 * runs, then each new one's result (decoded through the payload codec). A run that ended stays
 * ended, so each result is fetched once per chaos run.
 */
export class PrescriptionOutcomes {
  readonly byId = new Map<string, string>();

  async refresh(client: Client, tag: string): Promise<Map<string, string>> {
    const ended: string[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowType='prescriptionFulfillmentWorkflow' AND ExecutionStatus='Completed'` })) {
      const id = prescriptionIdFromWorkflowId(wf.workflowId);
      if (id?.startsWith(tag) && !this.byId.has(id)) ended.push(wf.workflowId);
    }
    for (let i = 0; i < ended.length; i += 20) {
      await Promise.all(
        ended.slice(i, i + 20).map(async (workflowId) => {
          const state = (await client.workflow.getHandle(workflowId).result()) as FulfillmentState;
          this.byId.set(prescriptionIdFromWorkflowId(workflowId)!, state.status);
        }),
      );
    }
    return this.byId;
  }
}

export async function readState(db: Pool, client: Client, tag: string, outcomes = new PrescriptionOutcomes()): Promise<State> {
  const q = <R extends object>(sql: string, params: unknown[] = [tag]) =>
    withTimeout('a query', 20_000, db.query<R>(sql, params)).then((r) => r.rows);
  const markerPattern = new RegExp(`chaos-${tag}-\\d+`);
  const [bookings, [dup], purchases, allocations, adminAllocations, sessionRows, parkedRows, prescriptions, auditRows] = await Promise.all([
    q<{ booking_id: string; status: string }>(`SELECT booking_id, status FROM bookings WHERE starts_with(booking_id, $1)`),
    q<{ n: string }>(`SELECT count(*) - count(DISTINCT booking_id) AS n FROM bookings WHERE starts_with(booking_id, $1)`),
    q<State['purchases'][number]>(
      `SELECT payment_id, student_id, course_id FROM student_course_purchases
        WHERE starts_with(payment_id, $1) OR starts_with(student_id, $1)`,
    ),
    q<State['allocations'][number]>(
      `SELECT allocation_id, student_id, course_id FROM trainer_allocations WHERE starts_with(student_id, $1)`,
    ),
    q<{ student_id: string; course_id: string; n: string }>(
      `SELECT student_id, course_id, count(*) AS n FROM admin_allocations WHERE starts_with(student_id, $1) GROUP BY 1, 2`,
    ),
    q<{ allocation_id: string; total: string; distinct_slots: string }>(
      `SELECT allocation_id, count(*) AS total, count(DISTINCT (scheduled_date, scheduled_time)) AS distinct_slots
         FROM sessions WHERE starts_with(student_id, $1) GROUP BY allocation_id`,
    ),
    // A poison record's own text may be mangled or refused, so its marker is looked for in every
    // place the bridge may have kept it.
    q<{ correlation_id: string | null; headers: unknown; reason: string; topic: string }>(
      `SELECT correlation_id, headers, reason, topic FROM parked_events`,
      [],
    ),
    q<State['prescriptions'][number]>(`SELECT prescription_id, status FROM prescriptions WHERE starts_with(prescription_id, $1)`),
    q<{ prescription_id: string; step: string }>(
      `SELECT prescription_id, step FROM prescription_audit_log WHERE starts_with(prescription_id, $1) ORDER BY id`,
    ),
  ]);
  const prescriptionAudit = new Map<string, string[]>();
  for (const r of auditRows) prescriptionAudit.set(r.prescription_id, [...(prescriptionAudit.get(r.prescription_id) ?? []), r.step]);
  const prescriptionOutcomes = await withTimeout('reading the ended prescription runs', 60_000, outcomes.refresh(client, tag));
  const needsAttention: State['needsAttention'] = [];
  await withTimeout(
    'listing NeedsAttention runs',
    30_000,
    (async () => {
      for await (const wf of client.workflow.list({ query: `PipelineStatus='NeedsAttention'` })) {
        needsAttention.push({
          workflowId: wf.workflowId,
          kind: wf.typedSearchAttributes.get(attentionKindKey),
          step: wf.typedSearchAttributes.get(failedStepKey),
        });
      }
    })(),
  );
  return {
    bookings,
    bookingDuplicates: Number(dup?.n ?? 0),
    purchases,
    allocations,
    adminAllocations: adminAllocations.map((r) => ({ ...r, n: Number(r.n) })),
    sessions: new Map(sessionRows.map((r) => [r.allocation_id, { total: Number(r.total), distinct: Number(r.distinct_slots) }])),
    prescriptions,
    prescriptionAudit,
    prescriptionOutcomes: new Map(prescriptionOutcomes),
    parked: parkedRows.map((r) => ({
      marker: markerPattern.exec(`${r.correlation_id ?? ''} ${JSON.stringify(r.headers ?? '')}`)?.[0] ?? null,
      reason: r.reason,
      topic: r.topic,
    })),
    needsAttention,
  };
}

/** Workflow IDs with more than one run: a business identity that was started twice. */
export async function runsStartedTwice(client: Client): Promise<string[]> {
  const runs = new Map<string, number>();
  await withTimeout(
    'listing every run',
    120_000,
    (async () => {
      for await (const wf of client.workflow.list()) runs.set(wf.workflowId, (runs.get(wf.workflowId) ?? 0) + 1);
    })(),
  );
  return [...runs].filter(([, n]) => n > 1).map(([id]) => id);
}

export interface Figures {
  bookingsExpected: number;
  bookingsFound: number;
  purchasesExpected: number;
  purchasesFound: number;
  prescriptionsExpected: number;
  /** Prescriptions whose run ended in the expected status. */
  prescriptionsEnded: number;
  /** Prescriptions with their one row in `prescriptions`. */
  prescriptionRows: number;
  /** Prescriptions whose ended run left an audit row for every step it must have taken (and no other). */
  prescriptionsAudited: number;
  /** Expected outcome → [as expected, expected]. */
  prescriptionsByOutcome: Record<string, [number, number]>;
  lost: string[];
  duplicated: string[];
  wrong: string[];
  poisonExpected: number;
  poisonParked: number;
  poisonByKind: Record<PoisonKind, { sent: number; parked: number }>;
  unexpectedParked: string[];
  refusalsExpected: number;
  refusalsFound: number;
  needingPersonOther: string[];
  /** Everything the stream implies is there and nothing else (runs started twice are checked separately). */
  complete: boolean;
  /** A cheap summary that changes whenever the pipeline makes progress. */
  signature: string;
}

export function evaluate(expect: Expectations, state: State): Figures {
  const lost: string[] = [];
  const duplicated: string[] = [];
  const wrong: string[] = [];

  const bookingRows = new Map(state.bookings.map((r) => [r.booking_id, r.status]));
  let bookingsFound = 0;
  for (const [id, status] of expect.bookings) {
    const found = bookingRows.get(id);
    if (found === undefined) lost.push(`booking ${id} (expected ${status}): no row`);
    else {
      bookingsFound++;
      if (found !== status) wrong.push(`booking ${id}: ${found}, expected ${status}`);
    }
  }
  for (const [id, status] of bookingRows) {
    if (!expect.bookings.has(id)) wrong.push(`booking ${id}: a row (${status}) for a poison record's payload`);
  }
  if (state.bookingDuplicates > 0) duplicated.push(`${state.bookingDuplicates} duplicate booking rows`);

  const byPair = <R extends { student_id: string; course_id: string }>(rows: R[]) => {
    const m = new Map<string, R[]>();
    for (const r of rows) m.set(`${r.student_id}/${r.course_id}`, [...(m.get(`${r.student_id}/${r.course_id}`) ?? []), r]);
    return m;
  };
  const purchases = byPair(state.purchases);
  const allocations = byPair(state.allocations);
  const adminAllocations = new Map(state.adminAllocations.map((r) => [`${r.student_id}/${r.course_id}`, r.n]));
  let purchasesFound = 0;
  let sessionsFound = 0;
  for (const [pair, p] of expect.purchases) {
    const rows = (purchases.get(pair) ?? []).filter((r) => p.payments.includes(r.payment_id));
    const allocs = allocations.get(pair) ?? [];
    if (rows.length === 0) lost.push(`purchase ${pair} (payments ${p.payments.join(', ')}): no row`);
    else purchasesFound++;
    if (rows.length > 1) duplicated.push(`purchase ${pair}: ${rows.length} rows (${rows.map((r) => r.payment_id).join(', ')})`);
    if (allocs.length > 1) duplicated.push(`purchase ${pair}: ${allocs.length} trainer allocations`);
    if ((adminAllocations.get(pair) ?? 0) > 1) duplicated.push(`purchase ${pair}: ${adminAllocations.get(pair)} admin-service allocations`);
    if (!p.trainer) {
      if (allocs.length > 0) wrong.push(`purchase ${pair}: allocated although no trainer teaches ${p.courseId}`);
      continue;
    }
    if (rows.length > 0 && allocs.length === 0) wrong.push(`purchase ${pair}: no trainer allocated`);
    for (const a of allocs) {
      const s = state.sessions.get(a.allocation_id) ?? { total: 0, distinct: 0 };
      sessionsFound += s.distinct;
      if (s.total > s.distinct) duplicated.push(`allocation ${a.allocation_id}: ${s.total - s.distinct} duplicate sessions`);
      if (s.distinct !== sessionWindowSize) wrong.push(`allocation ${a.allocation_id} (${pair}): ${s.distinct} sessions, expected ${sessionWindowSize}`);
    }
  }
  for (const [pair, rows] of purchases) {
    for (const r of rows) {
      if (!expect.purchases.get(pair)?.payments.includes(r.payment_id)) wrong.push(`purchase ${pair}: a row for payment ${r.payment_id}, which only a poison record carried`);
    }
  }

  const prescriptionRows = new Map<string, number>();
  for (const r of state.prescriptions) prescriptionRows.set(r.prescription_id, (prescriptionRows.get(r.prescription_id) ?? 0) + 1);
  let prescriptionsEnded = 0;
  let prescriptionRowsFound = 0;
  let prescriptionsAudited = 0;
  const prescriptionsByOutcome: Figures['prescriptionsByOutcome'] = {};
  for (const [id, p] of expect.prescriptions) {
    const tally = (prescriptionsByOutcome[p.outcome] ??= [0, 0]);
    tally[1]++;
    const rows = prescriptionRows.get(id) ?? 0;
    const ended = state.prescriptionOutcomes.get(id);
    const steps = state.prescriptionAudit.get(id) ?? [];
    if (rows === 0) lost.push(`prescription ${id} (${p.story}): no row in prescriptions`);
    else prescriptionRowsFound++;
    if (rows > 1) duplicated.push(`prescription ${id}: ${rows} rows in prescriptions`);
    const repeated = steps.filter((s, i) => steps.indexOf(s) !== i);
    if (repeated.length) duplicated.push(`prescription ${id}: audit rows twice for ${[...new Set(repeated)].join(', ')}`);
    if (ended === undefined) {
      lost.push(`prescription ${id} (${p.story}, expected ${p.outcome}): run not ended${rows ? ` (row status ${state.prescriptions.find((r) => r.prescription_id === id)?.status})` : ''}`);
      continue;
    }
    if (ended === p.outcome) {
      prescriptionsEnded++;
      tally[0]++;
    } else wrong.push(`prescription ${id} (${p.story}): run ended ${ended}, expected ${p.outcome}`);
    const missing = p.steps.filter((s) => !steps.includes(s));
    const extra = steps.filter((s) => !p.steps.includes(s));
    if (missing.length) wrong.push(`prescription ${id} (${p.story}): no audit row for ${missing.join(', ')}`);
    if (extra.length) wrong.push(`prescription ${id} (${p.story}): audit rows for steps it should not take: ${extra.join(', ')}`);
    if (!missing.length && !extra.length) prescriptionsAudited++;
  }
  for (const id of prescriptionRows.keys()) {
    if (!expect.prescriptions.has(id)) wrong.push(`prescription ${id}: a row for a poison record's payload`);
  }

  const poisonByKind = Object.fromEntries(poisonKinds.map((k) => [k, { sent: 0, parked: 0 }])) as Figures['poisonByKind'];
  const parkedMarkers = new Map<string, string>();
  const unexpectedParked: string[] = [];
  for (const p of state.parked) {
    if (p.marker && expect.poison.has(p.marker)) {
      if (p.reason.trim()) parkedMarkers.set(p.marker, p.reason);
    } else unexpectedParked.push(`${p.marker ?? '(no marker)'} on ${p.topic}: ${p.reason.slice(0, 160)}`);
  }
  for (const [marker, { kind, topic }] of expect.poison) {
    poisonByKind[kind].sent++;
    if (parkedMarkers.has(marker)) poisonByKind[kind].parked++;
    else lost.push(`poison record ${marker} (${kind} on ${topic}): not parked`);
  }

  const refusalsFound = state.needsAttention.filter((w) => expect.refusals.has(w.workflowId) && w.kind === 'Refusal').length;
  const needingPersonOther = state.needsAttention
    .filter((w) => !(expect.refusals.has(w.workflowId) && w.kind === 'Refusal'))
    .map((w) => `${w.workflowId} at ${w.step ?? '?'} (${w.kind ?? '?'})`);

  const figures: Omit<Figures, 'complete' | 'signature'> = {
    bookingsExpected: expect.bookings.size,
    bookingsFound,
    purchasesExpected: expect.purchases.size,
    purchasesFound,
    prescriptionsExpected: expect.prescriptions.size,
    prescriptionsEnded,
    prescriptionRows: prescriptionRowsFound,
    prescriptionsAudited,
    prescriptionsByOutcome,
    lost,
    duplicated,
    wrong,
    poisonExpected: expect.poison.size,
    poisonParked: parkedMarkers.size,
    poisonByKind,
    unexpectedParked,
    refusalsExpected: expect.refusals.size,
    refusalsFound,
    needingPersonOther,
  };
  const complete =
    lost.length === 0 &&
    duplicated.length === 0 &&
    wrong.length === 0 &&
    unexpectedParked.length === 0 &&
    needingPersonOther.length === 0 &&
    refusalsFound === expect.refusals.size;
  const signature = JSON.stringify([
    state.bookings.map((b) => b.status).sort().join(''),
    state.purchases.length,
    state.allocations.length,
    sessionsFound,
    state.prescriptions.map((r) => r.status).sort().join(''),
    [...state.prescriptionAudit.values()].reduce((n, steps) => n + steps.length, 0),
    state.prescriptionOutcomes.size,
    state.parked.length,
    state.needsAttention.map((w) => w.workflowId).sort(),
  ]);
  return { ...figures, complete, signature };
}
