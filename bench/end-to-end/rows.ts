/**
 * What a system wrote, read from its PostgreSQL database: whether a stream's rows are all there,
 * when the last one was written (PostgreSQL's clock, the same machine clock as the producer's),
 * what is lost, duplicated or wrong, and each entity's write time for the latency figures.
 */
import type { Pool } from 'pg';
import { sessionWindowSize } from '../../src/workflows/session-window';
import type { BookingOutcome, Expectations } from './stream';

export type Pipeline = 'booking' | 'purchase';

export interface Progress {
  found: number;
  expected: number;
  complete: boolean;
}

const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

/** A cheap count, polled while a phase drains. Rows of a phase share its ID prefix. */
export async function progress(db: Pool, pipeline: Pipeline, prefix: string, expect: Expectations): Promise<Progress> {
  if (pipeline === 'booking') {
    const { rows } = await db.query<{ status: BookingOutcome; n: string }>(
      `SELECT status, count(*) AS n FROM bookings WHERE starts_with(booking_id, $1) GROUP BY status`,
      [prefix],
    );
    const wanted = new Map<string, number>();
    for (const status of expect.bookings.values()) wanted.set(status, (wanted.get(status) ?? 0) + 1);
    const found = rows.reduce((sum, r) => sum + Math.min(Number(r.n), wanted.get(r.status) ?? 0), 0);
    return { found, expected: expect.bookings.size, complete: found === expect.bookings.size && rows.every((r) => Number(r.n) === wanted.get(r.status)) };
  }
  const taught = [...expect.purchases.values()].filter((p) => p.taught).length;
  const { rows } = await db.query<{ purchases: string; allocations: string; sessions: string }>(
    `SELECT (SELECT count(*) FROM student_course_purchases WHERE starts_with(payment_id, $1)) AS purchases,
            (SELECT count(*) FROM trainer_allocations WHERE starts_with(student_id, $1)) AS allocations,
            (SELECT count(*) FROM sessions WHERE starts_with(student_id, $1)) AS sessions`,
    [prefix],
  );
  const r = rows[0]!;
  const expected = expect.purchases.size + taught * (1 + sessionWindowSize);
  const found = Number(r.purchases) + Number(r.allocations) + Number(r.sessions);
  return { found, expected, complete: found === expected };
}

export interface Written {
  /** The entity's key (booking or payment ID) → when its first row was written, epoch ms. */
  first: Map<string, number>;
  /** Booking → when it was cancelled; payment → when its last session was written. */
  last: Map<string, number>;
  lastWriteMs: number;
  lost: string[];
  duplicated: string[];
  wrong: string[];
}

