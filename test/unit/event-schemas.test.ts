import { describe, expect, it } from 'vitest';
import { bookingRequestedSchema, cancellationRequestedSchema } from '../../src/contracts/booking-events';
import { purchaseConfirmedSchema } from '../../src/contracts/purchase-events';

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
});
