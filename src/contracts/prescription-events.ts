import { z } from 'zod';
import { calendarDate, identifier, pgInteger, text, timestamp } from './fields';
import { personal } from './personal';

/**
 * The events of prescription fulfillment (seed 000), as they travel on Kafka. Only the bridge and
 * the activities import these schemas; workflows import the types through ./prescription.
 *
 * The intake carries PHI (the patient's name, birth date and address, the insurance member ID),
 * marked `personal`: the logger redacts those fields and the bridge parks an intake encrypted
 * (src/contracts/personal.ts). The events we emit carry identifiers and decisions only, so the
 * topics downstream of intake hold no PHI.
 */
const address = z.object({
  line1: text(200).trim().min(1),
  city: text(100).trim().min(1),
  postalCode: text(20).trim().min(1),
  country: text(2).length(2),
});
export type Address = z.infer<typeof address>;

/**
 * `prescription.intake.received`. Only the shape is checked here: a prescription that is well
 * formed but not valid (a bad prescriber NPI, an out-of-range quantity, written too long ago) is
 * the validation step's business outcome, announced on `prescription.validation.completed`.
 */
export const prescriptionIntakeSchema = z.object({
  type: z.literal('PRESCRIPTION_INTAKE_RECEIVED').optional(),
  prescriptionId: identifier,
  patient: personal(
    z.object({
      patientId: identifier,
      name: personal(text(200).trim().min(1)),
      dateOfBirth: personal(calendarDate),
      address: personal(address),
    }),
  ),
  prescriber: z.object({ npi: text(20), name: text(200) }),
  medication: z.object({ ndc: text(20), name: text(200), quantity: pgInteger }),
  insurance: z.object({ payerId: identifier, memberId: personal(identifier) }),
  writtenOn: calendarDate,
  receivedAt: timestamp,
});
export type PrescriptionIntake = z.infer<typeof prescriptionIntakeSchema>;

/** `payment.completed`: from the payment provider when a patient paid a link, or ours when nothing was owed. */
export const paymentCompletedSchema = z.object({
  eventId: identifier.optional(),
  type: z.literal('PAYMENT_COMPLETED').optional(),
  prescriptionId: identifier,
  paymentId: identifier,
  linkId: identifier.optional(),
  amountCents: pgInteger.nonnegative(),
  paidAt: timestamp,
});
export type PaymentCompleted = z.infer<typeof paymentCompletedSchema>;

/** What every event we emit carries: a deterministic ID (consumers drop repeats) and the correlation ID. */
const emitted = {
  eventId: identifier,
  prescriptionId: identifier,
  correlationId: z.string().optional(),
  occurredAt: timestamp,
};

export const validationCompletedSchema = z.object({
  ...emitted,
  type: z.literal('PRESCRIPTION_VALIDATION_COMPLETED'),
  valid: z.boolean(),
  problems: z.array(z.string()),
});
export const enrollmentCompletedSchema = z.object({
  ...emitted,
  type: z.literal('PATIENT_ENROLLMENT_COMPLETED'),
  patientId: identifier,
  eligible: z.boolean(),
  reason: z.string().optional(),
});
export const pharmacySelectedSchema = z.object({
  ...emitted,
  type: z.literal('PHARMACY_SELECTED'),
  pharmacyId: identifier,
  pharmacyName: z.string(),
});
export const adjudicationCompletedSchema = z.object({
  ...emitted,
  type: z.literal('INSURANCE_ADJUDICATION_COMPLETED'),
  claimId: identifier,
  approved: z.boolean(),
  copayCents: z.number().int().nonnegative().optional(),
  paidCents: z.number().int().nonnegative().optional(),
  reason: z.string().optional(),
});
export const paymentLinkCreatedSchema = z.object({
  ...emitted,
  type: z.literal('PAYMENT_LINK_CREATED'),
  linkId: identifier,
  amountCents: z.number().int().positive(),
  url: z.string().url(),
  expiresAt: timestamp,
});
export const paymentCompletedEventSchema = paymentCompletedSchema.extend({ ...emitted, type: z.literal('PAYMENT_COMPLETED') });
export const shipmentLabelCreatedSchema = z.object({
  ...emitted,
  type: z.literal('SHIPMENT_LABEL_CREATED'),
  shipmentId: identifier,
  pharmacyId: identifier,
  carrier: z.string(),
  trackingNumber: identifier,
  labelUrl: z.string(),
});

export type ValidationCompleted = z.infer<typeof validationCompletedSchema>;
export type EnrollmentCompleted = z.infer<typeof enrollmentCompletedSchema>;
export type PharmacySelected = z.infer<typeof pharmacySelectedSchema>;
export type AdjudicationCompleted = z.infer<typeof adjudicationCompletedSchema>;
export type PaymentLinkCreated = z.infer<typeof paymentLinkCreatedSchema>;
export type PaymentCompletedEvent = z.infer<typeof paymentCompletedEventSchema>;
export type ShipmentLabelCreated = z.infer<typeof shipmentLabelCreatedSchema>;