/** Every row of a phase, checked against what its stream implies. */
export async function written(db: Pool, pipeline: Pipeline, prefix: string, expect: Expectations): Promise<Written> {
  const out: Written = { first: new Map(), last: new Map(), lastWriteMs: 0, lost: [], duplicated: [], wrong: [] };
  const seen = (ms: number) => (out.lastWriteMs = Math.max(out.lastWriteMs, ms));
  if (pipeline === 'booking') {
    const { rows } = await db.query<{ booking_id: string; status: string; created: number; cancelled: number | null; updated: number }>(
      `SELECT booking_id, status, ${epochMs('created_at')} AS created, ${epochMs('cancelled_at')} AS cancelled, ${epochMs('updated_at')} AS updated
         FROM bookings WHERE starts_with(booking_id, $1)`,
      [prefix],
    );
    const byId = new Map<string, (typeof rows)[number]>();
    for (const row of rows) {
      if (byId.has(row.booking_id)) out.duplicated.push(`booking ${row.booking_id}: a second row`);
      byId.set(row.booking_id, row);
      seen(Math.max(row.created, row.updated, row.cancelled ?? 0));
      out.first.set(row.booking_id, row.created);
      if (row.cancelled !== null) out.last.set(row.booking_id, row.cancelled);
    }
    for (const [id, status] of expect.bookings) {
      const row = byId.get(id);
      if (!row) out.lost.push(`booking ${id} (${status}): no row`);
      else if (row.status !== status) out.wrong.push(`booking ${id}: ${row.status}, expected ${status}`);
    }
    for (const id of byId.keys()) if (!expect.bookings.has(id)) out.duplicated.push(`booking ${id}: a row no event asked for`);
    return out;
  }

  const [purchases, allocations, sessions] = await Promise.all([
    db.query<{ payment_id: string; student_id: string; created: number }>(
      `SELECT payment_id, student_id, ${epochMs('created_at')} AS created FROM student_course_purchases WHERE starts_with(payment_id, $1)`,
      [prefix],
    ),
    db.query<{ student_id: string; allocation_id: string; created: number }>(
      `SELECT student_id, allocation_id, ${epochMs('created_at')} AS created FROM trainer_allocations WHERE starts_with(student_id, $1)`,
      [prefix],
    ),
    db.query<{ student_id: string; n: string; distinct_slots: string; last: number }>(
      `SELECT student_id, count(*) AS n, count(DISTINCT (scheduled_date, scheduled_time)) AS distinct_slots, ${epochMs('max(created_at)')} AS last
         FROM sessions WHERE starts_with(student_id, $1) GROUP BY student_id`,
      [prefix],
    ),
  ]);
  const count = <R extends { student_id: string }>(rows: R[]) => {
    const m = new Map<string, number>();
    for (const r of rows) m.set(r.student_id, (m.get(r.student_id) ?? 0) + 1);
    return m;
  };
  const purchasesOf = count(purchases.rows);
  const allocationsOf = count(allocations.rows);
  const sessionsOf = new Map(sessions.rows.map((r) => [r.student_id, r]));
  for (const r of purchases.rows) {
    out.first.set(r.payment_id, r.created);
    seen(r.created);
  }
  for (const r of allocations.rows) seen(r.created);
  for (const [paymentId, p] of expect.purchases) {
    const s = sessionsOf.get(p.studentId);
    if (s) out.last.set(paymentId, s.last), seen(s.last);
    const n = { purchases: purchasesOf.get(p.studentId) ?? 0, allocations: allocationsOf.get(p.studentId) ?? 0, sessions: Number(s?.n ?? 0) };
    const want = { purchases: 1, allocations: p.taught ? 1 : 0, sessions: p.taught ? sessionWindowSize : 0 };
    for (const what of ['purchases', 'allocations', 'sessions'] as const) {
      if (n[what] < want[what]) out.lost.push(`payment ${paymentId}: ${n[what]} ${what}, expected ${want[what]}`);
      if (n[what] > want[what]) (p.taught || what === 'purchases' ? out.duplicated : out.wrong).push(`payment ${paymentId}: ${n[what]} ${what}, expected ${want[what]}`);
    }
    if (s && Number(s.distinct_slots) !== Number(s.n)) out.duplicated.push(`payment ${paymentId}: two sessions in one slot`);
  }
  return out;
}

/** The most recently written entities' workflow keys: the runs most likely still busy. */
export async function lastWritten(db: Pool, pipeline: Pipeline, prefix: string, limit: number): Promise<string[]> {
  if (pipeline === 'booking') {
    const { rows } = await db.query<{ id: string }>(
      `SELECT booking_id AS id FROM bookings WHERE starts_with(booking_id, $1) ORDER BY updated_at DESC LIMIT $2`,
      [prefix, limit],
    );
    return rows.map((r) => r.id);
  }
  const { rows } = await db.query<{ id: string }>(
    `SELECT allocation_id AS id FROM sessions WHERE starts_with(student_id, $1)
      GROUP BY allocation_id ORDER BY max(created_at) DESC LIMIT $2`,
    [prefix, limit],
  );
  return rows.map((r) => r.id);
}
