import type { Pool } from 'pg';
import { activityLogger } from '../logger';

export interface SessionWindow {
  /** False once the allocation has ended (or is unknown): the window stops. */
  allocationActive: boolean;
  /** Sessions of the allocation scheduled after `now`. */
  futureSessions: number;
  /** The latest scheduled date (YYYY-MM-DD), past or future; null before the first session. */
  lastScheduledDate: string | null;
}

export interface SessionSlot {
  /** YYYY-MM-DD */
  date: string;
  /** HH:MM, UTC */
  time: string;
}

export interface SessionAllocation {
  allocationId: string;
  studentId: string;
  trainerId: string;
}

/**
 * Reads and extends an allocation's sessions. The workflow decides which slots to add, from its
 * own clock; these only read and write, and the unique (allocation_id, scheduled_date,
 * scheduled_time) makes a retried insert a no-op.
 */
export function createSessionActivities(db: Pool) {
  return {
    /** `now` is the workflow's time (ISO timestamp), not this machine's. */
    async sessionWindowOf(allocationId: string, now: string): Promise<SessionWindow> {
      const { rows } = await db.query<{ status: string; future: string; last_date: string | null }>(
        `SELECT a.status,
                (SELECT count(*) FROM sessions s
                  WHERE s.allocation_id = a.allocation_id
                    AND (s.scheduled_date + s.scheduled_time) > ($2::timestamptz AT TIME ZONE 'UTC')) AS future,
                (SELECT to_char(max(s.scheduled_date), 'YYYY-MM-DD') FROM sessions s
                  WHERE s.allocation_id = a.allocation_id) AS last_date
           FROM trainer_allocations a WHERE a.allocation_id = $1`,
        [allocationId, now],
      );
      const row = rows[0];
      return {
        allocationActive: row !== undefined && (row.status === 'approved' || row.status === 'active'),
        futureSessions: Number(row?.future ?? 0),
        lastScheduledDate: row?.last_date ?? null,
      };
    },

    /** Adds the slots in one transaction; returns how many were new. */
    async scheduleSessions(allocation: SessionAllocation, slots: SessionSlot[]): Promise<number> {
      const { rowCount } = await db.query(
        `INSERT INTO sessions (allocation_id, student_id, trainer_id, scheduled_date, scheduled_time)
         SELECT $1, $2, $3, slot.date, slot.time
           FROM unnest($4::date[], $5::time[]) AS slot(date, time)
         ON CONFLICT (allocation_id, scheduled_date, scheduled_time) DO NOTHING`,
        [allocation.allocationId, allocation.studentId, allocation.trainerId, slots.map((s) => s.date), slots.map((s) => s.time)],
      );
      activityLogger({ activity: 'scheduleSessions', allocationId: allocation.allocationId }).info(
        { requested: slots.length, added: rowCount, from: slots[0]?.date, to: slots.at(-1)?.date },
        'Sessions scheduled',
      );
      return rowCount ?? 0;
    },
  };
}

export type SessionActivities = ReturnType<typeof createSessionActivities>;
