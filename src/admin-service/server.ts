import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'pg';
import { z } from 'zod';
import { logger } from '../logger';

/**
 * A small stand-in for the admin service the legacy allocation worker called. It is outside this
 * system: it owns its tables (created here, not by our migrations) and knows nothing of Temporal.
 *
 *   GET  /health                      200 when it can reach its database
 *   POST /allocations                 { studentId, courseId } -> 201 new | 200 existing | 422 no trainer available
 *   PUT  /trainers/:trainerId         { courses, capacity, name? } -> 200 (adds or changes a trainer)
 *   POST /control/faults              { failNext?, failStatus?, delayMs? }: makes /allocations fail or slow on purpose
 *   GET  /control/faults              the current faults and how many allocation requests arrived
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

export interface Faults {
  /** The next N allocation requests answer `failStatus`. */
  failNext: number;
  failStatus: number;
  /** Every allocation request waits this long before it is handled. */
  delayMs: number;
}

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
const faultsRequest = z.object({
  failNext: z.number().int().nonnegative().optional(),
  failStatus: z.number().int().min(400).max(599).optional(),
  delayMs: z.number().int().nonnegative().optional(),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminService {
  server: Server;
  faults: Faults;
  allocationRequests: number;
  /** Port 0 picks a free one. Resolves with the base URL. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

export async function ensureAdminSchema(db: Pool): Promise<void> {
  const client = await db.connect();
  try {
    // Several instances (the stack's and tests') may start at once.
    await client.query('SELECT pg_advisory_lock(727275)');
    await client.query(adminServiceSchema);
  } finally {
    await client.query('SELECT pg_advisory_unlock(727275)').catch(() => undefined);
    client.release();
  }
}

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

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new HttpError(400, result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return result.data;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function createAdminService(db: Pool): AdminService {
  const log = logger.child({ component: 'admin-service' });
  const service: AdminService = {
    faults: { failNext: 0, failStatus: 503, delayMs: 0 },
    allocationRequests: 0,
    server: createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) log.error({ err }, 'Request failed');
        if (!res.headersSent) send(res, status, { error: (err as Error).message });
      });
    }),
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        service.server.once('error', reject);
        service.server.listen(port, host, () => {
          resolve(`http://${host}:${(service.server.address() as AddressInfo).port}`);
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        service.server.closeAllConnections();
        service.server.close((err) => (err ? reject(err) : resolve()));
      }),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://admin');
    const route = `${req.method} ${pathname}`;
    if (route === 'GET /health') {
      await db.query('SELECT 1');
      return send(res, 200, { status: 'ok' });
    }
    if (route === 'POST /allocations') {
      service.allocationRequests++;
      const { studentId, courseId } = parse(allocationRequest, await readJson(req));
      if (service.faults.delayMs > 0) await new Promise((r) => setTimeout(r, service.faults.delayMs));
      if (service.faults.failNext > 0) {
        service.faults.failNext--;
        throw new HttpError(service.faults.failStatus, 'failing on purpose (fault injection)');
      }
      const { created, allocation } = await allocate(db, studentId, courseId);
      log.info({ studentId, courseId, allocationId: allocation.allocationId, created }, 'Allocation requested');
      return send(res, created ? 201 : 200, allocation);
    }
    const trainer = /^\/trainers\/([^/]+)$/.exec(pathname);
    if (req.method === 'PUT' && trainer) {
      const body = parse(trainerRequest, await readJson(req));
      await upsertTrainer(db, { trainerId: decodeURIComponent(trainer[1]!), ...body });
      return send(res, 200, { trainerId: decodeURIComponent(trainer[1]!), ...body });
    }
    if (pathname === '/control/faults') {
      if (req.method === 'POST') Object.assign(service.faults, parse(faultsRequest, await readJson(req)));
      else if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
      return send(res, 200, { ...service.faults, allocationRequests: service.allocationRequests });
    }
    throw new HttpError(404, `no route ${route}`);
  }

  return service;
}
