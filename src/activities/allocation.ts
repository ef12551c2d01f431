import type { Pool } from 'pg';
import { z } from 'zod';
import { allocationRefusedErrorType } from '../contracts/purchase';
import { currentCorrelationId } from '../trace-node';
import { activityLogger } from '../logger';
import { callHttp } from '../http-call';

export interface AdminServiceOptions {
  url: string;
  /** Per request; the activity's start-to-close timeout is the same 30 s. */
  timeoutMs?: number;
}

export interface AllocationRequest {
  purchaseId: string;
  studentId: string;
  courseId: string;
}

/** What the admin service answers, of which we keep these two. */
const allocationSchema = z.object({ allocationId: z.string().min(1), trainerId: z.string().min(1) });
export type TrainerAllocation = z.infer<typeof allocationSchema>;

export function createAllocationActivities(db: Pool, adminService: AdminServiceOptions) {
  return {
    /**
     * Asks the admin service for a trainer (it answers the same allocation for the same student and
     * course, so a retry is safe) and records the allocation. A refusal (such as 422, no trainer
     * available) is thrown as a non-retryable `AllocationRefused`; an outage is retried (src/http-call.ts).
     */
    async allocateTrainer(request: AllocationRequest): Promise<TrainerAllocation> {
      const correlationId = currentCorrelationId();
      const log = activityLogger({ activity: 'allocateTrainer', studentId: request.studentId, courseId: request.courseId });
      const allocation = await callHttp({
        what: 'admin service',
        url: new URL('/allocations', adminService.url),
        method: 'POST',
        body: { studentId: request.studentId, courseId: request.courseId },
        response: allocationSchema,
        timeoutMs: adminService.timeoutMs ?? 30_000,
        refusedType: allocationRefusedErrorType,
      });

      await db.query(
        `INSERT INTO trainer_allocations (allocation_id, purchase_id, student_id, course_id, trainer_id, status, correlation_id)
         VALUES ($1, $2, $3, $4, $5, 'approved', $6)
         ON CONFLICT DO NOTHING`,
        [allocation.allocationId, request.purchaseId, request.studentId, request.courseId, allocation.trainerId, correlationId],
      );
      // Whichever allocation holds the student's course is the one the sessions belong to.
      const { rows } = await db.query<{ allocation_id: string; trainer_id: string }>(
        `SELECT allocation_id, trainer_id FROM trainer_allocations
          WHERE student_id = $1 AND course_id = $2 AND status IN ('approved', 'active')`,
        [request.studentId, request.courseId],
      );
      const current = rows[0];
      if (!current) throw new Error(`allocation ${allocation.allocationId} was not recorded`);
      log.info({ allocationId: current.allocation_id, trainerId: current.trainer_id }, 'Trainer allocated');
      return { allocationId: current.allocation_id, trainerId: current.trainer_id };
    },
  };
}

export type AllocationActivities = ReturnType<typeof createAllocationActivities>;
