import { z } from 'zod';
import { identifier, timestamp } from './fields';

/** The purchase events on `purchase-confirmed`, `purchase-created` and `trainer-allocated` (seeds 001, 003). */
/** Emitted by the payment service once a payment for a course succeeded. */
export const purchaseConfirmedSchema = z.object({
  type: z.literal('PURCHASE_CONFIRMED').optional(),
  paymentId: identifier,
  studentId: identifier,
  courseId: identifier,
  amount: z.number().nonnegative().optional(),
  currency: z.string().length(3).optional(),
  confirmedAt: timestamp,
});
export type PurchaseConfirmed = z.infer<typeof purchaseConfirmedSchema>;

/** The event ID is derived from the purchase, so a consumer can drop an event it has seen. */
export const purchaseCreatedSchema = z.object({
  eventId: identifier,
  type: z.literal('PURCHASE_CREATED'),
  purchaseId: identifier,
  paymentId: identifier,
  studentId: identifier,
  courseId: identifier,
  occurredAt: timestamp,
});
export type PurchaseCreated = z.infer<typeof purchaseCreatedSchema>;

export const trainerAllocatedSchema = z.object({
  eventId: identifier,
  type: z.literal('TRAINER_ALLOCATED'),
  allocationId: identifier,
  trainerId: identifier,
  purchaseId: identifier,
  studentId: identifier,
  courseId: identifier,
  occurredAt: timestamp,
});
export type TrainerAllocated = z.infer<typeof trainerAllocatedSchema>;
