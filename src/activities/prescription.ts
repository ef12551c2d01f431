import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { Pool } from 'pg';
import {
  finalFulfillmentStatuses,
  type Adjudication,
  type DemographicsCheck,
  type DemographicsDecision,
  type Enrollment,
  type FinalFulfillmentStatus,
  type PharmacySelection,
  type PrescriptionIntake,
  type ShippingLabel,
  type TrackingUpdate,
  type Validation,
} from '../contracts/prescription';
import {
  adjudicationCompletedSchema,
  enrollmentCompletedSchema,
  pharmacySelectedSchema,
  shipmentLabelCreatedSchema,
  validationCompletedSchema,
} from '../contracts/prescription-events';
import { currentTrace } from '../trace-node';
import { activityLogger } from '../logger';
import type { PartnerClients } from '../partners/clients';
import { changeOf, demographicsOf, otherOpenPrescriptions, patientRecord } from './demographics';
import { createAuditedSteps, eventEnvelope, type AuditedStepDependencies } from './prescription-audit';

export interface PrescriptionDependencies extends AuditedStepDependencies {
  partners: PartnerClients;
}

/**
 * Thin, idempotent adapters for each step of fulfillment: call the outside system if the step has
 * one (pharmacy network, insurer, carrier: each answers the same for the same request), then write
 * the step's data and its audit row in one transaction, then announce the step on its topic.
 * Log lines carry identifiers only: no names, birth dates or addresses.
 */
