import {
  defaultFulfillmentTimings,
  type FulfillmentTimings,
  type PrescriptionIntake,
  type PrescriptionRequest,
} from '../../src/contracts/prescription';

/** A valid `prescription.intake.received` payload for tests; the patient is fictional. */
export const prescriptionIntake = (prescriptionId: string): PrescriptionIntake => ({
  type: 'PRESCRIPTION_INTAKE_RECEIVED',
  prescriptionId,
  patient: {
    patientId: `patient-${prescriptionId}`,
    name: 'Ada Lovelace',
    dateOfBirth: '1980-12-10',
    address: { line1: '1 Analytical Way', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
  },
  prescriber: { npi: '1234567893', name: 'Dr. Babbage' },
  medication: { ndc: '0002-8215-01', name: 'Insulin', quantity: 30 },
  insurance: { payerId: 'payer-standard', memberId: `M-${prescriptionId}` },
  writtenOn: '2030-01-01',
  receivedAt: '2030-01-02T09:00:00Z',
});

/** The workflow's input for that intake, as the bridge starts it. */
export const prescriptionRequest = (prescriptionId: string, timings: FulfillmentTimings = defaultFulfillmentTimings): PrescriptionRequest => ({
  ...prescriptionIntake(prescriptionId),
  trace: { correlationId: `corr-${prescriptionId}` },
  timings,
});
