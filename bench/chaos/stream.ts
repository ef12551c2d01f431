/**
 * The chaos run's event stream and what it implies, both derived from one seed so that a failing
 * run can be repeated exactly (`CHAOS_SEED=<seed> npm run chaos`). Only the run tag in the IDs
 * differs between two runs of one seed, so a reused state directory never sees an old ID.
 *
 * The stream is a list of stories (one booking, one purchase, one prescription, one poison record...), each a few
 * Kafka records in their own order; the stories are then interleaved, and redeliveries land a
 * while after the original, so the bridge sees duplicates and reordering across entities.
 */
import type { IHeaders } from 'kafkajs';
import { bookingCancellationsTopic, bookingEventsTopic } from '../../src/contracts/booking';
import type { PaymentPurpose, PaymentRequestBody } from '../../src/contracts/payment';
import { nothingOwedPaymentId, prescriptionTopics } from '../../src/contracts/prescription';
import { purchaseConfirmedTopic } from '../../src/contracts/purchase';
import { paymentIdOf } from '../../src/payment-api/server';
import { testCards } from '../../stand-ins/payment-provider/provider';

export interface ChaosRecord {
  topic: string;
  key: string | Buffer | null;
  value: string | Buffer;
  headers: IHeaders;
}

export type BookingOutcome = 'Accepted' | 'Cancelled' | 'Rejected';

/**
 * Records that can never become a workflow; the bridge must park each with its reason.
 * `key-mismatch`: the Kafka key names another booking than the payload does.
 */
export const poisonKinds = [
  'unparseable',
  'schema',
  'nul-value',
  'nul-key',
  'latin1',
  'escaped-nul',
  'key-mismatch',
] as const;
export type PoisonKind = (typeof poisonKinds)[number];

/**
 * The reason the bridge parks each kind with (src/bridges/records.ts): a record parked for another
 * reason was refused by luck, not for what is wrong with it. The NUL-prefixed value is valid
 * UTF-8 (the bytes are below 0x80) but not JSON; the escaped NUL lands in an ID, which the
 * contracts' `identifier` refuses; a NUL key reads as a key naming another entity.
 */
export const poisonReasons: Record<PoisonKind, RegExp> = {
  unparseable: /^unparseable JSON at byte \d+$/,
  schema: /^schema violation: /,
  'nul-value': /^unparseable JSON at byte \d+$/,
  'nul-key': /^Kafka key "[^"]*\\u0000" contradicts the event's key /,
  latin1: /^value is not valid UTF-8 at byte \d+/,
  'escaped-nul': /^schema violation: .*must not contain control characters/,
  'key-mismatch': /^Kafka key "[^"\\]*" contradicts the event's key /,
};

export interface ExpectedPurchase {
  studentId: string;
  courseId: string;
  /** Every payment for this student and course; exactly one of them must hold the purchase. */
  payments: string[];
  /** False for a course no trainer teaches: the run waits for a person (an expected refusal). */
  trainer: boolean;
}

/** How a prescription's run must end (the stand-in insurer decides by payer and member ID). */
export type PrescriptionOutcome = 'Delivered' | 'ClaimRejected' | 'Invalid' | 'Ineligible';

export interface ExpectedPrescription {
  story: string;
  outcome: PrescriptionOutcome;
  /** Every step that must have its audit row once the run ended; no other step may have one. */
  steps: string[];
  /**
   * A copay's payments through the payment API that the card processor charges (a declined attempt
   * is not one): its row and audit log must record one of them, of `copayCents`.
   */
  copays?: { paymentIds: string[]; copayCents: number };
  /** The run's own payment of 0 when nothing was owed, which its row and audit log must record. */
  paid?: { paymentId: string; amountCents: number };
}

/**
 * The payments the run sends through the payment API (payments.ts), besides the Kafka stream. Each
 * kind can be left out (CHAOS_PAYMENTS); copays for the prescriptions that owe one are always paid,
 * since their stories end Delivered only when paid.
 * - `course`: a course bought through the API (its `purchase-confirmed` then comes from the payment run);
 * - `declined`: a declined card, for a course of its own or as a copay's first attempt;
 * - `second-course`, `second-copay`: the same course or prescription paid a second time, under
 *   another key and card: one of the two must be delivered and the other refunded;
 * - `same-key`: some payments requested two or three times under their key, at once or one after another.
 */