export function createPrescriptionActivities({ partners, ...deps }: PrescriptionDependencies) {
  const { db } = deps;
  const step = createAuditedSteps(deps);

  return {
    /**
     * Checks the prescription itself (prescriber, medication, quantity, age) and records it; or,
     * for a prescription that already ended, answers how (`ended`) and writes and emits nothing.
     */
    async validatePrescription(intake: PrescriptionIntake): Promise<Validation> {
      const { prescriptionId } = intake;
      const ended = await endedBeforeThisRun(db, prescriptionId);
      if (ended) {
        activityLogger({ prescriptionId, status: ended.ended.status }).info('The prescription had already ended; nothing is done again');
        return ended;
      }
      const found = validationProblems(intake);
      const recorded = await step.record(
        { prescriptionId, outcome: found.length ? 'Invalid' : 'Valid', detail: { problems: found } },
        (tx) =>
          tx.query(
            `INSERT INTO prescriptions (prescription_id, patient_id, medication_ndc, quantity, prescriber_npi, status,
                                        validation_problems, correlation_id, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (prescription_id) DO NOTHING`,
            [
              prescriptionId,
              intake.patient.patientId,
              intake.medication.ndc,
              intake.medication.quantity,
              intake.prescriber.npi,
              found.length ? 'Invalid' : 'Valid',
              found,
              currentTrace()?.correlationId ?? null,
              intake.receivedAt,
            ],
          ),
      );
      const { problems } = recorded.detail;
      await step.emit('validationCompleted', validationCompletedSchema, {
        ...eventEnvelope('PRESCRIPTION_VALIDATION_COMPLETED', prescriptionId),
        valid: problems.length === 0,
        problems,
      });
      return problems.length ? { valid: false, problems } : { valid: true };
    },

    /**
     * What this intake would change of its patient's record, and the patient's other open
     * prescriptions. Reads only: the workflow asks a person before a change while one is open.
     */
    async checkDemographics(intake: PrescriptionIntake): Promise<DemographicsCheck> {
      const { prescriptionId, patient } = intake;
      const change = changeOf(await patientRecord(db, patient.patientId), intake);
      const openPrescriptionIds = change ? await otherOpenPrescriptions(db, patient.patientId, prescriptionId) : [];
      return { changedFields: change?.fields ?? [], openPrescriptionIds };
    },

    /**
     * Asks the insurer whether the patient is covered, and enrolls the patient (the only PHI we
     * keep). The prescription keeps the intake's address as its own shipping address. A change of
     * the patient's demographics is audited by fingerprints (`demographics` in the audit row) and
     * applied to the patient's record only when no other prescription of theirs is open, or a
     * person `confirmed` it (`checkDemographics`); otherwise the record is kept as it was. A
     * change a person `refused` ends the prescription Ineligible without asking the insurer.
     */
    async enrollPatient(intake: PrescriptionIntake, decision?: DemographicsDecision): Promise<Enrollment> {
      const { prescriptionId, patient, insurance } = intake;
      const reason =
        decision === 'refused'
          ? "an operator refused this intake's change of the patient's demographics"
          : await partners.checkEligibility({ payerId: insurance.payerId, memberId: insurance.memberId }).then((e) => (e.eligible ? undefined : e.reason));
      const change = changeOf(await patientRecord(db, patient.patientId), intake);
      const openPrescriptionIds = change ? await otherOpenPrescriptions(db, patient.patientId, prescriptionId) : [];
      const applied = decision !== 'refused' && (!change || !openPrescriptionIds.length || decision === 'confirmed');
      const demographics = change && {
        ...change,
        applied,
        ...(openPrescriptionIds.length ? { openPrescriptionIds } : {}),
        ...(decision ? { decision } : {}),
      };
      const recorded = await step.record(
        {
          prescriptionId,
          outcome: reason === undefined ? 'Enrolled' : 'Ineligible',
          detail: { patientId: patient.patientId, ...(reason === undefined ? {} : { reason }), ...(demographics ? { demographics } : {}) },
        },
        async (tx) => {
          const d = demographicsOf(intake);
          // A new patient is inserted; a known one changes only as decided above.
          await tx.query(
            `INSERT INTO patients (patient_id, full_name, date_of_birth, address, payer_id, member_id, fingerprint_key)
             VALUES ($1, $2, $3, $4, $5, $6, $8)
             ON CONFLICT (patient_id) DO UPDATE
               SET full_name = EXCLUDED.full_name, date_of_birth = EXCLUDED.date_of_birth, address = EXCLUDED.address,
                   payer_id = EXCLUDED.payer_id, member_id = EXCLUDED.member_id
               WHERE $7::boolean`,
            [patient.patientId, d.name, d.dateOfBirth, d.address, d.payerId, d.memberId, applied && change !== undefined, randomBytes(32)],
          );
          await tx.query(
            `UPDATE prescriptions SET shipping_address = $2, status = $3, updated_at = now() WHERE prescription_id = $1`,
            [prescriptionId, patient.address, reason === undefined ? 'Enrolled' : 'Ineligible'],
          );
        },
      );
      const recordedReason = (recorded.detail as { reason?: string }).reason;
      await step.emit('enrollmentCompleted', enrollmentCompletedSchema, {
        ...eventEnvelope('PATIENT_ENROLLMENT_COMPLETED', prescriptionId),
        patientId: patient.patientId,
        eligible: recordedReason === undefined,
        ...(recordedReason === undefined ? {} : { reason: recordedReason }),
      });
      return recordedReason === undefined ? { eligible: true } : { eligible: false, reason: recordedReason };
    },

    async selectPharmacy(request: { prescriptionId: string; ndc: string; quantity: number; postalCode: string }): Promise<PharmacySelection> {
      const { prescriptionId } = request;
      const pharmacy = await partners.selectPharmacy(request);
      const { detail } = await step.record(
        { prescriptionId, outcome: 'Selected', detail: pharmacy },
        (tx) => tx.query(`UPDATE prescriptions SET pharmacy_id = $2, status = 'PharmacySelected', updated_at = now() WHERE prescription_id = $1`, [prescriptionId, pharmacy.pharmacyId]),
      );
      await step.emit('pharmacySelected', pharmacySelectedSchema, {
        ...eventEnvelope('PHARMACY_SELECTED', prescriptionId),
        pharmacyId: detail.pharmacyId,
        pharmacyName: detail.name,
      });
      return { pharmacyId: detail.pharmacyId, name: detail.name };
    },

    /** The claim ID is the prescription's, so the insurer answers a retried claim with its first decision. */
    async adjudicateClaim(request: {
      prescriptionId: string;
      payerId: string;
      memberId: string;
      ndc: string;
      quantity: number;
      pharmacyId: string;
    }): Promise<Adjudication> {
      const { prescriptionId, ...claim } = request;
      const decision = await partners.adjudicateClaim({ claimId: `claim-${prescriptionId}`, ...claim });
      const { detail } = await step.record(
        { prescriptionId, outcome: decision.status === 'approved' ? 'Approved' : 'Rejected', detail: decision },
        (tx) =>
          tx.query(
            `UPDATE prescriptions SET claim_id = $2, copay_cents = $3, status = $4, updated_at = now() WHERE prescription_id = $1`,
            [prescriptionId, decision.claimId, decision.status === 'approved' ? decision.copayCents : null, decision.status === 'approved' ? 'ClaimApproved' : 'ClaimRejected'],
          ),
      );
      await step.emit('adjudicationCompleted', adjudicationCompletedSchema, {
        ...eventEnvelope('INSURANCE_ADJUDICATION_COMPLETED', prescriptionId),
        claimId: detail.claimId,
        approved: detail.status === 'approved',
        ...(detail.status === 'approved' ? { copayCents: detail.copayCents, paidCents: detail.paidCents } : { reason: detail.reason }),
      });
      return detail;
    },

    /**
     * The address is the one captured for this prescription at its enrollment (never through
     * Temporal), so another intake naming the same patient cannot redirect the parcel. A
     * prescription enrolled before the column existed and missed by migration 012's backfill ships
     * to its patient's row, as before.
     */
    async createShippingLabel(request: { prescriptionId: string; patientId: string; pharmacyId: string }): Promise<ShippingLabel> {
      const { prescriptionId, patientId, pharmacyId } = request;
      const { rows } = await db.query<{ address: ShippingAddress | null }>(
        `SELECT COALESCE(p.shipping_address, pt.address) AS address
           FROM prescriptions p LEFT JOIN patients pt ON pt.patient_id = $2
          WHERE p.prescription_id = $1`,
        [prescriptionId, patientId],
      );
      if (!rows[0]?.address) throw new Error(`prescription ${prescriptionId} has no shipping address (patient ${patientId} is not enrolled); cannot address the parcel`);
      const label = await partners.createShippingLabel({ shipmentId: `shipment-${prescriptionId}`, pharmacyId, address: rows[0].address });
      const { detail } = await step.record(
        { prescriptionId, outcome: 'LabelCreated', detail: label },
        (tx) =>
          tx.query(`UPDATE prescriptions SET tracking_number = $2, status = 'Shipped', updated_at = now() WHERE prescription_id = $1`, [
            prescriptionId,
            label.trackingNumber,
          ]),
      );
      await step.emit('shipmentLabelCreated', shipmentLabelCreatedSchema, {
        ...eventEnvelope('SHIPMENT_LABEL_CREATED', prescriptionId),
        pharmacyId,
        ...detail,
      });
      return detail;
    },

    /** One look at the carrier's tracking; the workflow decides when to look again. Writes nothing. */
    async trackShipment(trackingNumber: string): Promise<TrackingUpdate> {
      return partners.trackShipment(trackingNumber);
    },

    /**
     * When the parcel was delivered; until then each attempt fails "not yet" and Temporal retries it
     * at the tracking interval (`pollUntilDone`). Writes nothing.
     */
    async awaitDelivery(trackingNumber: string): Promise<string> {
      return deliveredAt(await partners.trackShipment(trackingNumber));
    },

    /** The end of tracking: delivered, or overdue at the deadline (a person chases the carrier). */
    async recordDelivery(request: { prescriptionId: string; trackingNumber: string; deliveredAt?: string }): Promise<void> {
      const { prescriptionId, trackingNumber, deliveredAt } = request;
      await step.record(
        { prescriptionId, outcome: deliveredAt ? 'Delivered' : 'DeliveryOverdue', detail: { trackingNumber, deliveredAt } },
        (tx) =>
          tx.query(`UPDATE prescriptions SET delivered_at = $2, status = $3, updated_at = now() WHERE prescription_id = $1`, [
            prescriptionId,
            deliveredAt ?? null,
            deliveredAt ? 'Delivered' : 'DeliveryOverdue',
          ]),
      );
    },
  };
}

