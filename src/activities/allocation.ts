import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { z } from 'zod';
import { allocationRefusedErrorType } from '../contracts/purchase';
import { currentCorrelationId } from '../trace-node';
import { activityLogger } from '../logger';

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

export interface TrainerAllocation {
  allocationId: string;
  trainerId: string;
}

const allocationResponse = z.object({ allocationId: z.string().min(1), trainerId: z.string().min(1) });

export function createAllocationActivities(db: Pool, adminService: AdminServiceOptions) {
  return {
    /**
     * Asks the admin service for a trainer (it answers the same allocation for the same student and
     * course, so a retry is safe) and records the allocation. A refusal (4xx) is thrown as a
     * non-retryable `AllocationRefused`; anything else (5xx, timeouts, connection errors) is retried.
     */
    async allocateTrainer(request: AllocationRequest): Promise<TrainerAllocation> {
      const correlationId = currentCorrelationId();
      const log = activityLogger({ activity: 'allocateTrainer', studentId: request.studentId, courseId: request.courseId });
      const response = await fetch(new URL('/allocations', adminService.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(correlationId ? { 'correlation-id': correlationId } : {}) },
        body: JSON.stringify({ studentId: request.studentId, courseId: request.courseId }),
        signal: AbortSignal.any([Context.current().cancellationSignal, AbortSignal.timeout(adminService.timeoutMs ?? 30_000)]),
      });
      const body = await response.text();
      if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        log.warn({ status: response.status, body }, 'Admin service refused the allocation');
        throw ApplicationFailure.create({
          type: allocationRefusedErrorType,
          nonRetryable: true,
          message: `admin service refused (${response.status}): ${errorText(body)}`,
          details: [{ status: response.status }],
        });
      }
      if (!response.ok) throw new Error(`admin service answered ${response.status}: ${errorText(body)}`);
      const allocation = allocationResponse.parse(JSON.parse(body));

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

function errorText(body: string): string {
  try {
    return String((JSON.parse(body) as { error?: unknown }).error ?? body);
  } catch {
    return body.slice(0, 200);
  }
}

export type AllocationActivities = ReturnType<typeof createAllocationActivities>;
