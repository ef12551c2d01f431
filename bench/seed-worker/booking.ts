/**
 * The booking worker of seed 004, on the framework of seed 001: booking events become rows,
 * cancellations update them when the owner asks. The same tables, constraints and outcomes as
 * src/activities/booking.ts (a Rejected row for an unknown user or room).
 */
import type { Pool, PoolClient } from 'pg';
import { bookingCancellationsTopic, bookingEventsTopic } from '../../src/contracts/booking';
import {
  bookingRequestedSchema,
  cancellationRequestedSchema,
  type BookingRequested,
  type CancellationRequested,
} from '../../src/contracts/booking-events';
import { logger } from '../../src/logger';
import { firstDelivery, inTransaction, type SeedWorker } from './framework';

const log = logger.child({ worker: 'booking' });
export const bookingGroup = 'booking-workers';

export function bookingWorker(db: Pool): SeedWorker {
  return {
    group: bookingGroup,
    topics: [bookingEventsTopic, bookingCancellationsTopic],
    maxAttempts: 5,
    critical: true,
    handle: (topic, event) =>
      topic === bookingEventsTopic
        ? createBooking(db, bookingRequestedSchema.parse(event))
        : cancelBooking(db, cancellationRequestedSchema.parse(event)),
  };
}

async function createBooking(db: Pool, booking: BookingRequested): Promise<void> {
  await inTransaction(db, async (tx) => {
    if (!(await firstDelivery(tx, `BOOKING_REQUESTED:${booking.bookingId}`, 'BOOKING_REQUESTED'))) return;
    const userId = await resolveUser(tx, booking.userId);
    const roomId = (await tx.query<{ id: string }>('SELECT id FROM rooms WHERE internal_id = $1', [booking.roomId])).rows[0]?.id;
    if (userId === undefined || roomId === undefined) {
      const reason = userId === undefined ? `unknown user ${booking.userId}` : `unknown room ${booking.roomId}`;
      await tx.query(
        `INSERT INTO bookings (booking_id, status, rejection_reason) VALUES ($1, 'Rejected', $2) ON CONFLICT (booking_id) DO NOTHING`,
        [booking.bookingId, reason],
      );
      log.warn({ bookingId: booking.bookingId, reason }, 'Booking rejected');
      return;
    }
    await tx.query(
      `INSERT INTO bookings (booking_id, user_id, room_id, guests, start_date, end_date, payment_id, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'Accepted') ON CONFLICT (booking_id) DO NOTHING`,
      [booking.bookingId, userId, roomId, booking.guests, booking.startDate, booking.endDate, booking.paymentId ?? null],
    );
    log.info({ bookingId: booking.bookingId }, 'Booking created successfully');
  });
}

async function cancelBooking(db: Pool, cancellation: CancellationRequested): Promise<void> {
  const { bookingId, userId, timestamp } = cancellation;
  await inTransaction(db, async (tx) => {
    if (!(await firstDelivery(tx, `CANCELLATION_REQUESTED:${bookingId}:${userId}:${timestamp}`, 'CANCELLATION_REQUESTED'))) return;
    const requester = await resolveUser(tx, userId);
    const booking = (
      await tx.query<{ user_id: string | null; status: string }>('SELECT user_id, status FROM bookings WHERE booking_id = $1 FOR UPDATE', [bookingId])
    ).rows[0];
    // The booking event may not have been handled yet (another topic): the retries wait for it.
    if (!booking) throw new Error(`booking ${bookingId} not found`);
    if (booking.status !== 'Accepted') return; // cancelled already, or rejected
    if (requester === undefined || booking.user_id !== requester) {
      log.warn({ bookingId }, 'Cancellation refused: requester does not own the booking');
      return;
    }
    await tx.query(`UPDATE bookings SET status = 'Cancelled', cancelled_at = now(), updated_at = now() WHERE booking_id = $1`, [bookingId]);
    log.info({ bookingId }, 'Booking cancelled');
  });
}

/** By ID, email or username, as the seed's getUserIDByIdentifier did. */
async function resolveUser(tx: PoolClient, identifier: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id FROM users WHERE user_ref = $1 OR email = lower($1) OR username = $1 OR id::text = $1
      ORDER BY (user_ref = $1) DESC LIMIT 1`,
    [identifier],
  );
  return rows[0]?.id;
}