export type PrescriptionActivities = ReturnType<typeof createPrescriptionActivities>;

/**
 * The delivery time of a delivered parcel, or the attempt's failure while it is not: retryable,
 * and benign, so the worker logs it at debug and not as a warning for every poll.
 */
export function deliveredAt(update: TrackingUpdate): string {
  if (update.status === 'delivered') return update.deliveredAt ?? new Date().toISOString();
  throw ApplicationFailure.create({
    type: 'ParcelNotDelivered',
    message: `parcel ${update.trackingNumber} is ${update.status}, not delivered yet`,
    category: ApplicationFailureCategory.BENIGN,
  });
}

/**
 * The prescription's recorded end, when it reached a final status before this run. Temporal keeps a
 * closed run for the namespace's retention (a day) and Kafka keeps the intake for seven: an intake
 * delivered in between starts a new run, whose recorded steps would answer what they recorded
 * while the rest acted again (an old payment link counts as expired, over a delivery). A retried
 * attempt of this run's own validation (its audit row names this run) is not one.
 */
async function endedBeforeThisRun(db: Pool, prescriptionId: string): Promise<Validation & Required<Pick<Validation, 'ended'>> | undefined> {
  const runId = Context.current().info.workflowExecution?.runId ?? null;
  const { rows } = await db.query<{
    status: FinalFulfillmentStatus;
    validation_problems: string[] | null;
    pharmacy_id: string | null;
    claim_id: string | null;
    copay_cents: number | null;
    payment_link_id: string | null;
    payment_id: string | null;
    tracking_number: string | null;
    delivered_at: Date | null;
  }>(
    `SELECT p.status, p.validation_problems, p.pharmacy_id, p.claim_id, p.copay_cents, p.payment_link_id, p.payment_id,
            p.tracking_number, p.delivered_at
       FROM prescriptions p
       LEFT JOIN prescription_audit_log a ON a.prescription_id = p.prescription_id AND a.step = 'validatePrescription'
      WHERE p.prescription_id = $1 AND p.status = ANY($2) AND a.run_id IS DISTINCT FROM $3`,
    [prescriptionId, finalFulfillmentStatuses, runId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const ended = {
    status: row.status,
    prescriptionId,
    reason: `already ${row.status} when this run started; nothing was done again`,
    pharmacyId: row.pharmacy_id ?? undefined,
    claimId: row.claim_id ?? undefined,
    copayCents: row.copay_cents ?? undefined,
    paymentLinkId: row.payment_link_id ?? undefined,
    paymentId: row.payment_id ?? undefined,
    trackingNumber: row.tracking_number ?? undefined,
    deliveredAt: row.delivered_at?.toISOString(),
  };
  const problems = row.validation_problems ?? [];
  return problems.length ? { valid: false, problems, ended } : { valid: true, ended };
}

type ShippingAddress = PrescriptionIntake['patient']['address'];

export async function setStatus(tx: Pick<Pool, 'query'>, prescriptionId: string, status: string): Promise<void> {
  await tx.query('UPDATE prescriptions SET status = $2, updated_at = now() WHERE prescription_id = $1', [prescriptionId, status]);
}

const maxQuantity = 360;
const validForDays = 365;

/**
 * What makes a well-formed prescription unfillable. Each problem names the rule, never the value
 * (the reasons travel in events and logs).
 */
export function validationProblems(intake: PrescriptionIntake): string[] {
  const found: string[] = [];
  if (!validNpi(intake.prescriber.npi)) found.push('prescriber NPI is not a valid National Provider Identifier');
  if (!validNdc(intake.medication.ndc)) found.push('medication is not a National Drug Code (10 digits, or 11 as 5-4-2)');
  const { quantity } = intake.medication;
  if (quantity < 1 || quantity > maxQuantity) found.push(`quantity must be between 1 and ${maxQuantity}`);
  const written = Date.parse(`${intake.writtenOn}T00:00:00Z`);
  const received = Date.parse(intake.receivedAt);
  if (written > received) found.push('prescription is dated after it was received');
  else if (received - written > validForDays * 86_400_000) found.push(`prescription is older than ${validForDays} days`);
  return found;
}

/** The labeler-product-package forms of the FDA's 10-digit code, and the 11-digit 5-4-2 form claims use. */
export function validNdc(ndc: string): boolean {
  return /^(\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d{1,2})$/.test(ndc);
}

/** The NPI's check digit is a Luhn digit over the number prefixed with 80840 (CMS's rule). */
export function validNpi(npi: string): boolean {
  if (!/^\d{10}$/.test(npi)) return false;
  const digits = `80840${npi}`.split('').map(Number).reverse();
  const sum = digits.reduce((acc, d, i) => acc + (i % 2 === 1 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d), 0);
  return sum % 10 === 0;
}