export const paymentKinds = ['course', 'declined', 'second-course', 'second-copay', 'same-key'] as const;
export type PaymentKind = (typeof paymentKinds)[number];

/**
 * What must become of a payment's money: `delivered` (charged, and what it paid for holds it),
 * `declined` (nothing charged), or `one-of` its `group` (of the group's charged payments exactly one
 * is delivered and every other is refunded in full).
 */
export type MoneyOutcome = 'delivered' | 'declined' | 'one-of';

export interface ExpectedPayment {
  paymentId: string;
  /** The Idempotency-Key every request for this payment carries, retries and duplicates included. */
  key: string;
  /**
   * Its story, for the report: `course`, `declined course`, `course, first of two`, `second course`,
   * and the same for `copay`.
   */
  story: string;
  /** The request's amount, currency and card (its purpose below; a copay's link ID is only known once its link exists). */
  amountCents: number;
  currency: string;
  card: string;
  purpose: { kind: 'course'; studentId: string; courseId: string } | { kind: 'copay'; prescriptionId: string };
  outcome: MoneyOutcome;
  /** `studentId/courseId` or the prescription ID: the payments that pay for the same thing. */
  group: string;
  /** How many requests go out under the key (same-key duplicates), all at once or one after another. */
  copies: number;
  together: boolean;
  /**
   * When it is sent: a course payment at `at` (0 to 1) of the payment span; a copay once its
   * prescription awaits payment (after the `after` payment of the same prescription, when given),
   * a second copay once the prescription has been paid, `delaySeconds` later.
   */
  send: { at: number } | { when: 'awaiting-payment'; after?: string } | { when: 'paid'; delaySeconds: number };
}

/** The request body of a payment, once a copay's link is known. */
export function paymentRequest(p: ExpectedPayment, linkId?: string): PaymentRequestBody {
  const purpose: PaymentPurpose =
    p.purpose.kind === 'course' ? p.purpose : { kind: 'copay', prescriptionId: p.purpose.prescriptionId, linkId: linkId ?? '' };
  return { amountCents: p.amountCents, currency: p.currency, card: p.card, purpose };
}

export interface PoisonRecord {
  kind: PoisonKind;
  topic: string;
}

export interface Expectations {
  /** booking_id → its one row's status. */
  bookings: Map<string, BookingOutcome>;
  /** `studentId/courseId` → the purchase it must end with. */
  purchases: Map<string, ExpectedPurchase>;
  /** prescription_id → how its run must end. */
  prescriptions: Map<string, ExpectedPrescription>;
  /** Correlation ID (the record's marker) → the poison record it was sent on. */
  poison: Map<string, PoisonRecord>;
  /** Booking, payment and prescription IDs carried only by poison records: a row for one means poison got through. */
  poisonIds: Set<string>;
  /** Workflow IDs that legitimately end waiting for a person (no trainer for the course). */
  refusals: Set<string>;
  /** payment ID → a payment the run sends through the payment API. */
  payments: Map<string, ExpectedPayment>;
}

export interface ChaosStream {
  records: ChaosRecord[];
  expect: Expectations;
  /** How many stories of each kind the stream holds. */
  stories: Record<string, number>;
}

/** Seeded into the run's database before the stream starts (users, rooms, admin-service trainers). */
export const chaosUsers = Array.from({ length: 20 }, (_, i) => ({
  userRef: `chaos_user_${i}`,
  email: `chaos.user${i}@example.com`,
  username: `chaos_u${i}`,
}));
export const chaosRooms = Array.from({ length: 8 }, (_, i) => `chaos_room_${i}`);
export const taughtCourses = ['course_typescript', 'course_temporal', 'course_kafka'];
/** No trainer teaches it: allocation is refused and the run waits for a person. */
export const untaughtCourse = 'course_cobol';
/** Enough capacity that every taught purchase of the run gets a trainer. */
export const chaosTrainers = [
  { trainerId: 'trainer_chaos_1', name: 'Chaos One', courses: taughtCourses, capacity: 100_000 },
  { trainerId: 'trainer_chaos_2', name: 'Chaos Two', courses: taughtCourses, capacity: 100_000 },
];

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A record at a position in the interleaved stream. */
interface Placed {
  at: number;
  seq: number;
  record: ChaosRecord;
}

type Story = (n: number) => void;

