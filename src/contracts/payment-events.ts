import { z } from 'zod';
import { identifier } from './fields';

/** What a payment pays for: a course (purchase-to-sessions), or a prescription's copay through its payment link. */
export const paymentPurposeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('course'), studentId: identifier, courseId: identifier }),
  z.object({ kind: z.literal('copay'), prescriptionId: identifier, linkId: identifier }),
]);
export type PaymentPurpose = z.infer<typeof paymentPurposeSchema>;

/** The body of `POST /payments`. */
export const paymentRequestSchema = z.strictObject({
  amountCents: z.number().int().positive().max(99_999_999),
  currency: z.string().regex(/^[A-Z]{3}$/, 'a three-letter currency code in capitals, e.g. USD'),
  /** The card number; the payload codec encrypts it in Temporal, and the ledger keeps its last four digits only. */
  card: z.string().regex(/^\d{12,19}$/, 'a card number of 12 to 19 digits'),
  purpose: paymentPurposeSchema,
});
export type PaymentRequestBody = z.infer<typeof paymentRequestSchema>;

/**
 * The Idempotency-Key header: the client's name for this payment, which it sends again with every
 * retry of the same request (a UUID, say).
 */
export const idempotencyKeySchema = z.string().min(8).max(200).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
