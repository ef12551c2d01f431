import { z } from 'zod';

/**
 * What the pharmacy network, the insurer, the carrier and the payment provider answer: one schema
 * each, which the clients check every answer against, and the types everything else uses (workflows only with
 * `import type`: zod stays out of the workflow bundle).
 */
export const eligibilitySchema = z.discriminatedUnion('eligible', [
  z.object({ eligible: z.literal(true) }),
  z.object({ eligible: z.literal(false), reason: z.string().min(1) }),
]);
export type Eligibility = z.infer<typeof eligibilitySchema>;

export const pharmacySelectionSchema = z.object({ pharmacyId: z.string().min(1), name: z.string().min(1) });
export type PharmacySelection = z.infer<typeof pharmacySelectionSchema>;

export const adjudicationSchema = z.discriminatedUnion('status', [
  z.object({
    claimId: z.string().min(1),
    status: z.literal('approved'),
    copayCents: z.number().int().nonnegative(),
    paidCents: z.number().int().nonnegative(),
  }),
  z.object({ claimId: z.string().min(1), status: z.literal('rejected'), reason: z.string().min(1) }),
]);
export type Adjudication = z.infer<typeof adjudicationSchema>;

export const shippingLabelSchema = z.object({
  shipmentId: z.string().min(1),
  carrier: z.string().min(1),
  trackingNumber: z.string().min(1),
  labelUrl: z.string().min(1),
});
export type ShippingLabel = z.infer<typeof shippingLabelSchema>;

export const trackingUpdateSchema = z.object({
  trackingNumber: z.string().min(1),
  status: z.enum(['label_created', 'in_transit', 'delivered']),
  deliveredAt: z.string().min(1).optional(),
});
export type TrackingUpdate = z.infer<typeof trackingUpdateSchema>;

/** Why the payment provider declined a card (its 402 answer's `code`). */
export const declineCodes = ['card_declined', 'insufficient_funds'] as const;
export type DeclineCode = (typeof declineCodes)[number];

/** The payment provider's 402: the card was declined, and the failed charge is recorded under the key. */
export const cardDeclineSchema = z.object({ code: z.enum(declineCodes), message: z.string().min(1), chargeId: z.string().min(1) });
export type CardDecline = z.infer<typeof cardDeclineSchema>;

export const refundSchema = z.object({
  refundId: z.string().min(1),
  chargeId: z.string().min(1),
  amountCents: z.number().int().positive(),
  reason: z.string().nullable(),
  createdAt: z.string().min(1),
});
export type Refund = z.infer<typeof refundSchema>;

export const chargeSchema = z.object({
  chargeId: z.string().min(1),
  status: z.enum(['succeeded', 'failed']),
  amountCents: z.number().int().positive(),
  currency: z.string().length(3),
  cardLast4: z.string().length(4),
  description: z.string().nullable(),
  failureCode: z.enum(declineCodes).nullable(),
  amountRefundedCents: z.number().int().nonnegative(),
  refunds: z.array(refundSchema),
  createdAt: z.string().min(1),
});
export type Charge = z.infer<typeof chargeSchema>;