/**
 * `poison` narrows the poison kinds sent (all by default), e.g. to see past one that stalls a
 * partition; `payments` the payment kinds (all by default), e.g. to leave out second payments;
 * `coursePayments` is how many courses are bought once through the payment API, spread evenly
 * over the payment span (the `course` kind).
 */
export function buildStream(
  seed: number,
  tag: string,
  events: number,
  poison: readonly PoisonKind[] = poisonKinds,
  payments: readonly PaymentKind[] = paymentKinds,
  coursePayments = 20,
): ChaosStream {
  const rnd = random(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;

  const expect: Expectations = {
    bookings: new Map(),
    purchases: new Map(),
    prescriptions: new Map(),
    poison: new Map(),
    poisonIds: new Set(),
    refusals: new Set(),
    payments: new Map(),
  };
  const stories: Record<string, number> = {};
  const placed: Placed[] = [];
  let seq = 0;
  let slot = 0;
  const epoch = Date.parse('2030-06-01T00:00:00Z');

  /** Each record gets a correlation ID that is also its marker in parked_events and the logs. */
  const marker = () => `chaos-${tag}-${seq}`;
  const place = (at: number, topic: string, key: ChaosRecord['key'], value: ChaosRecord['value'], headers: IHeaders = {}) => {
    const correlationId = marker();
    placed.push({ at, seq: seq++, record: { topic, key, value, headers: { 'correlation-id': correlationId, ...headers } } });
    return correlationId;
  };
  /** Positions after `at`, in order: a story's own events keep their order, other stories' come between. */
  const later = (at: number, spread: number) => at + 1 + int(0, spread);

  const userIdentity = (u: (typeof chaosUsers)[number]) =>
    pick([u.userRef, u.userRef, u.email, u.email.toUpperCase(), u.username]);
  const bookingEvent = (bookingId: string, userId: string, roomId: string) => {
    const start = epoch + int(0, 365) * 86_400_000;
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
  const cancellation = (bookingId: string, userId: string) => ({
    bookingId,
    userId,
    timestamp: new Date(epoch - int(1, 1_000_000) * 1000).toISOString(),
  });
  const confirmation = (paymentId: string, studentId: string, courseId: string) => ({
    type: 'PURCHASE_CONFIRMED',
    paymentId,
    studentId,
    courseId,
    amount: int(10, 500),
    currency: 'EUR',
    confirmedAt: new Date(epoch - int(1, 1_000_000) * 1000).toISOString(),
  });
  const json = (v: object) => JSON.stringify(v);

  /** A booking delivered once or more, the redeliveries a while later. */
  const sendBooking = (at: number, event: ReturnType<typeof bookingEvent>, deliveries = int(1, 3), headers: IHeaders = {}) => {
    place(at, bookingEventsTopic, event.bookingId, json(event), headers);
    for (let i = 1; i < deliveries; i++) place(later(at, 300), bookingEventsTopic, event.bookingId, json(event));
  };
  const bookingStory = (status: BookingOutcome, n: number) => {
    const bookingId = `${tag}_b${n}`;
    expect.bookings.set(bookingId, status);
    return { bookingId, owner: pick(chaosUsers), room: pick(chaosRooms), at: slot };
  };

  const bookingStories: Record<string, [number, Story]> = {
    accepted: [28, (n) => {
      const b = bookingStory('Accepted', n);
      sendBooking(b.at, bookingEvent(b.bookingId, userIdentity(b.owner), b.room));
    }],
    cancelledByOwner: [10, (n) => {
      const b = bookingStory('Cancelled', n);
      sendBooking(b.at, bookingEvent(b.bookingId, userIdentity(b.owner), b.room));
      place(later(b.at, 60), bookingCancellationsTopic, b.bookingId, json(cancellation(b.bookingId, userIdentity(b.owner))));
    }],
    cancellationFirst: [8, (n) => {
      const b = bookingStory('Cancelled', n);
      place(b.at, bookingCancellationsTopic, b.bookingId, json(cancellation(b.bookingId, userIdentity(b.owner))));
      sendBooking(later(b.at, 60), bookingEvent(b.bookingId, userIdentity(b.owner), b.room));
    }],
    foreignCancellation: [6, (n) => {
      const b = bookingStory('Accepted', n);
      const stranger = pick(chaosUsers.filter((u) => u !== b.owner));
      sendBooking(b.at, bookingEvent(b.bookingId, userIdentity(b.owner), b.room));
      place(later(b.at, 60), bookingCancellationsTopic, b.bookingId, json(cancellation(b.bookingId, userIdentity(stranger))));
    }],
    doubleCancellation: [5, (n) => {
      const b = bookingStory('Cancelled', n);
      sendBooking(b.at, bookingEvent(b.bookingId, userIdentity(b.owner), b.room));
      const first = later(b.at, 60);
      place(first, bookingCancellationsTopic, b.bookingId, json(cancellation(b.bookingId, userIdentity(b.owner))));
      place(later(first, 200), bookingCancellationsTopic, b.bookingId, json(cancellation(b.bookingId, userIdentity(b.owner))));
    }],
    unknownUser: [3, (n) => {
      const b = bookingStory('Rejected', n);
      sendBooking(b.at, bookingEvent(b.bookingId, `ghost_user_${n}`, b.room));
    }],
    unknownRoom: [3, (n) => {
      const b = bookingStory('Rejected', n);
      sendBooking(b.at, bookingEvent(b.bookingId, userIdentity(b.owner), `ghost_room_${n}`));
    }],
    // A 3,000-character correlation ID is unusual but valid: it must become a booking, not be parked.
    hugeCorrelationId: [1, (n) => {
      const b = bookingStory('Accepted', n);
      const event = bookingEvent(b.bookingId, userIdentity(b.owner), b.room);
      const id = `${marker()}-`;
      sendBooking(b.at, event, 1, { 'correlation-id': id + 'x'.repeat(3000 - id.length) });
    }],
    // NUL bytes in headers, even the correlation ID, do not make a valid event poison: it is booked
    // (under the correlation ID's hash, as it is not a safe token), and the record is not parked.
    nulHeaders: [0.5, (n) => {
      const b = bookingStory('Accepted', n);
      const event = bookingEvent(b.bookingId, userIdentity(b.owner), b.room);
      sendBooking(b.at, event, 1, { 'correlation-id': `${marker()}\u0000`, 'x-origin': Buffer.from('legacy\u0000booking-service') });
    }],
    // Not produced: a booking arriving after its cancellation-first run ended. That run waits 7
    // days for its booking, far longer than a chaos run lasts.
  };

  const purchaseStory = (n: number, courseId: string) => {
    const studentId = `${tag}_s${n}`;
    const p: ExpectedPurchase = { studentId, courseId, payments: [], trainer: courseId !== untaughtCourse };
    expect.purchases.set(`${studentId}/${courseId}`, p);
    return p;
  };
  const sendConfirmation = (at: number, p: ExpectedPurchase, paymentId: string, deliveries: number) => {
    p.payments.push(paymentId);
    const value = json(confirmation(paymentId, p.studentId, p.courseId));
    place(at, purchaseConfirmedTopic, p.studentId, value);
    for (let i = 1; i < deliveries; i++) place(later(at, 300), purchaseConfirmedTopic, p.studentId, value);
  };
  // Payments through the payment API. Each charged payment has a card of its own, and each declined
  // one (all on the one declined test card) is for a course of its own or is the only declined
  // attempt on its prescription, so no card and description pair is charged twice unless a payment
  // was: a pair charged twice is a double charge (check.ts). The tag's digits make another run's
  // cards (a reused state directory) all but surely differ.
  const tagDigits = String([...tag].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7) % 1_000_000).padStart(6, '0');
  let cards = 0;
  const newCard = () => `5${tagDigits}${String(cards++).padStart(9, '0')}`;
  const addPayment = (p: Omit<ExpectedPayment, 'paymentId' | 'copies' | 'together'>): string => {
    const paymentId = paymentIdOf(p.key);
    const duplicated = payments.includes('same-key') && rnd() < 0.3;
    expect.payments.set(paymentId, { ...p, paymentId, copies: duplicated ? int(2, 3) : 1, together: rnd() < 0.5 });
    return paymentId;
  };
  /** A course payment sent at this story's place in the stream (made a share of the payment span at the end). */
  const coursePayment = (i: number, story: string, p: ExpectedPurchase | { studentId: string; courseId: string }, card: string, outcome: MoneyOutcome, at = slot) =>
    addPayment({ key: `${p.studentId}-course${i}`, story, amountCents: int(10, 500) * 100, currency: 'EUR', card,
      purpose: { kind: 'course', studentId: p.studentId, courseId: p.courseId }, outcome, group: `${p.studentId}/${p.courseId}`, send: { at } });
  const paymentStories: Record<string, [number, Story]> = {
    ...(payments.includes('declined') && {
      // A course of its own: no purchase may come of it, and its description is its own at the processor.
      apiPurchaseDeclined: [1, (n) => void coursePayment(1, 'declined course', { studentId: `${tag}_s${n}`, courseId: `${tag}_course${n}` }, testCards.declined, 'declined')],
    }),
    ...(payments.includes('second-course') && {
      apiSecondPurchase: [1.5, (n) => {
        const p = purchaseStory(n, pick(taughtCourses));
        p.payments.push(coursePayment(1, 'course, first of two', p, newCard(), 'one-of'));
        p.payments.push(coursePayment(2, 'second course', p, newCard(), 'one-of', later(slot, 400)));
      }],
    }),
  };

  const purchaseStories: Record<string, [number, Story]> = {
    // Payment services redeliver confirmations; up to five copies of one.
    purchase: [22, (n) => sendConfirmation(slot, purchaseStory(n, pick(taughtCourses)), `${tag}_pay${n}`, int(1, 5))],
    noTrainer: [0.5, (n) => {
      const p = purchaseStory(n, untaughtCourse);
      sendConfirmation(slot, p, `${tag}_pay${n}`, int(1, 2));
      expect.refusals.add(`purchase-${tag}_pay${n}`);
    }],
  };

  // Prescriptions, for the payers the stack's partner stand-ins know (stand-ins/partner-services).
  // Written today: a prescription written over a year before it is received is invalid.
  const today = new Date().toISOString().slice(0, 10);
  const intakeEvent = (prescriptionId: string, n: number, changes: { payerId?: string; memberId?: string; npi?: string } = {}) => ({
    type: 'PRESCRIPTION_INTAKE_RECEIVED',
    prescriptionId,
    patient: {
      patientId: `${tag}_patient${n}`,
      name: `Chaos Patient ${n}`,
      dateOfBirth: '1968-02-29',
      address: { line1: `${n} Fault Line`, city: 'Springfield', postalCode: pick(['12345', '30301', '60601']), country: 'US' },
    },
    prescriber: { npi: changes.npi ?? '1234567893', name: 'Dr. Chaos' },
    medication: { ndc: '11111-0001-01', name: 'Metformin 500 mg', quantity: int(30, 90) },
    insurance: { payerId: changes.payerId ?? 'payer-standard', memberId: changes.memberId ?? `M${tag}${n}` },
    writtenOn: today,
    receivedAt: new Date().toISOString(),
  });
  const stepsUpTo = {
    Invalid: ['validatePrescription'],
    Ineligible: ['validatePrescription', 'enrollPatient'],
    ClaimRejected: ['validatePrescription', 'enrollPatient', 'selectPharmacy', 'adjudicateClaim'],
    NothingOwed: ['validatePrescription', 'enrollPatient', 'selectPharmacy', 'adjudicateClaim', 'requestPayment', 'createShippingLabel', 'recordDelivery'],
    Paid: ['validatePrescription', 'enrollPatient', 'selectPharmacy', 'adjudicateClaim', 'requestPayment', 'recordPayment', 'createShippingLabel', 'recordDelivery'],
  };
  /** An intake delivered once or more (the intake service redelivers), the copies a while later. */
  const prescriptionStory = (n: number, story: string, outcome: PrescriptionOutcome, steps: string[], changes: Parameters<typeof intakeEvent>[2] = {}) => {
    const prescriptionId = `${tag}_rx${n}`;
    const p: ExpectedPrescription = { story, outcome, steps };
    expect.prescriptions.set(prescriptionId, p);
    const value = json(intakeEvent(prescriptionId, n, changes));
    place(slot, prescriptionTopics.intakeReceived, prescriptionId, value);
    for (let i = 1, copies = int(1, 3); i < copies; i++) place(later(slot, 300), prescriptionTopics.intakeReceived, prescriptionId, value);
    return p;
  };
  let rxPaidStories = 0;
  const prescriptionStories: Record<string, [number, Story]> = {
    // payer-standard: a copay of 1500 cents, which the patient pays through the payment API once the
    // link exists (payments.ts): sometimes after a declined card, sometimes a second time. The first
    // such prescription is paid a second time and the second after a declined card, so a short run
    // has both.
    rxPaid: [4, (n) => {
      const p = prescriptionStory(n, 'rxPaid', 'Delivered', stepsUpTo.Paid);
      const prescriptionId = `${tag}_rx${n}`;
      const copayCents = 1500;
      const nth = rxPaidStories++;
      const second = payments.includes('second-copay') && (nth === 0 || rnd() < 0.3);
      const copay = (story: string, i: number, card: string, outcome: MoneyOutcome, send: ExpectedPayment['send']) =>
        addPayment({ key: `${tag}-rx${n}-copay${i}`, story, amountCents: copayCents, currency: 'USD', card,
          purpose: { kind: 'copay', prescriptionId }, outcome, group: prescriptionId, send });
      const declined = payments.includes('declined') && (nth === 1 || rnd() < 0.25) ? copay('declined copay', 0, testCards.declined, 'declined', { when: 'awaiting-payment' }) : undefined;
      const first = copay(second ? 'copay, first of two' : 'copay', 1, newCard(), second ? 'one-of' : 'delivered', { when: 'awaiting-payment', ...(declined ? { after: declined } : {}) });
      const ids = [first];
      if (second) ids.push(copay('second copay', 2, newCard(), 'one-of', { when: 'paid', delaySeconds: int(0, 40) }));
      p.copays = { paymentIds: ids, copayCents };
    }],
    rxNothingOwed: [3, (n) => {
      const p = prescriptionStory(n, 'rxNothingOwed', 'Delivered', stepsUpTo.NothingOwed, { payerId: 'payer-full-coverage' });
      p.paid = { paymentId: nothingOwedPaymentId(`${tag}_rx${n}`), amountCents: 0 };
    }],
    rxClaimRejected: [1.5, (n) => void prescriptionStory(n, 'rxClaimRejected', 'ClaimRejected', stepsUpTo.ClaimRejected, { payerId: 'payer-formulary-strict' })],
    rxInvalidNpi: [1, (n) => void prescriptionStory(n, 'rxInvalidNpi', 'Invalid', stepsUpTo.Invalid, { npi: '1234567890' })],
    rxLapsed: [1, (n) => void prescriptionStory(n, 'rxLapsed', 'Ineligible', stepsUpTo.Ineligible, { memberId: `LAPSED-${tag}-${n}` })],
  };

  /** One poison record of `kind` on `topic`; its payload IDs must never show up in a table. */
  const poisonRecord = (kind: PoisonKind, topic: string, n: number) => {
    const id = `${tag}_x${n}`;
    expect.poisonIds.add(id);
    const owner = pick(chaosUsers);
    const valid =
      topic === bookingEventsTopic
        ? bookingEvent(id, owner.userRef, pick(chaosRooms))
        : topic === bookingCancellationsTopic
          ? cancellation(id, owner.userRef)
          : topic === prescriptionTopics.intakeReceived
            ? intakeEvent(id, n)
            : topic === prescriptionTopics.paymentCompleted
              ? { type: 'PAYMENT_COMPLETED', prescriptionId: id, paymentId: id, amountCents: 1500, paidAt: new Date(epoch).toISOString() }
              : confirmation(id, id, pick(taughtCourses));
    const key = id;
    let record: [ChaosRecord['key'], ChaosRecord['value'], IHeaders?];
    switch (kind) {
      case 'unparseable':
        record = [key, json(valid).slice(0, -7)];
        break;
      case 'schema':
        record = [
          key,
          json({
            ...valid,
            guests: -1,
            userId: undefined,
            studentId: 42,
            timestamp: 'yesterday',
            // What breaks an intake (no patient, no time received) and a payment (a negative amount).
            ...(topic === prescriptionTopics.intakeReceived ? { patient: { patientId: id }, receivedAt: 'yesterday' } : {}),
            ...(topic === prescriptionTopics.paymentCompleted ? { amountCents: -1500, paidAt: 'yesterday' } : {}),
          }),
        ];
        break;
      case 'nul-value': // Confluent wire format: magic byte 0, a 4-byte schema ID, then the payload.
        record = [key, Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), Buffer.from(json(valid))])];
        break;
      case 'nul-key':
        record = [`${key}\u0000`, json(valid)];
        break;
      case 'latin1': { // "José" as ISO-8859-1: the byte 0xE9 is not UTF-8.
        const person = topic === purchaseConfirmedTopic ? { studentId: `José_${n}` } : { userId: `José_${n}` };
        record = [key, Buffer.from(json({ ...valid, ...person }), 'latin1')];
        break;
      }
      case 'escaped-nul': // valid JSON, but a \u0000 escape puts a NUL into a text field.
        record = [key, json(valid).replace(`"${id}"`, `"${id}\\u0000"`)];
        break;
      case 'key-mismatch': // keyed (and so ordered) as one booking, but its payload is another.
        record = [`${tag}_b${Math.max(0, n - 1)}`, json(valid)];
        break;
    }
    const [k, v, h] = record;
    const correlationId = place(slot, topic, k, v, h);
    expect.poison.set(correlationId, { kind, topic });
  };
  const poisonTopics: Record<PoisonKind, string[]> = {
    unparseable: [bookingEventsTopic, bookingCancellationsTopic, purchaseConfirmedTopic, prescriptionTopics.intakeReceived, prescriptionTopics.paymentCompleted],
    schema: [bookingEventsTopic, bookingCancellationsTopic, purchaseConfirmedTopic, prescriptionTopics.intakeReceived, prescriptionTopics.paymentCompleted],
    'nul-value': [bookingEventsTopic, bookingCancellationsTopic, purchaseConfirmedTopic],
    'nul-key': [bookingEventsTopic, purchaseConfirmedTopic],
    latin1: [bookingEventsTopic, purchaseConfirmedTopic],
    'escaped-nul': [bookingEventsTopic, purchaseConfirmedTopic],
    'key-mismatch': [bookingEventsTopic],
  };
  const poisonStories: Record<string, [number, Story]> = Object.fromEntries(
    poison.flatMap((kind) =>
      poisonTopics[kind].map((topic): [string, [number, Story]] => [`poison ${kind} on ${topic}`, [0.25, (n) => poisonRecord(kind, topic, n)]]),
    ),
  );

  const all = { ...bookingStories, ...purchaseStories, ...paymentStories, ...prescriptionStories, ...poisonStories };
  const total = Object.values(all).reduce((s, [w]) => s + w, 0);
  const run = (name: string, n: number) => {
    stories[name] = (stories[name] ?? 0) + 1;
    all[name]![1](n);
  };
  // Every poison kind on every topic, the huge header and a refusal appear at least once, spread
  // over the stream rather than bunched at its start.
  const mustHave = [...Object.keys(poisonStories), 'hugeCorrelationId', 'nulHeaders', 'noTrainer', ...Object.keys(prescriptionStories), ...Object.keys(paymentStories)];
  const expectedStories = Math.max(mustHave.length * 2, Math.round(events / 1.8));
  // Distinct slots: two on one slot would leave one of them out.
  const mustAt = new Map<number, string>();
  for (const name of mustHave) {
    let at = int(0, expectedStories - 1);
    while (mustAt.has(at)) at = (at + 1) % expectedStories;
    mustAt.set(at, name);
  }
  for (let n = 0; placed.length < events; n++) {
    slot = n * 2;
    const forced = mustAt.get(n);
    if (forced) {
      run(forced, n);
      continue;
    }
    let r = rnd() * total;
    const name = Object.keys(all).find((k) => (r -= all[k]![0]) < 0) ?? 'accepted';
    run(name, n);
  }
  // Forced stories whose slot lay past the end still come, at the end.
  for (const [n, name] of mustAt) if (!stories[name]) run(name, n);

  placed.sort((a, b) => a.at - b.at || a.seq - b.seq);
  // The stories' course payments keep their place in the stream, as a share of it.
  const lastSlot = Math.max(1, ...placed.map((p) => p.at));
  for (const p of expect.payments.values()) if ('at' in p.send) p.send = { at: Math.min(1, p.send.at / lastSlot) };
  // One in each equal share of the span, at a random point of it: no two are more than two shares
  // apart, so a card processor fault of a minute meets new payments wherever it falls in the span.
  if (payments.includes('course')) {
    for (let i = 0; i < coursePayments; i++) {
      const p: ExpectedPurchase = { studentId: `${tag}_c${i}`, courseId: pick(taughtCourses), payments: [], trainer: true };
      expect.purchases.set(`${p.studentId}/${p.courseId}`, p);
      p.payments.push(coursePayment(1, 'course', p, newCard(), 'delivered', (i + rnd()) / coursePayments));
    }
    stories.apiPurchase = coursePayments;
  }
  return { records: placed.map((p) => p.record), expect, stories };
}
