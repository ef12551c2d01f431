/**
 * The checker: reads the final state (PostgreSQL rows, parked records, Temporal runs, the partner
 * stand-ins' tables, the payment ledger and the card processor's charges, the events the pipelines
 * emitted and the bridges' consumer lag) and compares it with what the stream implies. Nothing here
 * knows how the pipeline works inside; it only knows what the tables, topics and the run list must
 * hold once every event has been handled, and where each payment's money must have gone.
 * `evaluate`, `evaluatePayments` and `verdict` are pure, so test/unit/chaos-check.test.ts drives
 * them with made-up states.
 */
import type { Client } from '@temporalio/client';
import type { Admin, Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { createHash } from 'node:crypto';
import { chargeIdempotencyKey, type PaymentStatus } from '../../src/contracts/payment';
import { attentionKindKey, failedStepKey } from '../../src/contracts/pipeline';
import { prescriptionIdFromWorkflowId, type FulfillmentState } from '../../src/contracts/prescription';
import { bridgedPipelines, pipelines } from '../../src/pipelines';
import { sessionWindowSize } from '../../src/workflows/session-window';
import { testCards } from '../../stand-ins/payment-provider/provider';
import { poisonKinds, poisonReasons, type ExpectedPayment, type ExpectedPrescription, type Expectations, type PoisonKind } from './stream';

/** A fault of the run and whether it provably happened (processes.ts says how each one knows). */
export interface FaultOutcome {
  name: string;
  injected: boolean;
  evidence: string;
}

export interface State {
  bookings: Array<{ booking_id: string; status: string }>;
  bookingDuplicates: number;
  purchases: Array<{ payment_id: string; student_id: string; course_id: string; is_active: boolean }>;
  allocations: Array<{ allocation_id: string; student_id: string; course_id: string }>;
  /** The admin service's allocations per student and course, whatever their status. */
  adminAllocations: Array<{ student_id: string; course_id: string; n: number }>;
  sessions: Map<string, { total: number; distinct: number }>;
  prescriptions: Array<{
    prescription_id: string;
    status: string;
    pharmacy_id: string | null;
    claim_id: string | null;
    copay_cents: number | null;
    payment_id: string | null;
    tracking_number: string | null;
  }>;
  /** prescription_id → its audit rows' steps (a step twice would be a duplicate). */
  prescriptionAudit: Map<string, string[]>;
  /** prescription_id → the payment its audit log recorded (recordPayment, or requestPayment's NothingOwed). */
  prescriptionPayments: Map<string, { paymentId?: string; amountCents?: number }>;
  /** prescription_id → the status its ended run returned (see PrescriptionOutcomes). */
  prescriptionOutcomes: Map<string, string>;
  /** What the partner stand-ins created for this run's prescriptions, read from their own tables. */
  partners: {
    /** The insurer's claims; every prescription of the stream has a member ID of its own. */
    claims: Array<{ claim_id: string; member_id: string }>;
    /** The pharmacy network's selections (its key is the prescription ID). */
    pharmacySelections: Array<{ prescription_id: string; pharmacy_id: string }>;
    /** The carrier's labels. */
    labels: Array<{ shipment_id: string; tracking_number: string }>;
  };
  parked: Array<{ marker: string | null; reason: string; topic: string }>;
  needsAttention: Array<{ workflowId: string; kind?: string; step?: string }>;
  /** Partitions of the bridges' consumer groups whose committed offset is behind the topic's end. */
  lag: Array<{ group: string; topic: string; partition: number; behind: number }>;
  /** The payment ledger's rows for the stream's payments. */
  ledger: Array<{ payment_id: string; status: PaymentStatus; amount_cents: number; provider_payment_id: string | null; provider_refund_id: string | null }>;
  /**
   * The card processor's charges for this run, read from its own table: under the stream's
   * payments' keys, on the stream's cards, and on the declined test card for this run's courses
   * and prescriptions (their descriptions hold the run tag).
   */
  charges: ProviderCharge[];
  /** What the run's payment client was answered that is wrong (a refusal, another payment ID); see payments.ts. */
  paymentAnswers: string[];
  /**
   * Every event of this run the pipelines emitted, one entry per Kafka record: its event ID, the
   * business step it announces (type and prescription, or type and student/course) and what it
   * says (all but `occurredAt`, which a retried activity takes anew). Read once the drain is over
   * (`readEmitted`); `unread` says why it could not be.
   */
  emitted: { events: Array<{ topic: string; eventId: string; step: string; content: string }>; unread?: string };
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

/** Where the state is read from. */
export interface Sources {
  db: Pool;
  client: Client;
  /** Connected; for the bridges' committed offsets. */
  admin: Admin;
}

export async function readState({ db, client, admin }: Sources, tag: string, expect: Expectations, outcomes = new PrescriptionOutcomes()): Promise<State> {
  const q = <R extends object>(sql: string, params: unknown[] = [tag]) =>
    withTimeout('a query', 20_000, db.query<R>(sql, params)).then((r) => r.rows);
  const markerPattern = new RegExp(`chaos-${tag}-\\d+`);
  const [bookings, [dup], purchases, allocations, adminAllocations, sessionRows, parkedRows, prescriptions, auditRows, claims, pharmacySelections, labels] =
    await Promise.all([
      q<{ booking_id: string; status: string }>(`SELECT booking_id, status FROM bookings WHERE starts_with(booking_id, $1)`),
      q<{ n: string }>(`SELECT count(*) - count(DISTINCT booking_id) AS n FROM bookings WHERE starts_with(booking_id, $1)`),
      q<State['purchases'][number]>(
        `SELECT payment_id, student_id, course_id, is_active FROM student_course_purchases
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
      q<State['prescriptions'][number]>(
        `SELECT prescription_id, status, pharmacy_id, claim_id, copay_cents, payment_id, tracking_number
           FROM prescriptions WHERE starts_with(prescription_id, $1)`,
      ),
      q<{ prescription_id: string; step: string; outcome: string; detail: { paymentId?: string; amountCents?: number } | null }>(
        `SELECT prescription_id, step, outcome,
                CASE WHEN step IN ('recordPayment', 'requestPayment') THEN detail END AS detail
           FROM prescription_audit_log WHERE starts_with(prescription_id, $1) ORDER BY id`,
      ),
      // The stand-ins' tables are keyed by the IDs our activities send, so a second row under the
      // same key cannot exist: the claims are also counted by member, which no key covers, and a
      // claim or label no prescription holds is a second one under another ID.
      q<State['partners']['claims'][number]>(`SELECT claim_id, member_id FROM partner_insurer_claims WHERE strpos(member_id, $1) > 0`),
      q<State['partners']['pharmacySelections'][number]>(
        `SELECT prescription_id, pharmacy_id FROM partner_pharmacy_selections WHERE starts_with(prescription_id, $1)`,
      ),
      q<State['partners']['labels'][number]>(`SELECT shipment_id, tracking_number FROM partner_carrier_labels WHERE strpos(shipment_id, $1) > 0`),
    ]);
  const prescriptionAudit = new Map<string, string[]>();
  const prescriptionPayments: State['prescriptionPayments'] = new Map();
  for (const r of auditRows) {
    prescriptionAudit.set(r.prescription_id, [...(prescriptionAudit.get(r.prescription_id) ?? []), r.step]);
    if (r.step === 'recordPayment') prescriptionPayments.set(r.prescription_id, { paymentId: r.detail?.paymentId, amountCents: r.detail?.amountCents });
    if (r.step === 'requestPayment' && r.outcome === 'NothingOwed') prescriptionPayments.set(r.prescription_id, { paymentId: r.detail?.paymentId, amountCents: 0 });
  }
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
  const lag = await withTimeout('reading the consumer lag', 30_000, readLag(admin));
  const { ledger, charges } = await readPayments(db, tag, expect);
  return {
    bookings,
    bookingDuplicates: Number(dup?.n ?? 0),
    purchases,
    allocations,
    adminAllocations: adminAllocations.map((r) => ({ ...r, n: Number(r.n) })),
    sessions: new Map(sessionRows.map((r) => [r.allocation_id, { total: Number(r.total), distinct: Number(r.distinct_slots) }])),
    prescriptions,
    prescriptionAudit,
    prescriptionPayments,
    prescriptionOutcomes: new Map(prescriptionOutcomes),
    partners: { claims, pharmacySelections, labels },
    parked: parkedRows.map((r) => ({
      marker: markerPattern.exec(`${r.correlation_id ?? ''} ${JSON.stringify(r.headers ?? '')}`)?.[0] ?? null,
      reason: r.reason,
      topic: r.topic,
    })),
    needsAttention,
    lag,
    ledger,
    charges,
    paymentAnswers: [],
    emitted: { events: [], unread: 'not read yet: the emitted topics are read once the drain is over' },
  };
}

/** A charge as the card processor's `provider_charges` table holds it. */
export interface ProviderCharge {
  charge_id: string;
  idempotency_key: string;
  status: 'succeeded' | 'failed';
  amount_cents: number;
  amount_refunded_cents: number;
  card_fingerprint: string;
  description: string | null;
}

/** The processor's fingerprint of a card (SHA-256 of its number), the only way its table names one. */
export const cardFingerprint = (card: string): string => createHash('sha256').update(card).digest('hex');

async function readPayments(db: Pool, tag: string, expect: Expectations): Promise<Pick<State, 'ledger' | 'charges'>> {
  const payments = [...expect.payments.values()];
  const ids = payments.map((p) => p.paymentId);
  const cards = [...new Set(payments.filter((p) => p.card !== testCards.declined).map((p) => cardFingerprint(p.card)))];
  const [ledger, charges] = await Promise.all([
    withTimeout(
      'reading the payment ledger',
      20_000,
      db.query<State['ledger'][number]>(
        `SELECT payment_id, status, amount_cents, provider_payment_id, provider_refund_id FROM payments WHERE payment_id = ANY($1)`,
        [ids],
      ),
    ),
    withTimeout(
      'reading the card processor\'s charges',
      20_000,
      db.query<ProviderCharge>(
        `SELECT charge_id, idempotency_key, status, amount_cents, amount_refunded_cents, card_fingerprint, description FROM provider_charges
          WHERE idempotency_key = ANY($1) OR card_fingerprint = ANY($2) OR (card_fingerprint = $3 AND strpos(description, $4) > 0)`,
        [ids.map(chargeIdempotencyKey), cards, cardFingerprint(testCards.declined), tag],
      ),
    ),
  ]);
  return { ledger: ledger.rows, charges: charges.rows };
}

/**
 * Each bridge's consumer group against the ends of the topics it reads: a committed offset behind
 * a partition's high watermark is a record the bridge has not settled (or settled and not yet
 * committed). A partition with no commit counts from its low watermark.
 */
export async function readLag(admin: Admin): Promise<State['lag']> {
  const lag: State['lag'] = [];
  for (const { bridge } of bridgedPipelines(pipelines)) {
    const topics = bridge.consumes.map((c) => c.topic);
    const committed = await admin.fetchOffsets({ groupId: bridge.consumerGroup, topics });
    for (const topic of topics) {
      const partitions = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const end of await admin.fetchTopicOffsets(topic)) {
        const offset = Number(partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
        const behind = Number(end.high) - (offset >= 0 ? offset : Number(end.low));
        if (behind > 0) lag.push({ group: bridge.consumerGroup, topic, partition: end.partition, behind });
      }
    }
  }
  return lag;
}

/** The topics the pipelines' activities write (`payment.completed` also carries the stream's poison records, which have no event ID). */
export const emittedTopics = (): string[] => [...new Set(pipelines.flatMap((p) => p.emits.map((e) => e.topic)))];

/**
 * Every event of this run on the emitted topics, read from the beginning up to the ends they had
 * when the read began, with a consumer group of its own (not one of the bridges'). Records
 * without an event ID (poison, and `purchase-confirmed`, which has none) and other runs' events
 * are left out.
 */
export async function readEmitted(kafka: Kafka, tag: string, topics = emittedTopics(), timeoutMs = 180_000): Promise<State['emitted']> {
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<string, number>();
  try {
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) if (Number(p.high) > Number(p.low)) remaining.set(`${topic}/${p.partition}`, Number(p.high));
    }
  } finally {
    await admin.disconnect();
  }
  const events: State['emitted']['events'] = [];
  if (remaining.size === 0) return { events };
  const consumer = kafka.consumer({ groupId: `chaos-check-${tag}-${Date.now()}`, allowAutoTopicCreation: false });
  let done!: () => void;
  const caughtUp = new Promise<void>((resolve) => (done = resolve));
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const event = parseEmitted(message.value);
        const owner = event?.prescriptionId ?? event?.studentId;
        if (typeof event?.eventId === 'string' && typeof owner === 'string' && owner.startsWith(tag)) {
          const subject = event.prescriptionId ?? `${String(event.studentId)}/${String(event.courseId)}`;
          const { occurredAt: _, ...said } = event;
          const content = JSON.stringify(Object.fromEntries(Object.entries(said).sort(([a], [b]) => a.localeCompare(b))));
          const step =
            event.type === 'PAYMENT_COMPLETED' ? paymentCompletedStep(String(subject), String(event.paymentId)) : `${String(event.type)} ${String(subject)}`;
          events.push({ topic, eventId: event.eventId, step, content });
        }
        const end = remaining.get(`${topic}/${partition}`);
        if (end !== undefined && Number(message.offset) + 1 >= end) remaining.delete(`${topic}/${partition}`);
        if (remaining.size === 0) done();
      },
    });
    await withTimeout('reading the emitted events', timeoutMs, caughtUp);
    return { events };
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

function parseEmitted(value: Buffer | null): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value?.toString() ?? '');
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Workflow IDs started more than once: a business identity run twice. A run that continued as new
 * (the shipment tracking child every 500 polls, a session window) handed over to its next run of
 * the same execution chain, so only runs that did not end ContinuedAsNew are counted.
 */
export function startedTwice(runs: Iterable<{ workflowId: string; status: string }>): string[] {
  const counted = new Map<string, number>();
  for (const { workflowId, status } of runs) {
    if (status !== 'CONTINUED_AS_NEW') counted.set(workflowId, (counted.get(workflowId) ?? 0) + 1);
  }
  return [...counted].filter(([, n]) => n > 1).map(([id]) => id);
}

export async function runsStartedTwice(client: Client): Promise<string[]> {
  const runs: Array<{ workflowId: string; status: string }> = [];
  await withTimeout(
    'listing every run',
    120_000,
    (async () => {
      for await (const wf of client.workflow.list()) runs.push({ workflowId: wf.workflowId, status: wf.status.name });
    })(),
  );
  return startedTwice(runs);
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
  /** Prescriptions whose row holds the expected status and payment (or none), and the payment's audit row agrees. */
  prescriptionsRecorded: number;
  /** Prescriptions whose partners hold exactly what their steps asked of them (a selection, a claim, a label). */
  prescriptionsAtPartners: number;
  /** Expected outcome → [as expected, expected]. */
  prescriptionsByOutcome: Record<string, [number, number]>;
  lost: string[];
  duplicated: string[];
  wrong: string[];
  poisonExpected: number;
  /** Poison records parked with the reason for their kind. */
  poisonParked: number;
  poisonByKind: Record<PoisonKind, { sent: number; parked: number }>;
  /** Poison records parked, but with another kind's reason (or none). */
  poisonWrongReason: string[];
  unexpectedParked: string[];
  refusalsExpected: number;
  refusalsFound: number;
  needingPersonOther: string[];
  /** Partitions the bridges have not settled and committed: `group topic/partition: n behind`. */
  lag: string[];
  /** Records the bridges' groups are behind, in all. */
  lagTotal: number;
  /** Events of this run the pipelines emitted (records read). */
  emittedEvents: number;
  /** Why the emitted events could not be read, when they could not. */
  emittedUnread?: string;
  /**
   * Event IDs emitted more than once. Consumers drop repeats by event ID, but a repeat is still a
   * step announced twice; kept apart from `duplicated` (two events with different IDs for one step).
   */
  reemitted: string[];
  /** Payments the stream sends through the payment API. */
  paymentsExpected: number;
  /** Payments whose ledger row settled (not `Accepted`) and agrees with the card processor. */
  paymentsSettled: number;
  /** Payments for which charged − refunded = delivered. */
  paymentsBalanced: number;
  /** Payments whose money ended as their story expects (declined, delivered, or one of a group delivered and the rest refunded). */
  paymentsAsExpected: number;
  /** Payments by story, for the report: `second copay` → [as expected, sent]. */
  paymentsByStory: Record<string, [number, number]>;
  /** A key charged twice, a card and description pair charged twice, or a charge under no payment's key. */
  doubleCharges: string[];
  /** A payment with no ledger row, one never settled, or a ledger row the processor contradicts; and wrong answers the client got. */
  ledgerProblems: string[];
  /** Payments whose charged − refunded is not what was delivered: `payment <id> (<story>): ...`. */
  moneyUnbalanced: string[];
  /** Payments whose money did not end as their story expects, each with why. */
  paymentExpectations: string[];
  faults: FaultOutcome[];
  /** Faults that did not provably happen: `name: evidence`. */
  faultsNotInjected: string[];
  /** Everything the stream implies is there and nothing else, and the bridges are at the end of their topics. */
  complete: boolean;
  /** A cheap summary that changes whenever the pipeline makes progress. */
  signature: string;
}

export function evaluate(expect: Expectations, state: State, faults: FaultOutcome[]): Figures {
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
    // A purchase undone (its payment refunded) stays as an inactive row; whether its money went back is the money check's.
    const active = rows.filter((r) => r.is_active);
    const allocs = allocations.get(pair) ?? [];
    if (active.length === 0) lost.push(`purchase ${pair} (payments ${p.payments.join(', ')}): no active row`);
    else purchasesFound++;
    if (active.length > 1) duplicated.push(`purchase ${pair}: ${active.length} active rows (${active.map((r) => r.payment_id).join(', ')})`);
    if (allocs.length > 1) duplicated.push(`purchase ${pair}: ${allocs.length} trainer allocations`);
    if ((adminAllocations.get(pair) ?? 0) > 1) duplicated.push(`purchase ${pair}: ${adminAllocations.get(pair)} admin-service allocations`);
    if (!p.trainer) {
      if (allocs.length > 0) wrong.push(`purchase ${pair}: allocated although no trainer teaches ${p.courseId}`);
      continue;
    }
    if (active.length > 0 && allocs.length === 0) wrong.push(`purchase ${pair}: no trainer allocated`);
    for (const a of allocs) {
      const s = state.sessions.get(a.allocation_id) ?? { total: 0, distinct: 0 };
      sessionsFound += s.distinct;
      if (s.total > s.distinct) duplicated.push(`allocation ${a.allocation_id}: ${s.total - s.distinct} duplicate sessions`);
      if (s.distinct !== sessionWindowSize) wrong.push(`allocation ${a.allocation_id} (${pair}): ${s.distinct} sessions, expected ${sessionWindowSize}`);
    }
  }
  for (const [pair, rows] of purchases) {
    for (const r of rows) {
      if (!expect.purchases.get(pair)?.payments.includes(r.payment_id)) wrong.push(`purchase ${pair}: a row for payment ${r.payment_id}, which no story of the stream bought it with`);
    }
  }

  const prescription = evaluatePrescriptions(expect, state);
  lost.push(...prescription.lost);
  duplicated.push(...prescription.duplicated);
  wrong.push(...prescription.wrong);

  const poison = evaluatePoison(expect, state);
  lost.push(...poison.lost);

  const refusalsFound = state.needsAttention.filter((w) => expect.refusals.has(w.workflowId) && w.kind === 'Refusal').length;
  const needingPersonOther = state.needsAttention
    .filter((w) => !(expect.refusals.has(w.workflowId) && w.kind === 'Refusal'))
    .map((w) => `${w.workflowId} at ${w.step ?? '?'} (${w.kind ?? '?'})`);

  const emitted = evaluateEmitted(state.emitted.events);
  duplicated.push(...emitted.duplicated);
  wrong.push(...emitted.wrong);
  // Until the topics are read (the drain is over), there is nothing to hold the stream to.
  if (state.emitted.unread === undefined) {
    const announced = new Set(state.emitted.events.map((e) => e.step));
    const implied = impliedEvents(expect);
    for (const step of implied) if (!announced.has(step)) lost.push(`event ${step}: never emitted`);
    for (const step of announced) if (!implied.has(step)) wrong.push(`event ${step}: emitted, but no story implies it`);
  }
  const lagTotal = state.lag.reduce((n, l) => n + l.behind, 0);
  const money = evaluatePayments(expect, state);

  const figures: Omit<Figures, 'complete' | 'signature'> = {
    bookingsExpected: expect.bookings.size,
    bookingsFound,
    purchasesExpected: expect.purchases.size,
    purchasesFound,
    prescriptionsExpected: expect.prescriptions.size,
    ...prescription.figures,
    lost,
    duplicated,
    wrong,
    poisonExpected: expect.poison.size,
    poisonParked: poison.parked,
    poisonByKind: poison.byKind,
    poisonWrongReason: poison.wrongReason,
    unexpectedParked: poison.unexpected,
    refusalsExpected: expect.refusals.size,
    refusalsFound,
    needingPersonOther,
    lag: state.lag.map((l) => `${l.group} ${l.topic}/${l.partition}: ${l.behind} behind`),
    lagTotal,
    emittedEvents: state.emitted.events.length,
    ...(state.emitted.unread ? { emittedUnread: state.emitted.unread } : {}),
    reemitted: emitted.reemitted,
    ...money,
    faults,
    faultsNotInjected: faults.filter((f) => !f.injected).map((f) => `${f.name}: ${f.evidence}`),
  };
  const complete =
    lost.length === 0 &&
    duplicated.length === 0 &&
    wrong.length === 0 &&
    poison.wrongReason.length === 0 &&
    poison.unexpected.length === 0 &&
    needingPersonOther.length === 0 &&
    refusalsFound === expect.refusals.size &&
    lagTotal === 0 &&
    money.doubleCharges.length === 0 &&
    money.ledgerProblems.length === 0 &&
    money.moneyUnbalanced.length === 0 &&
    money.paymentExpectations.length === 0;
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
    lagTotal,
    state.ledger.map((r) => r.status).sort().join(''),
    state.charges.reduce((n, c) => n + c.amount_refunded_cents, 0),
  ]);
  return { ...figures, complete, signature };
}

/**
 * Each prescription: its run's end, its one row (status and payment), its audit rows, and what the
 * partners created for it. A partner's record no prescription holds was made a second time.
 */
function evaluatePrescriptions(expect: Expectations, state: State) {
  const lost: string[] = [];
  const duplicated: string[] = [];
  const wrong: string[] = [];
  const rowsById = new Map<string, State['prescriptions']>();
  for (const r of state.prescriptions) rowsById.set(r.prescription_id, [...(rowsById.get(r.prescription_id) ?? []), r]);
  const claims = new Map(state.partners.claims.map((c) => [c.claim_id, c]));
  const selections = new Map(state.partners.pharmacySelections.map((s) => [s.prescription_id, s]));
  const labels = new Map(state.partners.labels.map((l) => [l.tracking_number, l]));
  const claimsHeld = new Set<string>();
  const labelsHeld = new Set<string>();
  const figures = {
    prescriptionsEnded: 0,
    prescriptionRows: 0,
    prescriptionsAudited: 0,
    prescriptionsRecorded: 0,
    prescriptionsAtPartners: 0,
    prescriptionsByOutcome: {} as Figures['prescriptionsByOutcome'],
  };
  for (const [id, p] of expect.prescriptions) {
    const tally = (figures.prescriptionsByOutcome[p.outcome] ??= [0, 0]);
    tally[1]++;
    const rows = rowsById.get(id) ?? [];
    const row = rows[0];
    const ended = state.prescriptionOutcomes.get(id);
    const steps = state.prescriptionAudit.get(id) ?? [];
    if (row) figures.prescriptionRows++;
    else lost.push(`prescription ${id} (${p.story}): no row in prescriptions`);
    if (rows.length > 1) duplicated.push(`prescription ${id}: ${rows.length} rows in prescriptions`);
    if (row?.claim_id) claimsHeld.add(row.claim_id);
    if (row?.tracking_number) labelsHeld.add(row.tracking_number);
    const repeated = steps.filter((s, i) => steps.indexOf(s) !== i);
    if (repeated.length) duplicated.push(`prescription ${id}: audit rows twice for ${[...new Set(repeated)].join(', ')}`);
    if (ended === undefined) {
      lost.push(`prescription ${id} (${p.story}, expected ${p.outcome}): run not ended${row ? ` (row status ${row.status})` : ''}`);
      continue;
    }
    if (ended === p.outcome) {
      figures.prescriptionsEnded++;
      tally[0]++;
    } else wrong.push(`prescription ${id} (${p.story}): run ended ${ended}, expected ${p.outcome}`);
    const missing = p.steps.filter((s) => !steps.includes(s));
    const extra = steps.filter((s) => !p.steps.includes(s));
    if (missing.length) wrong.push(`prescription ${id} (${p.story}): no audit row for ${missing.join(', ')}`);
    if (extra.length) wrong.push(`prescription ${id} (${p.story}): audit rows for steps it should not take: ${extra.join(', ')}`);
    if (!missing.length && !extra.length) figures.prescriptionsAudited++;
    if (!row) continue;

    const recorded = rowProblems(p, row, state.prescriptionPayments.get(id));
    wrong.push(...recorded.map((problem) => `prescription ${id} (${p.story}): ${problem}`));
    if (!recorded.length) figures.prescriptionsRecorded++;

    const atPartners = partnerProblems(p.steps, row, { claims, selections, labels });
    wrong.push(...atPartners.map((problem) => `prescription ${id} (${p.story}): ${problem}`));
    if (!atPartners.length) figures.prescriptionsAtPartners++;
  }
  for (const id of rowsById.keys()) {
    if (!expect.prescriptions.has(id)) wrong.push(`prescription ${id}: a row for a poison record's payload`);
  }
  const claimsByMember = new Map<string, string[]>();
  for (const c of state.partners.claims) claimsByMember.set(c.member_id, [...(claimsByMember.get(c.member_id) ?? []), c.claim_id]);
  for (const ids of claimsByMember.values()) {
    if (ids.length > 1) duplicated.push(`insurer: ${ids.length} claims for one member (${ids.join(', ')})`);
  }
  for (const c of state.partners.claims) {
    if (!claimsHeld.has(c.claim_id)) duplicated.push(`insurer: claim ${c.claim_id}, which no prescription holds`);
  }
  for (const l of state.partners.labels) {
    if (!labelsHeld.has(l.tracking_number)) duplicated.push(`carrier: label ${l.tracking_number} (shipment ${l.shipment_id}), which no prescription holds`);
  }
  for (const s of state.partners.pharmacySelections) {
    if (!expect.prescriptions.has(s.prescription_id)) wrong.push(`pharmacy network: a selection for ${s.prescription_id}, a poison record's payload`);
  }
  return { figures, lost, duplicated, wrong };
}

/** What the row (and the payment's audit row) holds that its story did not lead to. */
function rowProblems(
  p: ExpectedPrescription,
  row: State['prescriptions'][number],
  audited: { paymentId?: string; amountCents?: number } | undefined,
): string[] {
  const problems: string[] = [];
  if (row.status !== p.outcome) problems.push(`row status ${row.status}, expected ${p.outcome}`);
  // A copay paid twice may be held by either payment (the other must be refunded: the money check).
  const paid = p.copays
    ? { paymentIds: p.copays.paymentIds, amountCents: p.copays.copayCents }
    : p.paid && { paymentIds: [p.paid.paymentId], amountCents: p.paid.amountCents };
  if (!paid) {
    if (row.payment_id !== null) problems.push(`payment ${row.payment_id} recorded, none expected`);
    return problems;
  }
  const { amountCents } = paid;
  const paymentId = row.payment_id !== null && paid.paymentIds.includes(row.payment_id) ? row.payment_id : paid.paymentIds.join(' or ');
  if (row.payment_id !== paymentId) problems.push(`row payment ${row.payment_id ?? 'none'}, expected ${paymentId}`);
  if (row.copay_cents !== amountCents) problems.push(`row copay ${row.copay_cents ?? 'none'} cents, expected ${amountCents}`);
  if (audited?.paymentId !== paymentId || audited.amountCents !== amountCents) {
    problems.push(`audit log payment ${audited?.paymentId ?? 'none'} of ${audited?.amountCents ?? '?'} cents, expected ${paymentId} of ${amountCents}`);
  }
  return problems;
}

/** Each partner step taken holds exactly its one record at the partner; a step not taken holds none. */
function partnerProblems(
  steps: string[],
  row: State['prescriptions'][number],
  partners: {
    claims: Map<string, unknown>;
    selections: Map<string, { pharmacy_id: string }>;
    labels: Map<string, unknown>;
  },
): string[] {
  const problems: string[] = [];
  const selection = partners.selections.get(row.prescription_id);
  if (steps.includes('selectPharmacy')) {
    if (!selection) problems.push('no pharmacy selection at the pharmacy network');
    else if (selection.pharmacy_id !== row.pharmacy_id) problems.push(`pharmacy ${row.pharmacy_id} in the row, ${selection.pharmacy_id} at the pharmacy network`);
  } else if (selection) problems.push('a pharmacy selection although the run never selected one');
  const claimed = row.claim_id !== null && partners.claims.has(row.claim_id);
  if (steps.includes('adjudicateClaim') && !claimed) problems.push(`claim ${row.claim_id ?? '(none in the row)'} not at the insurer`);
  if (!steps.includes('adjudicateClaim') && row.claim_id !== null) problems.push(`claim ${row.claim_id} although the run never claimed`);
  const labelled = row.tracking_number !== null && partners.labels.has(row.tracking_number);
  if (steps.includes('createShippingLabel') && !labelled) problems.push(`label ${row.tracking_number ?? '(none in the row)'} not at the carrier`);
  if (!steps.includes('createShippingLabel') && row.tracking_number !== null) problems.push(`label ${row.tracking_number} although the run never shipped`);
  return problems;
}

/** What a payment's money did: taken by the card processor, given back, and held by what it paid for. */
export interface Money {
  charged: number;
  refunded: number;
  delivered: number;
}

/** The prescription statuses of a filled one: paid, and shipped or on its way. */
const filledStatuses = ['Paid', 'Shipped', 'Delivered', 'DeliveryOverdue'];

/**
 * A payment's money: what the card processor charged under its key and refunded of it, and what
 * was delivered: its amount when an active purchase holds it (a course) or a filled prescription
 * holds it (a copay), else 0.
 */
export function moneyOf(p: ExpectedPayment, state: Pick<State, 'charges' | 'purchases' | 'prescriptions'>): Money {
  const charge = state.charges.find((c) => c.idempotency_key === chargeIdempotencyKey(p.paymentId) && c.status === 'succeeded');
  const held =
    p.purpose.kind === 'course'
      ? state.purchases.some((r) => r.payment_id === p.paymentId && r.is_active)
      : state.prescriptions.some(
          (r) => p.purpose.kind === 'copay' && r.prescription_id === p.purpose.prescriptionId && r.payment_id === p.paymentId && filledStatuses.includes(r.status),
        );
  return { charged: charge?.amount_cents ?? 0, refunded: charge?.amount_refunded_cents ?? 0, delivered: held ? p.amountCents : 0 };
}

/** Where the ledger row and the card processor's charge under the payment's key disagree (none: they agree). */
export function ledgerDisagreement(row: State['ledger'][number], charge: ProviderCharge | undefined): string | undefined {
  const charged = charge?.status === 'succeeded';
  const at = charge ? `the processor's charge ${charge.charge_id} ${charge.status}, ${charge.amount_refunded_cents} of ${charge.amount_cents} cents refunded` : 'no charge at the processor';
  switch (row.status) {
    case 'Accepted':
      return `still Accepted (never settled); ${at}`;
    case 'Declined':
      return charge?.status === 'failed' ? undefined : `Declined in the ledger, ${at}`;
    case 'Charged':
      if (!charged || charge.charge_id !== row.provider_payment_id || charge.amount_refunded_cents !== 0 || charge.amount_cents !== row.amount_cents) {
        return `Charged in the ledger (charge ${row.provider_payment_id}, ${row.amount_cents} cents), ${at}`;
      }
      return undefined;
    case 'Refunded':
      if (!charged || charge.charge_id !== row.provider_payment_id || charge.amount_refunded_cents !== row.amount_cents) {
        return `Refunded in the ledger (charge ${row.provider_payment_id}, ${row.amount_cents} cents), ${at}`;
      }
      return undefined;
  }
}

/**
 * The money check, for every payment the stream sent through the payment API: no double charge at
 * the card processor, the ledger agreeing with it, charged − refunded = delivered, and each
 * payment's money ending as its story expects.
 */
export function evaluatePayments(expect: Expectations, state: Pick<State, 'ledger' | 'charges' | 'purchases' | 'prescriptions' | 'paymentAnswers'>) {
  const payments = [...expect.payments.values()];
  const doubleCharges: string[] = [];
  const ledgerProblems: string[] = [...state.paymentAnswers];
  const moneyUnbalanced: string[] = [];
  const paymentExpectations: string[] = [];
  const paymentsByStory: Record<string, [number, number]> = {};
  let paymentsSettled = 0;
  let paymentsBalanced = 0;

  const byKey = new Map<string, ProviderCharge[]>();
  const byPair = new Map<string, ProviderCharge[]>();
  for (const c of state.charges) {
    byKey.set(c.idempotency_key, [...(byKey.get(c.idempotency_key) ?? []), c]);
    const pair = `card ${c.card_fingerprint.slice(0, 12)}… "${c.description ?? ''}"`;
    byPair.set(pair, [...(byPair.get(pair) ?? []), c]);
  }
  const keys = new Set(payments.map((p) => chargeIdempotencyKey(p.paymentId)));
  for (const [key, charges] of byKey) {
    if (charges.length > 1) doubleCharges.push(`key ${key}: ${charges.length} charges (${charges.map((c) => c.charge_id).join(', ')})`);
    if (!keys.has(key)) doubleCharges.push(`key ${key}: a charge (${charges.map((c) => `${c.charge_id} ${c.status}`).join(', ')}) on the run's cards under no payment's key`);
  }
  // Each payment of the stream has a card and description pair of its own (stream.ts).
  for (const [pair, charges] of byPair) {
    if (charges.length > 1) doubleCharges.push(`${pair}: ${charges.length} charges, 1 expected (keys ${charges.map((c) => c.idempotency_key).join(', ')})`);
  }

  const ledger = new Map(state.ledger.map((r) => [r.payment_id, r]));
  const money = new Map(payments.map((p) => [p.paymentId, moneyOf(p, state)]));
  const name = (p: ExpectedPayment) => `payment ${p.paymentId} (${p.story}, ${p.group})`;
  const asExpected = new Set<string>();
  for (const p of payments) {
    const row = ledger.get(p.paymentId);
    const charge = byKey.get(chargeIdempotencyKey(p.paymentId))?.[0];
    const disagreement = row ? ledgerDisagreement(row, charge) : 'no ledger row: the payment API never accepted it';
    if (disagreement) ledgerProblems.push(`${name(p)}: ${disagreement}`);
    else paymentsSettled++;
    const m = money.get(p.paymentId)!;
    if (m.charged - m.refunded === m.delivered) paymentsBalanced++;
    else moneyUnbalanced.push(`${name(p)}: charged ${m.charged} − refunded ${m.refunded} = ${m.charged - m.refunded} cents, delivered ${m.delivered}`);

    if (p.outcome === 'declined') {
      if (m.charged === 0 && m.delivered === 0 && row?.status === 'Declined') asExpected.add(p.paymentId);
      else paymentExpectations.push(`${name(p)}: expected declined with nothing charged; ledger ${row?.status ?? 'none'}, charged ${m.charged}, delivered ${m.delivered}`);
    } else if (p.outcome === 'delivered') {
      if (row?.status === 'Charged' && m.delivered === p.amountCents && m.refunded === 0) asExpected.add(p.paymentId);
      else paymentExpectations.push(`${name(p)}: expected charged and delivered; ledger ${row?.status ?? 'none'}, charged ${m.charged}, refunded ${m.refunded}, delivered ${m.delivered}`);
    }
  }
  // Of a course or prescription paid twice, one payment holds it and every other one is refunded.
  const groups = new Map<string, ExpectedPayment[]>();
  for (const p of payments) if (p.outcome === 'one-of') groups.set(p.group, [...(groups.get(p.group) ?? []), p]);
  for (const [group, members] of groups) {
    const holders = members.filter((p) => money.get(p.paymentId)!.delivered > 0);
    if (holders.length !== 1) {
      paymentExpectations.push(`${group}: ${holders.length} of its ${members.length} payments delivered (${members.map((p) => p.paymentId).join(', ')}), expected exactly 1`);
    }
    for (const p of members) {
      const m = money.get(p.paymentId)!;
      const status = ledger.get(p.paymentId)?.status ?? 'none';
      if (holders.length === 1 && holders[0] === p) {
        if (status === 'Charged' && m.refunded === 0) asExpected.add(p.paymentId);
        else paymentExpectations.push(`${name(p)}: holds ${group}, but the ledger says ${status} and ${m.refunded} cents were refunded`);
      } else if (m.delivered === 0) {
        const holder = holders[0] ? `payment ${holders[0].paymentId} holds ${group}` : `nothing holds ${group}`;
        if (status === 'Refunded' && m.refunded === m.charged && m.charged === p.amountCents) asExpected.add(p.paymentId);
        else paymentExpectations.push(`${name(p)}: expected refunded (${holder}); ledger ${status}, charged ${m.charged}, refunded ${m.refunded}`);
      }
    }
  }
  for (const p of payments) {
    const tally = (paymentsByStory[p.story] ??= [0, 0]);
    tally[1]++;
    if (asExpected.has(p.paymentId)) tally[0]++;
  }
  return {
    paymentsExpected: payments.length,
    paymentsSettled,
    paymentsBalanced,
    paymentsAsExpected: asExpected.size,
    paymentsByStory,
    doubleCharges,
    ledgerProblems,
    moneyUnbalanced,
    paymentExpectations,
  };
}

/** Each poison record parked, with the reason its kind must get; anything else parked is unexpected. */
function evaluatePoison(expect: Expectations, state: State) {
  const byKind = Object.fromEntries(poisonKinds.map((k) => [k, { sent: 0, parked: 0 }])) as Figures['poisonByKind'];
  const reasons = new Map<string, string[]>();
  const unexpected: string[] = [];
  for (const p of state.parked) {
    if (p.marker && expect.poison.has(p.marker)) reasons.set(p.marker, [...(reasons.get(p.marker) ?? []), p.reason]);
    else unexpected.push(`${p.marker ?? '(no marker)'} on ${p.topic}: ${p.reason.slice(0, 160)}`);
  }
  const lost: string[] = [];
  const wrongReason: string[] = [];
  let parked = 0;
  for (const [marker, { kind, topic }] of expect.poison) {
    byKind[kind].sent++;
    const found = reasons.get(marker);
    if (!found) {
      lost.push(`poison record ${marker} (${kind} on ${topic}): not parked`);
      continue;
    }
    // A record the producer resent after an error is in Kafka, and parked, twice: each copy must say why.
    const wrong = found.filter((reason) => !poisonReasons[kind].test(reason));
    if (wrong.length) wrongReason.push(`poison record ${marker} (${kind} on ${topic}): wrong reason: ${wrong[0]!.slice(0, 160) || '(empty)'}`);
    else {
      parked++;
      byKind[kind].parked++;
    }
  }
  return { byKind, parked, wrongReason, unexpected, lost };
}

/**
 * Emitted events by ID and by the step they announce. The same ID twice is a re-emission (a retried
 * step sends its event again; consumers drop it by ID), harmless only if it says what the first
 * one said: a consumer keeps whichever copy it saw first. Two IDs for one step are two
 * announcements no consumer can tell apart from two steps.
 */
function evaluateEmitted(events: State['emitted']['events']) {
  const byId = new Map<string, { topic: string; n: number; contents: Set<string> }>();
  const idsByStep = new Map<string, Set<string>>();
  for (const e of events) {
    const seen = byId.get(e.eventId) ?? { topic: e.topic, n: 0, contents: new Set<string>() };
    byId.set(e.eventId, { ...seen, n: seen.n + 1, contents: seen.contents.add(e.content) });
    idsByStep.set(e.step, (idsByStep.get(e.step) ?? new Set()).add(e.eventId));
  }
  const reemitted = [...byId].filter(([, { n }]) => n > 1).map(([id, { topic, n }]) => `${id} on ${topic}: ${n} times`);
  const wrong = [...byId]
    .filter(([, { contents }]) => contents.size > 1)
    .map(([id, { topic, contents }]) => `emitted ${id} on ${topic}: its copies say different things (${[...contents].join(' / ').slice(0, 300)})`);
  const duplicated = [...idsByStep]
    .filter(([, ids]) => ids.size > 1)
    .map(([step, ids]) => `emitted ${step}: ${ids.size} events with different IDs (${[...ids].join(', ')})`);
  return { reemitted, wrong, duplicated };
}

/** The event each audited prescription step announces (`recordPayment` and `recordDelivery` announce none). */
const prescriptionStepEvents: Record<string, (p: ExpectedPrescription) => string | undefined> = {
  validatePrescription: () => 'PRESCRIPTION_VALIDATION_COMPLETED',
  enrollPatient: () => 'PATIENT_ENROLLMENT_COMPLETED',
  selectPharmacy: () => 'PHARMACY_SELECTED',
  adjudicateClaim: () => 'INSURANCE_ADJUDICATION_COMPLETED',
  // A copay gets a link (the payment run announces each payment made through it); nothing owed is
  // announced as paid at once.
  requestPayment: (p) => (p.copays ? 'PAYMENT_LINK_CREATED' : 'PAYMENT_COMPLETED'),
  createShippingLabel: () => 'SHIPMENT_LABEL_CREATED',
};

/**
 * The step a `payment.completed` announces: one per payment, since a prescription paid twice is
 * announced twice (by the payment runs, under each payment's event ID).
 */
export const paymentCompletedStep = (prescriptionId: string, paymentId: string): string => `PAYMENT_COMPLETED ${prescriptionId} ${paymentId}`;

/**
 * Every event the stream implies, as `type subject` (the `step` of State's emitted events): each
 * purchase is announced created, and allocated when a trainer teaches its course; each
 * prescription announces the steps its outcome takes; each copay the card processor charges is
 * announced paid by its payment run.
 */
export function impliedEvents(expect: Expectations): Set<string> {
  const implied = new Set<string>();
  for (const [pair, p] of expect.purchases) {
    implied.add(`PURCHASE_CREATED ${pair}`);
    if (p.trainer) implied.add(`TRAINER_ALLOCATED ${pair}`);
  }
  for (const [id, p] of expect.prescriptions) {
    for (const step of p.steps) {
      const type = prescriptionStepEvents[step]?.(p);
      if (type === 'PAYMENT_COMPLETED' && p.paid) implied.add(paymentCompletedStep(id, p.paid.paymentId));
      else if (type) implied.add(`${type} ${id}`);
    }
  }
  for (const p of expect.payments.values()) {
    if (p.purpose.kind === 'copay' && p.outcome !== 'declined') implied.add(paymentCompletedStep(p.purpose.prescriptionId, p.paymentId));
  }
  return implied;
}

/** The figures a run's goal needs, and what the run knows besides them. */
export interface VerdictInputs {
  drain: 'drained' | 'stalled' | 'timed out';
  /** Workflow IDs started twice (`startedTwice`). */
  startedTwice: string[];
}

/**
 * GOAL MET or not, and if not, which figures missed their goal. One function for main.ts's report
 * and the tests, so a check the tests prove is a check the run makes.
 */
export function verdict(f: Figures, { drain, startedTwice }: VerdictInputs): { met: boolean; missed: string[] } {
  const goals: Array<[string, boolean]> = [
    ['drained', drain === 'drained'],
    ['consumer lag 0', f.lagTotal === 0],
    ['lost 0', f.lost.length === 0],
    ['duplicated 0', f.duplicated.length === 0 && startedTwice.length === 0],
    ['emitted events read', f.emittedUnread === undefined],
    ['wrong 0', f.wrong.length === 0],
    ['every poison record parked with its reason', f.poisonParked === f.poisonExpected && f.poisonWrongReason.length === 0],
    ['every prescription ended as expected', f.prescriptionsEnded === f.prescriptionsExpected],
    ['one row per prescription', f.prescriptionRows === f.prescriptionsExpected],
    ['every prescription audited', f.prescriptionsAudited === f.prescriptionsExpected],
    ['every prescription row recorded as expected', f.prescriptionsRecorded === f.prescriptionsExpected],
    ['every prescription at its partners', f.prescriptionsAtPartners === f.prescriptionsExpected],
    ['parked (unexpected) 0', f.unexpectedParked.length === 0],
    ['runs needing a person 0', f.needingPersonOther.length === 0],
    ['0 double charges', f.doubleCharges.length === 0],
    ['every payment in the ledger as the card processor has it', f.ledgerProblems.length === 0],
    ['charged − refunded = delivered for every payment', f.moneyUnbalanced.length === 0],
    ['every payment ended as its story expects', f.paymentExpectations.length === 0],
    ['every fault injected', f.faultsNotInjected.length === 0],
  ];
  const missed = goals.filter(([, ok]) => !ok).map(([goal]) => goal);
  return { met: missed.length === 0, missed };
}
