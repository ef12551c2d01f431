import type { Duration } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Eligibility } from '../partners/responses';
import type { RefundOutcome } from './payment';
import type { TraceContext } from '../trace';
import type { Address, PaymentCompleted, PrescriptionIntake } from './prescription-events';

/**
 * Contract of prescription fulfillment (seed 000): topics, workflow identity, messages and what
 * each step answers. The bridge, the workflow, the activities and the tests import these; the
 * event schemas are in ./prescription-events, out of the workflow bundle.
 */
export type { Address, PaymentCompleted, PrescriptionIntake };

export const prescriptionTaskQueue = 'prescriptions';

/** The seed's topics, one per handler it had; existing consumers keep reading them. */
export const prescriptionTopics = {
  intakeReceived: 'prescription.intake.received',
  validationCompleted: 'prescription.validation.completed',
  enrollmentCompleted: 'patient.enrollment.completed',
  pharmacySelected: 'pharmacy.selected',
  adjudicationCompleted: 'insurance.adjudication.completed',
  paymentLinkCreated: 'payment.link.created',
  paymentCompleted: 'payment.completed',
  shipmentLabelCreated: 'shipment.label.created',
} as const;
export type PrescriptionTopics = { -readonly [K in keyof typeof prescriptionTopics]: string };

// A prescription ID is opaque (no PHI), so it can name the run in the Web UI and in search.
const workflowIdPrefix = 'prescription-';
export const prescriptionWorkflowId = (prescriptionId: string): string => `${workflowIdPrefix}${prescriptionId}`;
export const prescriptionIdFromWorkflowId = (workflowId: string): string | undefined =>
  workflowId.startsWith(workflowIdPrefix) ? workflowId.slice(workflowIdPrefix.length) : undefined;

/** Event IDs from the business identity: a retried step re-sends the same event, which consumers drop. */
export const prescriptionEventId = (type: string, prescriptionId: string): string => `${type}:${prescriptionId}`;
/** The payment recorded when the patient owes nothing; it is announced like any other payment. */
/** One shipment per prescription; by the prescription, since carriers' tracking numbers are theirs to reuse. */
export const shipmentTrackingWorkflowId = (prescriptionId: string): string => `shipment-tracking-${prescriptionId}`;
/** Polls a tracking run makes before it continues as new: about 11 events each, well inside Temporal's 10,240-event warning. */
export const trackingPollsPerRun = 500;
export const nothingOwedPaymentId = (prescriptionId: string): string => `nothing-owed-${prescriptionId}`;

/**
 * How long the process waits, chosen by whoever starts it (the bridge, from configuration) and kept
 * in the run's input, so a change of configuration never changes a run that is already going.
 */
export interface FulfillmentTimings {
  /** How long a payment link stays open before the prescription is cancelled. */
  paymentWindow: Duration;
  /** How often the carrier is asked where the parcel is. */
  trackingInterval: Duration;
  /** After this long without a delivery the run ends as `DeliveryOverdue`, for a person to chase. */
  deliveryDeadline: Duration;
}
export const defaultFulfillmentTimings: FulfillmentTimings = {
  paymentWindow: '3 days',
  trackingInterval: '4 hours',
  deliveryDeadline: '10 days',
};

/** The intake as the bridge hands it to the workflow. */
export type PrescriptionRequest = PrescriptionIntake & { trace: TraceContext; timings: FulfillmentTimings };

/** The payment provider (or, for nothing owed, we) announced a payment on `payment.completed`. */
export const paymentCompletedSignal = defineSignal<[PaymentCompleted]>('paymentCompleted');

export type FulfillmentStatus =
  | 'Validating'
  | 'Enrolling'
  | 'SelectingPharmacy'
  | 'Adjudicating'
  | 'AwaitingPayment'
  | 'Shipping'
  | 'InTransit'
  // The business outcomes: each ends the run and is announced by the step that decided it.
  | 'Delivered'
  | 'Invalid'
  | 'Ineligible'
  | 'ClaimRejected'
  | 'PaymentExpired'
  | 'DeliveryOverdue';

/**
 * The outcomes nothing changes any more: the prescriptions row keeps them (migrations/006), and a
 * run started for a prescription that reached one ends in it at once. `DeliveryOverdue` is not one:
 * a later delivery may still change it.
 */
export const finalFulfillmentStatuses = ['Invalid', 'Ineligible', 'ClaimRejected', 'PaymentExpired', 'Delivered'] as const;
export type FinalFulfillmentStatus = (typeof finalFulfillmentStatuses)[number];

export interface FulfillmentState {
  status: FulfillmentStatus;
  prescriptionId: string;
  /** Why the run ended short of a delivery (identifiers and reasons, never PHI). */
  reason?: string;
  pharmacyId?: string;
  claimId?: string;
  copayCents?: number;
  paymentLinkId?: string;
  paymentLinkExpiresAt?: string;
  paymentId?: string;
  /** Runs before payments were checked: a payment that came while its link was being closed, for a person to refund. */
  unclaimedPaymentId?: string;
  /** Payments the run did not take, each with why (refunded when it was a charge for this prescription). */
  refusedPayments?: RefusedPayment[];
  /** What the run gave back: refused payments, and the payment itself when the run was aborted. */
  refunds?: RefundOutcome[];
  trackingNumber?: string;
  deliveredAt?: string;
}
export interface RefusedPayment {
  paymentId: string;
  reason: string;
}
/** `temporal workflow query --workflow-id prescription-<id> --name fulfillmentState` */
export const fulfillmentStateQuery = defineQuery<FulfillmentState>('fulfillmentState');

// What each step answers the workflow; the partner steps answer what the partner answered
// (src/partners/responses.ts).
export type { Adjudication, PharmacySelection, ShippingLabel, TrackingUpdate } from '../partners/responses';
export type Validation = ({ valid: true } | { valid: false; problems: string[] }) & {
  /**
   * Set when the prescription had already ended in a final status before this run: an intake
   * delivered again after its run left Temporal (retention) starts a new run. What the database
   * recorded, for the run to end in.
   */
  ended?: FulfillmentState & { status: FinalFulfillmentStatus };
};
export type Enrollment = Eligibility;
/**
 * What an intake would change of its patient's record, by field name, and the patient's other
 * prescriptions still open (they could still ship): a change while any is open waits for a person.
 */
export interface DemographicsCheck {
  changedFields: string[];
  openPrescriptionIds: string[];
}
/** A person's answer to a held change of demographics (`enrollPatient`'s second argument). */
export type DemographicsDecision = 'confirmed' | 'refused';
export type PaymentRequest =
  | { status: 'NothingOwed'; paymentId: string }
  | { status: 'LinkCreated'; linkId: string; url: string; expiresAt: string };
