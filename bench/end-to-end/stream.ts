/**
 * The benchmark's streams and what each implies, derived from one seed so both systems get the
 * same events. The reference data (users, rooms, admin-service trainers) is seeded into both
 * systems' databases before any stream.
 */
import { bookingCancellationsTopic, bookingEventsTopic } from '../../src/contracts/booking';
import { purchaseConfirmedTopic } from '../../src/contracts/purchase';
import { random } from '../chaos/stream';

export interface BenchEvent {
  topic: string;
  key: string;
  value: object;
}

export type BookingOutcome = 'Accepted' | 'Rejected' | 'Cancelled';

export interface PurchaseExpectation {
  studentId: string;
  courseId: string;
  /** False for a course no trainer teaches: the purchase is made, the allocation refused. */
  taught: boolean;
}

export interface Expectations {
  bookings: Map<string, BookingOutcome>;
  purchases: Map<string, PurchaseExpectation>;
}

export interface Stream {
  events: BenchEvent[];
  expect: Expectations;
}

export const benchUsers = Array.from({ length: 200 }, (_, i) => ({
  userRef: `bench_user_${i}`,
  email: `bench.user${i}@example.com`,
  username: `bench_u${i}`,
}));
export const benchRooms = Array.from({ length: 50 }, (_, i) => `bench_room_${i}`);
const taughtCourses = ['course_typescript', 'course_temporal', 'course_kafka'];
const untaughtCourse = 'course_cobol';
/** Capacity for every taught purchase of a run, whatever its size. */
export const benchTrainers = [
  { trainerId: 'trainer_bench_1', name: 'Bench One', courses: taughtCourses, capacity: 1_000_000 },
  { trainerId: 'trainer_bench_2', name: 'Bench Two', courses: taughtCourses, capacity: 1_000_000 },
];

const emptyExpectations = (): Expectations => ({ bookings: new Map(), purchases: new Map() });

/** `seed` and `prefix` make a stream; the same pair makes the same stream. */
function generator(seed: number) {
  const rnd = random(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const identity = (u: (typeof benchUsers)[number]) => pick([u.userRef, u.email, u.username]);
  // Stays end years ahead: the project's booking runs stay open, waiting for cancellations.
  const booking = (bookingId: string, userId: string, roomId: string) => {
    const start = Date.parse('2031-01-01T15:00:00Z') + int(0, 700) * 86_400_000;
    return {
      bookingId,
      userId,
      roomId,
      guests: int(1, 6),
      startDate: new Date(start).toISOString(),
      endDate: new Date(start + int(1, 14) * 86_400_000).toISOString(),
      paymentId: `pay_${bookingId}`,
    };
  };
  return { rnd, int, pick, identity, booking };
}

/**
 * `count` bookings, `duplicateShare` of them delivered a second time a little later (as a
 * redelivery after a rebalance would); `rejectShare` name an unknown user (two thirds) or an
 * unknown room (one third).
 */
export function bookingBacklog(
  seed: number,
  prefix: string,
  count: number,
  { duplicateShare, rejectShare }: { duplicateShare: number; rejectShare: number },
): Stream {
  const g = generator(seed);
  const expect = emptyExpectations();
  const slots: Array<{ at: number; event: BenchEvent }> = [];
  for (let i = 0; i < count; i++) {
    const bookingId = `${prefix}_b${i}`;
    const roll = g.rnd();
    const userId = roll < (rejectShare * 2) / 3 ? `ghost_user_${i}` : g.identity(g.pick(benchUsers));
    const roomId = roll >= (rejectShare * 2) / 3 && roll < rejectShare ? `ghost_room_${i}` : g.pick(benchRooms);
    expect.bookings.set(bookingId, roll < rejectShare ? 'Rejected' : 'Accepted');
    const event: BenchEvent = { topic: bookingEventsTopic, key: bookingId, value: g.booking(bookingId, userId, roomId) };
    slots.push({ at: i, event });
    if (g.rnd() < duplicateShare) slots.push({ at: i + 1 + g.int(0, 100), event });
  }
  slots.sort((a, b) => a.at - b.at);
  return { events: slots.map((s) => s.event), expect };
}

/**
 * Light load: bookings, and every tenth event a cancellation by the owner of the booking sent
 * five events before it (both systems must order them: they are on different topics).
 */
export function bookingTrickle(seed: number, prefix: string, count: number): Stream {
  const g = generator(seed);
  const expect = emptyExpectations();
  const events: BenchEvent[] = [];
  const sent: Array<{ bookingId: string; owner: string }> = [];
  for (let i = 0; events.length < count; i++) {
    const earlier = sent[sent.length - 5];
    if (i % 10 === 9 && earlier) {
      const { bookingId, owner } = earlier;
      expect.bookings.set(bookingId, 'Cancelled');
      const cancellation = { bookingId, userId: owner, timestamp: new Date(Date.parse('2030-06-01T00:00:00Z') + i * 1000).toISOString() };
      events.push({ topic: bookingCancellationsTopic, key: bookingId, value: cancellation });
      continue;
    }
    const bookingId = `${prefix}_b${i}`;
    const owner = g.identity(g.pick(benchUsers));
    expect.bookings.set(bookingId, 'Accepted');
    sent.push({ bookingId, owner });
    events.push({ topic: bookingEventsTopic, key: bookingId, value: g.booking(bookingId, owner, g.pick(benchRooms)) });
  }
  return { events, expect };
}

/**
 * `count` confirmed payments, one per student, `duplicateShare` delivered twice; about 3 % are for
 * a course no trainer teaches (the allocation is refused: the project's run waits for a person,
 * the seed dead-letters the event).
 */
export function purchaseBacklog(seed: number, prefix: string, count: number, duplicateShare: number): Stream {
  const g = generator(seed);
  const expect = emptyExpectations();
  const slots: Array<{ at: number; event: BenchEvent }> = [];
  for (let i = 0; i < count; i++) {
    const paymentId = `${prefix}_pay${i}`;
    const studentId = `${prefix}_s${i}`;
    const taught = g.rnd() >= 0.03;
    const courseId = taught ? g.pick(taughtCourses) : untaughtCourse;
    expect.purchases.set(paymentId, { studentId, courseId, taught });
    const confirmation = {
      type: 'PURCHASE_CONFIRMED',
      paymentId,
      studentId,
      courseId,
      amount: g.int(10, 500),
      currency: 'EUR',
      confirmedAt: new Date(Date.parse('2030-06-01T00:00:00Z') + i * 1000).toISOString(),
    };
    const event: BenchEvent = { topic: purchaseConfirmedTopic, key: studentId, value: confirmation };
    slots.push({ at: i, event });
    if (g.rnd() < duplicateShare) slots.push({ at: i + 1 + g.int(0, 50), event });
  }
  slots.sort((a, b) => a.at - b.at);
  return { events: slots.map((s) => s.event), expect };
}
