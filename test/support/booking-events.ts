/** A valid `booking-events` payload for integration tests; the stay is far enough ahead to stay open. */
export const bookingRequested = (bookingId: string, userId: string, roomId: string) => ({
  bookingId,
  userId,
  roomId,
  guests: 2,
  startDate: '2031-01-15T15:00:00Z',
  endDate: '2031-01-18T11:00:00Z',
});
