import type { PrescriptionActivities } from '../../src/activities/prescription';
import type { PaymentActivities } from '../../src/activities/prescription-payment';
import {
  defaultFulfillmentTimings,
  nothingOwedPaymentId,
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

/**
 * The fulfillment steps in memory, answering as the partner stand-ins do for a patient who owes
 * nothing; the parcel is delivered at the first look.
 */
export const nothingOwedSteps = (trackingNumber = 'LP000000001001') =>
  ({
    validatePrescription: async () => ({ valid: true as const }),
    // A local activity since the ledger steps went local: the worker must have it.
    checkDemographics: async () => ({ changedFields: [], openPrescriptionIds: [] }),
    enrollPatient: async () => ({ eligible: true as const }),
    selectPharmacy: async () => ({ pharmacyId: 'pharm-northside', name: 'Northside Pharmacy' }),
    adjudicateClaim: async ({ prescriptionId }) => ({ claimId: prescriptionId, status: 'approved' as const, copayCents: 0, paidCents: 15_000 }),
    requestPayment: async ({ prescriptionId }) => ({ status: 'NothingOwed' as const, paymentId: nothingOwedPaymentId(prescriptionId) }),
    createShippingLabel: async ({ prescriptionId }) => ({
      shipmentId: prescriptionId,
      carrier: 'LocalPost',
      trackingNumber,
      labelUrl: `http://carrier.invalid/labels/${trackingNumber}`,
    }),
    trackShipment: async () => ({ trackingNumber, status: 'delivered' as const, deliveredAt: '2030-01-04T09:00:00.000Z' }),
    awaitDelivery: async () => '2030-01-04T09:00:00.000Z',
    recordDelivery: async () => undefined,
  }) satisfies Partial<PrescriptionActivities & PaymentActivities>;
