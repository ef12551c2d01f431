import type { Pool } from 'pg';
import type { BookingRequested } from '../contracts/booking';
import { currentCorrelationId } from '../trace-node';
import { activityLogger } from '../logger';

export interface NewBooking {
  bookingId: string;
  userId: number;
  roomId: number;
  guests: number;
  startDate: string;
  endDate: string;
  paymentId?: string;
}

export type CancellationResult = 'Cancelled' | 'NotOwner' | 'UnknownBooking';

/**
 * What the bookings table holds for a booking once it is recorded. `Cancelled` only ever comes from
 * a run other than the one that cancelled it: the booking event came again after that run left
 * Temporal (retention), and nothing is left to do.
 */
export type BookingRecorded = { status: 'Accepted' } | { status: 'Rejected'; rejectionReason: string } | { status: 'Cancelled' };

type Queryable = Pick<Pool, 'query'>;

/** What an earlier attempt recorded for the booking. */
async function recordedBooking(db: Queryable, bookingId: string): Promise<BookingRecorded> {
  const { rows } = await db.query<{ status: string; rejection_reason: string | null }>(
    'SELECT status, rejection_reason FROM bookings WHERE booking_id = $1',
    [bookingId],
  );
  const row = rows[0]!;
  if (row.status === 'Rejected') return { status: 'Rejected', rejectionReason: row.rejection_reason ?? 'rejected' };
  return row.status === 'Cancelled' ? { status: 'Cancelled' } : { status: 'Accepted' };
}

async function userIdOf(db: Queryable, identifier: string): Promise<number | null> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM users
      WHERE user_ref = $1 OR email = lower($1) OR username = $1 OR id::text = $1
      ORDER BY (user_ref = $1) DESC LIMIT 1`,
    [identifier],
  );
  return rows[0] ? Number(rows[0].id) : null;
}

async function roomIdOf(db: Queryable, internalId: string): Promise<number | null> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM rooms WHERE internal_id = $1', [internalId]);
  return rows[0] ? Number(rows[0].id) : null;
}

/** Inserts the accepted booking unless its row exists; true when this call wrote it. */
async function insertAccepted(db: Queryable, booking: NewBooking): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO bookings (booking_id, user_id, room_id, guests, start_date, end_date, payment_id, status, correlation_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'Accepted', $8)
     ON CONFLICT (booking_id) DO NOTHING`,
    [
      booking.bookingId,
      booking.userId,
      booking.roomId,
      booking.guests,
      booking.startDate,
      booking.endDate,
      booking.paymentId ?? null,
      currentCorrelationId(),
    ],
  );
  return rowCount === 1;
}

/** Inserts the rejected booking unless its row exists; true when this call wrote it. */
async function insertRejected(db: Queryable, bookingId: string, reason: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO bookings (booking_id, status, rejection_reason, correlation_id)
     VALUES ($1, 'Rejected', $2, $3)
     ON CONFLICT (booking_id) DO NOTHING`,
    [bookingId, reason, currentCorrelationId()],
  );
  return rowCount === 1;
}

/**
 * Thin, idempotent adapters over the bookings tables. Each is safe to retry: inserts are keyed by
 * the booking ID and the cancellation is a conditional update that reports the state it finds.
 */
export function createBookingActivities(db: Pool) {
  return {
    /**
     * Resolves the booking's user and room and writes its row, accepted or rejected (an unknown user
     * or room), in one step: a booking has one write, so it needs no transaction, and a retried call
     * finds the row and reports what it holds.
     */
    async recordBooking(booking: BookingRequested): Promise<BookingRecorded> {
      const [userId, roomId] = await Promise.all([userIdOf(db, booking.userId), roomIdOf(db, booking.roomId)]);
      let recorded: BookingRecorded;
      let inserted: boolean;
      if (userId === null || roomId === null) {
        const rejectionReason = userId === null ? `unknown user ${booking.userId}` : `unknown room ${booking.roomId}`;
        recorded = { status: 'Rejected', rejectionReason };
        inserted = await insertRejected(db, booking.bookingId, rejectionReason);
      } else {
        recorded = { status: 'Accepted' };
        inserted = await insertAccepted(db, { ...booking, userId, roomId });
      }
      // A retry finds the row an earlier attempt wrote, and reports what it holds.
      if (!inserted) recorded = await recordedBooking(db, booking.bookingId);
      activityLogger().info({ activity: 'recordBooking', bookingId: booking.bookingId, ...recorded }, `Booking ${recorded.status.toLowerCase()}`);
      return recorded;
    },

    // The four steps runs took before recordBooking; runs that began then still call them.

    /** The user's internal ID from their ID, email or username; null when no such user exists. */
    async resolveUser(identifier: string): Promise<number | null> {
      const id = await userIdOf(db, identifier);
      activityLogger().info({ activity: 'resolveUser', found: id !== null }, 'Resolved user');
      return id;
    },

    /** The room's ID from its internal ID (e.g. `room_ocean_001`); null when no such room exists. */
    async resolveRoom(internalId: string): Promise<number | null> {
      const id = await roomIdOf(db, internalId);
      activityLogger().info({ activity: 'resolveRoom', roomId: internalId, found: id !== null }, 'Resolved room');
      return id;
    },

    async createBooking(booking: NewBooking): Promise<void> {
      const inserted = await insertAccepted(db, booking);
      activityLogger().info(
        { activity: 'createBooking', bookingId: booking.bookingId, inserted },
        inserted ? 'Booking accepted' : 'Booking already recorded',
      );
    },

    /** Records a booking that cannot be made (unknown user or room) so the outcome is visible in the table. */
    async rejectBooking(bookingId: string, reason: string): Promise<void> {
      await insertRejected(db, bookingId, reason);
      activityLogger().warn({ activity: 'rejectBooking', bookingId, reason }, 'Booking rejected');
    },

    /**
     * Cancels the booking when `requestedBy` (ID, email or username) owns it. Cancelling an already
     * cancelled booking reports `Cancelled` again, so a retried activity converges.
     */
    async cancelBooking(bookingId: string, requestedBy: string): Promise<CancellationResult> {
      const { rows } = await db.query<{ status: string; owned: boolean }>(
        `WITH requester AS (
           SELECT id FROM users WHERE user_ref = $2 OR email = lower($2) OR username = $2 OR id::text = $2
         ), cancelled AS (
           UPDATE bookings b SET status = 'Cancelled', cancelled_at = now(), updated_at = now()
            WHERE b.booking_id = $1 AND b.status = 'Accepted' AND b.user_id IN (SELECT id FROM requester)
           RETURNING b.status
         )
         SELECT coalesce((SELECT status FROM cancelled), b.status) AS status,
                b.user_id IN (SELECT id FROM requester) AS owned
           FROM bookings b WHERE b.booking_id = $1`,
        [bookingId, requestedBy],
      );
      const row = rows[0];
      const result: CancellationResult = !row
        ? 'UnknownBooking'
        : row.owned && row.status === 'Cancelled'
          ? 'Cancelled'
          : 'NotOwner';
      activityLogger().info({ activity: 'cancelBooking', bookingId, result }, 'Cancellation handled');
      return result;
    },
  };
}

export type BookingActivities = ReturnType<typeof createBookingActivities>;
