import { setTimeout as sleep } from 'node:timers/promises';
import { bookingCancellationsTopic, bookingEventsTopic } from '../contracts/booking';
import { parkedEventOutcome, type DemoContext, type PipelineDemo, type Stories } from './outcomes';

/**
 * The booking part of the demo stream: what the legacy booking service emits on a busy minute,
 * including the awkward parts (duplicates, a cancellation before its booking, a stranger's
 * cancellation, an unknown room, a malformed event).
 */
async function publish({ db, producer, run }: DemoContext): Promise<Stories> {
  await db.query(
    `INSERT INTO users (user_ref, email, username) VALUES
       ('user_123', 'ada@example.com', 'ada'), ('user_456', 'grace@example.com', 'grace')
     ON CONFLICT DO NOTHING`,
  );
  await db.query(
    `INSERT INTO rooms (internal_id, name) VALUES ('room_ocean_001', 'Ocean view'), ('room_garden_002', 'Garden')
     ON CONFLICT DO NOTHING`,
  );

  const booking = (n: number, userId: string, roomId = 'room_ocean_001') => ({
    userId,
    roomId,
    guests: 2,
    startDate: '2031-01-15T15:00:00Z',
    endDate: '2031-01-18T11:00:00Z',
    bookingId: `booking_${run}_${n}`,
    paymentId: `pay_${run}_${n}`,
  });
  const cancel = (n: number, userId: string) => ({
    bookingId: `booking_${run}_${n}`,
    userId,
    timestamp: new Date().toISOString(),
  });
  const send = (topic: string, n: number, value: object | string) =>
    producer.send({
      topic,
      messages: [
        {
          key: `booking_${run}_${n}`,
          value: typeof value === 'string' ? value : JSON.stringify(value),
          headers: { 'correlation-id': `demo-${run}-${n}`, baggage: `demo.run=${run},tenant=acme` },
        },
      ],
    });

  const stories: Stories = {};
  const story = (n: number, text: string) => (stories[`booking_${run}_${n}`] = text);
  story(1, 'booked (delivered 3 times)');
  for (let i = 0; i < 3; i++) await send(bookingEventsTopic, 1, booking(1, 'user_123'));
  story(2, 'booked by email, then cancelled by its owner');
  await send(bookingEventsTopic, 2, booking(2, 'grace@example.com', 'room_garden_002'));
  await send(bookingCancellationsTopic, 2, cancel(2, 'grace'));
  story(3, 'cancellation arrived before the booking');
  await send(bookingCancellationsTopic, 3, cancel(3, 'user_123'));
  await send(bookingEventsTopic, 3, booking(3, 'user_123'));
  story(4, 'a stranger tried to cancel it');
  await send(bookingEventsTopic, 4, booking(4, 'user_123'));
  await send(bookingCancellationsTopic, 4, cancel(4, 'user_456'));
  story(5, 'unknown room');
  await send(bookingEventsTopic, 5, booking(5, 'user_123', 'room_missing_999'));
  story(6, 'malformed event (parked for an operator)');
  await send(bookingEventsTopic, 6, '{"bookingId": "oops"');
  return stories;
}

/** Waits for the bookings' rows (the cancellations included) and prints how each ended. */
async function printOutcomes({ db, run }: DemoContext, stories: Stories): Promise<void> {
  const ids = Object.keys(stories);
  let rows: Array<{ booking_id: string; status: string; rejection_reason: string | null }> = [];
  for (let attempt = 0; attempt < 60; attempt++) {
    rows = (
      await db.query('SELECT booking_id, status, rejection_reason FROM bookings WHERE booking_id = ANY($1)', [ids])
    ).rows;
    if (rows.length >= 5 && rows.some((r) => r.booking_id.endsWith('_2') && r.status === 'Cancelled') &&
        rows.some((r) => r.booking_id.endsWith('_3') && r.status === 'Cancelled')) break;
    await sleep(500);
  }
  const parked = await parkedEventOutcome(db, `demo-${run}-6`);

  for (const [id, story] of Object.entries(stories)) {
    const row = rows.find((r) => r.booking_id === id);
    let outcome = 'pending';
    if (row) outcome = row.rejection_reason ? `${row.status} (${row.rejection_reason})` : row.status;
    else if (id.endsWith('_6') && parked) outcome = parked;
    console.log(`  ${id.padEnd(24)} ${story.padEnd(46)} -> ${outcome}`);
  }
}

export const bookingDemo: PipelineDemo = {
  heading: 'Bookings: each ends booked, cancelled, rejected, or parked for an operator:',
  publish,
  printOutcomes,
};
