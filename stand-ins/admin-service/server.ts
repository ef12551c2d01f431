import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { logger } from '../../src/logger';
import { createStandIn, ensureTables, HttpError, parse, type StandIn } from '../http';

/**
 * A small stand-in for the admin service the legacy allocation worker called. It is outside this
 * system: it owns its tables (created here, not by our migrations) and knows nothing of Temporal.
 *
 *   GET  /health                      200 when it can reach its database
 *   POST /allocations                 { studentId, courseId } -> 201 new | 200 existing | 422 no trainer available
 *   PUT  /trainers/:trainerId         { courses, capacity, name? } -> 200 (adds or changes a trainer)
 *   POST /control/faults              { failNext?, failStatus?, delayMs? }: makes /allocations fail or slow on purpose
 *   GET  /control/faults              the current faults and how many allocation requests arrived
 *   (the HTTP side, faults included, is stand-ins/http.ts)
 *
 * Allocations are idempotent by (studentId, courseId): asking again returns the same allocation.
 */
export const adminServiceSchema = `
CREATE TABLE IF NOT EXISTS admin_trainers (
  trainer_id text PRIMARY KEY,
  name       text NOT NULL,
  courses    text[] NOT NULL,
  capacity   integer NOT NULL CHECK (capacity >= 0),
  allocated  integer NOT NULL DEFAULT 0 CHECK (allocated >= 0)
);
CREATE TABLE IF NOT EXISTS admin_allocations (
  allocation_id text PRIMARY KEY,
  student_id    text NOT NULL,
  course_id     text NOT NULL,
  trainer_id    text NOT NULL REFERENCES admin_trainers (trainer_id),
  status        text NOT NULL DEFAULT 'approved',
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS admin_allocations_one_per_student_course
  ON admin_allocations (student_id, course_id) WHERE status = 'approved';
`;

/** Trainers the demo's courses can be allocated to. */
export const demoTrainers = [
  { trainerId: 'trainer_ada', name: 'Ada', courses: ['course_typescript', 'course_temporal'], capacity: 50 },
  { trainerId: 'trainer_linus', name: 'Linus', courses: ['course_typescript', 'course_kafka'], capacity: 50 },
];

export interface Allocation {
  allocationId: string;
  trainerId: string;
  studentId: string;
  courseId: string;
  status: 'approved';
}

const allocationRequest = z.object({ studentId: z.string().min(1), courseId: z.string().min(1) });
const trainerRequest = z.object({
  name: z.string().min(1).optional(),
  courses: z.array(z.string().min(1)),
  capacity: z.number().int().nonnegative(),
});

/** Its `requests` counts allocation requests, faulted ones included. */
export type AdminService = StandIn;

// Several instances (the stack's and the tests') may start at once.
export const ensureAdminSchema = (db: Pool) => ensureTables(db, 727275, adminServiceSchema);

export async function upsertTrainer(
  db: Pool,
  trainer: { trainerId: string; name?: string; courses: string[]; capacity: number },
): Promise<void> {
  await db.query(
    `INSERT INTO admin_trainers (trainer_id, name, courses, capacity) VALUES ($1, $2, $3, $4)
     ON CONFLICT (trainer_id) DO UPDATE SET name = EXCLUDED.name, courses = EXCLUDED.courses, capacity = EXCLUDED.capacity`,
    [trainer.trainerId, trainer.name ?? trainer.trainerId, trainer.courses, trainer.capacity],
  );
}

async function allocate(db: Pool, studentId: string, courseId: string): Promise<{ created: boolean; allocation: Allocation }> {
  const client = await db.connect();
  const existing = () =>
    client.query<{ allocation_id: string; trainer_id: string }>(
      `SELECT allocation_id, trainer_id FROM admin_allocations
        WHERE student_id = $1 AND course_id = $2 AND status = 'approved'`,
      [studentId, courseId],
    );
  const toAllocation = (row: { allocation_id: string; trainer_id: string }): Allocation => ({
    allocationId: row.allocation_id,
    trainerId: row.trainer_id,
    studentId,
    courseId,
    status: 'approved',
  });
  try {
    await client.query('BEGIN');
    // One request per student and course at a time, so a repeated request finds the first one's allocation.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${studentId}/${courseId}`]);
    const found = (await existing()).rows[0];
    if (found) {
      await client.query('COMMIT');
      return { created: false, allocation: toAllocation(found) };
    }
    const trainer = (
      await client.query<{ trainer_id: string }>(
        `UPDATE admin_trainers SET allocated = allocated + 1
          WHERE trainer_id = (SELECT trainer_id FROM admin_trainers
                               WHERE $1 = ANY (courses) AND allocated < capacity
                               ORDER BY allocated, trainer_id LIMIT 1 FOR UPDATE)
            AND allocated < capacity
          RETURNING trainer_id`,
        [courseId],
      )
    ).rows[0];
    if (!trainer) throw new HttpError(422, `no trainer available for course ${courseId}`);
    const allocationId = `alloc_${randomUUID()}`;
    await client.query(
      'INSERT INTO admin_allocations (allocation_id, student_id, course_id, trainer_id) VALUES ($1, $2, $3, $4)',
      [allocationId, studentId, courseId, trainer.trainer_id],
    );
    await client.query('COMMIT');
    return { created: true, allocation: toAllocation({ allocation_id: allocationId, trainer_id: trainer.trainer_id }) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export function createAdminService(db: Pool): AdminService {
  const log = logger.child({ component: 'admin-service' });
  return createStandIn(
    'admin-service',
    db,
    {
      business: (req) =>
        req.method === 'POST' && req.pathname === '/allocations'
          ? async () => {
              const { studentId, courseId } = parse(allocationRequest, await req.json());
              const { created, allocation } = await allocate(db, studentId, courseId);
              log.info({ studentId, courseId, allocationId: allocation.allocationId, created }, 'Allocation requested');
              return { status: created ? 201 : 200, body: allocation };
            }
          : undefined,
      control: (req) => {
        const trainer = /^\/trainers\/([^/]+)$/.exec(req.pathname);
        if (req.method !== 'PUT' || !trainer) return undefined;
        return async () => {
          const trainerId = decodeURIComponent(trainer[1]!);
          const body = parse(trainerRequest, await req.json());
          await upsertTrainer(db, { trainerId, ...body });
          return { status: 200, body: { trainerId, ...body } };
        };
      },
    },
    log,
  );
}
