import type { Pool } from 'pg';
import type { PurchaseConfirmed } from '../contracts/purchase';
import type { TrainerAllocation } from './allocation';
import { currentCorrelationId } from '../trace-node';
import { activityLogger } from '../logger';

export type CreatedPurchase =
  | { outcome: 'Created'; purchaseId: string }
  /** Another payment's purchase of this course by this student is active. */
  | { outcome: 'AlreadyActive'; purchaseId: string }
  /** This payment's purchase went all the way in an earlier run: a trainer allocation is recorded for it. */
  | { outcome: 'AlreadyAllocated'; purchaseId: string; allocation: TrainerAllocation }
  /** This payment's purchase was deactivated (an aborted run's undo) and was not allocated a trainer. */
  | { outcome: 'Deactivated'; purchaseId: string };

const uniqueViolation = '23505';

export function createPurchaseActivities(db: Pool) {
  return {
    /**
     * Records the purchase in a transaction. The unique indexes decide: a violation caused by this
     * payment's own earlier attempt is success; one caused by another active purchase of the same
     * course by the same student means this confirmation changes nothing.
     */
    async createPurchase(confirmation: PurchaseConfirmed): Promise<CreatedPurchase> {
      const log = activityLogger({ activity: 'createPurchase', paymentId: confirmation.paymentId });
      const client = await db.connect();
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO student_course_purchases (payment_id, student_id, course_id, confirmed_at, correlation_id)
           VALUES ($1, $2, $3, $4, $5) RETURNING id`,
          [confirmation.paymentId, confirmation.studentId, confirmation.courseId, confirmation.confirmedAt, currentCorrelationId()],
        );
        await client.query('COMMIT');
        log.info({ purchaseId: rows[0]!.id }, 'Purchase created');
        return { outcome: 'Created', purchaseId: rows[0]!.id };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if ((err as { code?: string }).code !== uniqueViolation) throw err;
      } finally {
        client.release();
      }

      const { rows } = await db.query<{ id: string; payment_id: string; is_active: boolean }>(
        `SELECT id, payment_id, is_active FROM student_course_purchases
          WHERE payment_id = $1 OR (student_id = $2 AND course_id = $3 AND is_active)
          ORDER BY (payment_id = $1) DESC LIMIT 1`,
        [confirmation.paymentId, confirmation.studentId, confirmation.courseId],
      );
      const holder = rows[0];
      if (!holder) throw new Error('unique violation, but no conflicting purchase found; retrying');
      if (holder.payment_id === confirmation.paymentId) {
        const allocation = await allocationOf(db, holder.id);
        if (allocation) {
          log.info({ purchaseId: holder.id, allocationId: allocation.allocationId }, 'Purchase already allocated a trainer in an earlier run');
          return { outcome: 'AlreadyAllocated', purchaseId: holder.id, allocation };
        }
        // Its run was aborted, and refunded it: a confirmation delivered again must not give the
        // course back for nothing.
        if (!holder.is_active) {
          log.warn({ purchaseId: holder.id }, 'Purchase was deactivated by an earlier run');
          return { outcome: 'Deactivated', purchaseId: holder.id };
        }
        log.info({ purchaseId: holder.id }, 'Purchase already created by an earlier attempt');
        return { outcome: 'Created', purchaseId: holder.id };
      }
      log.warn({ activePurchaseId: holder.id }, 'Student already has an active purchase of this course');
      return { outcome: 'AlreadyActive', purchaseId: holder.id };
    },

    /**
     * An aborted purchase's undo: the student no longer has the course, and the row no longer
     * holds the one active purchase of it. Doing it again changes nothing.
     */
    async deactivatePurchase(purchaseId: string): Promise<void> {
      await db.query('UPDATE student_course_purchases SET is_active = false WHERE id = $1', [purchaseId]);
      activityLogger({ activity: 'deactivatePurchase', purchaseId }).info('Purchase deactivated');
    },
  };
}

export type PurchaseActivities = ReturnType<typeof createPurchaseActivities>;

/**
 * The allocation recorded for the purchase, in any status. It is the last thing a run writes: what
 * follows (TRAINER_ALLOCATED, the session window) comes in the same run without another decision.
 * A run that finds one was started by a confirmation redelivered after the first run left Temporal
 * (retention), and must not go on: once the first allocation has ended, asking the admin service
 * again may allocate another trainer, and a second window would schedule sessions for it.
 */
async function allocationOf(db: Pool, purchaseId: string): Promise<TrainerAllocation | undefined> {
  const { rows } = await db.query<{ allocation_id: string; trainer_id: string }>(
    'SELECT allocation_id, trainer_id FROM trainer_allocations WHERE purchase_id = $1 ORDER BY id LIMIT 1',
    [purchaseId],
  );
  return rows[0] && { allocationId: rows[0].allocation_id, trainerId: rows[0].trainer_id };
}
