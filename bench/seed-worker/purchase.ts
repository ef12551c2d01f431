/**
 * The four purchase-to-sessions workers of seeds 001 and 003, chained through Kafka: purchase
 * creation, trainer allocation (admin service, 30 s timeout), session scheduling (the rolling
 * window of 7 weekdays) and cache invalidation. The same tables, events and Redis keys as
 * src/activities/{purchase,allocation,sessions,cache,events}.ts.
 */
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { z } from 'zod';
import { studentCacheKeys } from '../../src/activities/cache';
import {
  purchaseConfirmedTopic,
  purchaseCreatedEventId,
  purchaseCreatedTopic,
  trainerAllocatedEventId,
  trainerAllocatedTopic,
} from '../../src/contracts/purchase';
import {
  purchaseConfirmedSchema,
  purchaseCreatedSchema,
  trainerAllocatedSchema,
  type PurchaseCreated,
  type TrainerAllocated,
} from '../../src/contracts/purchase-events';
import { logger } from '../../src/logger';
import { alreadyProcessed, firstDelivery, inTransaction, NonRetryable, type SeedWorker } from './framework';

const log = logger.child({ worker: 'purchase' });

/** The consumer groups of seed 001, one per worker. */
export const purchaseGroups = {
  creation: 'purchase-creation-workers',
  allocation: 'trainer-allocation-workers',
  sessions: 'session-scheduling-workers',
  cache: 'cache-invalidation-workers',
};
const windowSize = 7;
const sessionTime = '10:00';
const allocationResponse = z.object({ allocationId: z.string().min(1), trainerId: z.string().min(1) });

async function emit(producer: Producer, topic: string, event: PurchaseCreated | TrainerAllocated): Promise<void> {
  await producer.send({ topic, messages: [{ key: event.studentId, value: JSON.stringify(event) }] });
}

export function purchaseCreationWorker(db: Pool, producer: Producer): SeedWorker {
  return {
    group: purchaseGroups.creation,
    topics: [purchaseConfirmedTopic],
    maxAttempts: 3,
    critical: true,
    async handle(_topic, value) {
      const { paymentId, studentId, courseId, confirmedAt } = purchaseConfirmedSchema.parse(value);
      const purchaseId = await inTransaction(db, async (tx) => {
        if (!(await firstDelivery(tx, `PURCHASE_CONFIRMED:${paymentId}`, 'PURCHASE_CONFIRMED'))) return undefined;
        // No row: the student already has an active purchase of this course.
        const { rows } = await tx.query<{ id: string }>(
          `INSERT INTO student_course_purchases (payment_id, student_id, course_id, confirmed_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id`,
          [paymentId, studentId, courseId, confirmedAt],
        );
        return rows[0]?.id;
      });
      if (!purchaseId) return;
      // After the commit, as in the seed: a crash here loses the event (the guard skips the redelivery).
      const occurredAt = new Date().toISOString();
      const eventId = purchaseCreatedEventId(paymentId);
      await emit(producer, purchaseCreatedTopic, { eventId, type: 'PURCHASE_CREATED', purchaseId, paymentId, studentId, courseId, occurredAt });
      log.info({ paymentId, purchaseId }, 'Purchase created');
    },
  };
}

export function trainerAllocationWorker(db: Pool, producer: Producer, adminServiceUrl: string): SeedWorker {
  return {
    group: purchaseGroups.allocation,
    topics: [purchaseCreatedTopic],
    maxAttempts: 5,
    critical: true,
    async handle(_topic, value) {
      const purchase = purchaseCreatedSchema.parse(value);
      if (await alreadyProcessed(db, purchase.eventId)) return;
      const response = await fetch(new URL('/allocations', adminServiceUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ studentId: purchase.studentId, courseId: purchase.courseId }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = await response.text();
      if (response.status >= 400 && response.status < 500) throw new NonRetryable(`admin service refused (${response.status}): ${body}`);
      if (!response.ok) throw new Error(`admin service answered ${response.status}`);
      const { allocationId, trainerId } = allocationResponse.parse(JSON.parse(body));
      const recorded = await inTransaction(db, async (tx) => {
        if (!(await firstDelivery(tx, purchase.eventId, purchase.type))) return false;
        await tx.query(
          `INSERT INTO trainer_allocations (allocation_id, purchase_id, student_id, course_id, trainer_id, status)
           VALUES ($1, $2, $3, $4, $5, 'approved') ON CONFLICT DO NOTHING`,
          [allocationId, purchase.purchaseId, purchase.studentId, purchase.courseId, trainerId],
        );
        return true;
      });
      if (!recorded) return;
      const { purchaseId, studentId, courseId } = purchase;
      const eventId = trainerAllocatedEventId(allocationId);
      const occurredAt = new Date().toISOString();
      await emit(producer, trainerAllocatedTopic, { eventId, type: 'TRAINER_ALLOCATED', allocationId, trainerId, purchaseId, studentId, courseId, occurredAt });
      log.info({ allocationId, trainerId }, 'Trainer allocated');
    },
  };
}

export function sessionSchedulingWorker(db: Pool): SeedWorker {
  return {
    group: purchaseGroups.sessions,
    topics: [trainerAllocatedTopic],
    maxAttempts: 3,
    critical: true,
    async handle(_topic, value) {
      const { eventId, type, allocationId, studentId, trainerId } = trainerAllocatedSchema.parse(value);
      await inTransaction(db, async (tx) => {
        if (!(await firstDelivery(tx, eventId, type))) return;
        const { rows } = await tx.query<{ future: string; last: string | null; today: string }>(
          `SELECT count(*) FILTER (WHERE scheduled_date + scheduled_time > now() AT TIME ZONE 'UTC') AS future,
                  to_char(max(scheduled_date), 'YYYY-MM-DD') AS last,
                  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS today
             FROM sessions WHERE allocation_id = $1`,
          [allocationId],
        );
        const { future, last, today } = rows[0]!;
        const missing = windowSize - Number(future);
        if (missing <= 0) return;
        const dates = weekdaysAfter(last && last > today ? last : today, missing);
        await tx.query(
          `INSERT INTO sessions (allocation_id, student_id, trainer_id, scheduled_date, scheduled_time)
           SELECT $1, $2, $3, d, $5::time FROM unnest($4::date[]) AS d
           ON CONFLICT (allocation_id, scheduled_date, scheduled_time) DO NOTHING`,
          [allocationId, studentId, trainerId, dates, sessionTime],
        );
        log.info({ allocationId, added: dates.length }, 'Sessions scheduled');
      });
    },
  };
}

export function cacheInvalidationWorker(redis: Redis): SeedWorker {
  return {
    group: purchaseGroups.cache,
    topics: [purchaseCreatedTopic],
    maxAttempts: 3,
    // Fire-and-forget: a failure is logged and the message acknowledged.
    critical: false,
    async handle(_topic, value) {
      const { studentId } = purchaseCreatedSchema.parse(value);
      await redis.del(...studentCacheKeys(studentId));
    },
  };
}

/** The `count` weekdays after `date` (YYYY-MM-DD); weekends are skipped. */
function weekdaysAfter(date: string, count: number): string[] {
  const days: string[] = [];
  const day = new Date(`${date}T00:00:00Z`);
  while (days.length < count) {
    day.setUTCDate(day.getUTCDate() + 1);
    if (day.getUTCDay() % 6 !== 0) days.push(day.toISOString().slice(0, 10));
  }
  return days;
}
