import { describe, expect, it } from 'vitest';
import { bookingRequestedSchema, cancellationRequestedSchema } from '../../src/contracts/booking-events';
import { paymentCompletedSchema, prescriptionIntakeSchema } from '../../src/contracts/prescription-events';
import { purchaseConfirmedSchema } from '../../src/contracts/purchase-events';
import { prescriptionIntake } from '../support/prescription-intake';

const booking = {
  bookingId: 'booking_1',
  userId: 'user_123',
  roomId: 'room_ocean_001',
  guests: 2,
  startDate: '2031-01-15T15:00:00Z',
  endDate: '2031-01-18T11:00:00Z',
};

describe('event schemas', () => {
  it('refuse an identifier with a control character, such as an escaped NUL, with the field and the reason', () => {
    const parsed = bookingRequestedSchema.safeParse(JSON.parse(JSON.stringify({ ...booking, userId: 'user\u0000123' })));
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues).toMatchObject([{ path: ['userId'], message: 'must not contain control characters' }]);
    for (const c of ['\u0001', '\n', '\u001f', '\u007f']) {
      expect(cancellationRequestedSchema.safeParse({ bookingId: `b${c}1`, userId: 'u', timestamp: '2031-01-01T00:00:00Z' }).success).toBe(false);
    }
    expect(
      purchaseConfirmedSchema.safeParse({ paymentId: 'pay\u00001', studentId: 's', courseId: 'c', confirmedAt: '2031-01-01T00:00:00Z' }).success,
    ).toBe(false);
  });

  it('accept identifiers in any script, and trim surrounding spaces', () => {
    const parsed = bookingRequestedSchema.parse({ ...booking, userId: '  josé.müller@example.com ', roomId: 'комната_1' });
    expect(parsed).toMatchObject({ userId: 'josé.müller@example.com', roomId: 'комната_1' });
  });

  // Each was a value that passed its schema and failed its step at every attempt in PostgreSQL.
  it('refuse values their PostgreSQL columns cannot hold, and accept the edges they can', () => {
    const intake = prescriptionIntake('rx-1');
    const problem = (changed: object) => prescriptionIntakeSchema.safeParse({ ...intake, ...changed }).error?.issues.map((i) => i.path.join('.'));
    expect(problem({})).toBeUndefined();
    expect(problem({ medication: { ...intake.medication, quantity: 3_000_000_000 } })).toEqual(['medication.quantity']);
    expect(problem({ medication: { ...intake.medication, quantity: 2_147_483_647 } })).toBeUndefined();
    expect(problem({ patient: { ...intake.patient, dateOfBirth: '0000-01-01' } })).toEqual(['patient.dateOfBirth']);
    expect(problem({ patient: { ...intake.patient, dateOfBirth: '0001-01-01' } })).toBeUndefined();
    expect(problem({ patient: { ...intake.patient, name: 'Ada\u0000Lovelace' } })).toEqual(['patient.name']);
    expect(problem({ patient: { ...intake.patient, address: { ...intake.patient.address, city: 'Spring\u0000field' } } })).toEqual([
      'patient.address.city',
    ]);
    expect(problem({ receivedAt: '0000-06-01T00:00:00Z' })).toEqual(['receivedAt']);
    const payment = { prescriptionId: 'rx-1', paymentId: 'pay-1', amountCents: 2 ** 31, paidAt: '2031-01-01T00:00:00Z' };
    expect(paymentCompletedSchema.safeParse(payment).success).toBe(false);
    expect(bookingRequestedSchema.safeParse({ ...booking, startDate: '0000-01-15T15:00:00Z' }).success).toBe(false);
  });
});
