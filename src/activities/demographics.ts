import { createHmac } from 'node:crypto';
import type { PoolClient } from 'pg';
import { finalFulfillmentStatuses, type PrescriptionIntake } from '../contracts/prescription';

/** What an intake says about its patient that the patients table keeps. */
export interface Demographics {
  name: string;
  dateOfBirth: string;
  address: PrescriptionIntake['patient']['address'];
  payerId: string;
  memberId: string;
}
export type DemographicField = keyof Demographics;
const fields: DemographicField[] = ['name', 'dateOfBirth', 'address', 'payerId', 'memberId'];

export const demographicsOf = ({ patient, insurance }: PrescriptionIntake): Demographics => ({
  name: patient.name,
  dateOfBirth: patient.dateOfBirth,
  address: patient.address,
  payerId: insurance.payerId,
  memberId: insurance.memberId,
});

/** Case, spacing and key order are not changes: `7 Lighthouse  lane` is `7 Lighthouse Lane`. */
function normalized(value: unknown): string {
  if (typeof value === 'string') return value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => a.localeCompare(b));
    return JSON.stringify(entries.map(([k, v]) => [k, normalized(v)]));
  }
  return JSON.stringify(value ?? null);
}

/**
 * Each field as HMAC-SHA256 under the patient's own fingerprint key (patients.fingerprint_key,
 * migration 012): the audit log can say which fields changed, and an auditor holding two rows can
 * tell whether a value came back, without the log holding a value or a hash anyone could reverse
 * by trying every birth date.
 */
export function fingerprints(key: Buffer, demographics: Demographics): Record<DemographicField, string> {
  const hmac = (field: DemographicField) => createHmac('sha256', key).update(`${field}\0${normalized(demographics[field])}`).digest('base64url');
  return Object.fromEntries(fields.map((f) => [f, hmac(f)])) as Record<DemographicField, string>;
}

/** The patient as enrolled, with the key of their fingerprints; undefined for a new patient. */
export interface PatientRecord {
  demographics: Demographics;
  fingerprintKey: Buffer;
}

export async function patientRecord(db: Pick<PoolClient, 'query'>, patientId: string, lock = false): Promise<PatientRecord | undefined> {
  const { rows } = await db.query<{ full_name: string; dob: string; address: Demographics['address']; payer_id: string; member_id: string; fingerprint_key: Buffer }>(
    `SELECT full_name, to_char(date_of_birth, 'YYYY-MM-DD') AS dob, address, payer_id, member_id, fingerprint_key
       FROM patients WHERE patient_id = $1${lock ? ' FOR UPDATE' : ''}`,
    [patientId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    demographics: { name: row.full_name, dateOfBirth: row.dob, address: row.address, payerId: row.payer_id, memberId: row.member_id },
    fingerprintKey: row.fingerprint_key,
  };
}

/** A change of a patient's demographics, by field and fingerprint; never a value. */
export interface DemographicsChange {
  fields: DemographicField[];
  before: Partial<Record<DemographicField, string>>;
  after: Partial<Record<DemographicField, string>>;
}

/** Undefined when the intake says what the record says (a new patient has no record to change). */
export function changeOf(record: PatientRecord | undefined, intake: PrescriptionIntake): DemographicsChange | undefined {
  if (!record) return undefined;
  const before = fingerprints(record.fingerprintKey, record.demographics);
  const after = fingerprints(record.fingerprintKey, demographicsOf(intake));
  const changed = fields.filter((f) => before[f] !== after[f]);
  if (!changed.length) return undefined;
  const pick = (all: Record<DemographicField, string>) => Object.fromEntries(changed.map((f) => [f, all[f]]));
  return { fields: changed, before: pick(before), after: pick(after) };
}

/** The patient's other prescriptions not yet in a final status: they could still ship. */
export async function otherOpenPrescriptions(db: Pick<PoolClient, 'query'>, patientId: string, prescriptionId: string): Promise<string[]> {
  const { rows } = await db.query<{ prescription_id: string }>(
    `SELECT prescription_id FROM prescriptions
      WHERE patient_id = $1 AND prescription_id <> $2 AND NOT (status = ANY($3))
      ORDER BY prescription_id`,
    [patientId, prescriptionId, finalFulfillmentStatuses],
  );
  return rows.map((r) => r.prescription_id);
}
