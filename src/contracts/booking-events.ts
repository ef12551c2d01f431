import { z } from 'zod';
import { identifier, timestamp } from './fields';

/** The booking events on `booking-events` and `booking-cancellations` (seed 004), as the bridge validates them. */
export const bookingRequestedSchema = z.object({
  bookingId: identifier,
  /** The user's ID, email or username. */
  userId: identifier,
  /** The room's internal ID, e.g. `room_ocean_001`. */
  roomId: identifier,
  guests: z.number().int().positive().max(50),
  startDate: timestamp,
  endDate: timestamp,
  paymentId: identifier.optional(),
}).refine((e) => Date.parse(e.endDate) > Date.parse(e.startDate), {
  message: 'endDate must be after startDate',
  path: ['endDate'],
});
export type BookingRequested = z.infer<typeof bookingRequestedSchema>;

export const cancellationRequestedSchema = z.object({
  bookingId: identifier,
  /** Who asks to cancel: ID, email or username; only the booking's owner may. */
  userId: identifier,
  timestamp: timestamp,
});
export type CancellationRequested = z.infer<typeof cancellationRequestedSchema>;
