import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { cardFingerprint, evaluate, evaluatePayments, moneyOf, startedTwice, verdict, type FaultOutcome, type ProviderCharge, type State } from '../../bench/chaos/check';
import { buildStream, paymentKinds, poisonReasons, type ExpectedPayment, type Expectations } from '../../bench/chaos/stream';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { prescriptionRoutes } from '../../src/bridges/prescription-routes';
import { purchaseRoutes } from '../../src/bridges/purchase-routes';
import { readRecord } from '../../src/bridges/records';
import { printable } from '../../src/bridges/utf8';
import { sessionWindowSize } from '../../src/workflows/session-window';
import { testCards } from '../../stand-ins/payment-provider/provider';

// One story of each kind, as the stream would imply them, and the state a clean run leaves.
const paidSteps = [
  'validatePrescription',
  'enrollPatient',
  'selectPharmacy',
  'adjudicateClaim',
  'requestPayment',
  'recordPayment',
  'createShippingLabel',
  'recordDelivery',
];

/** A payment the stream sends through the payment API, as buildStream would describe it. */
function payment(paymentId: string, story: string, group: string, changes: Partial<ExpectedPayment> = {}): ExpectedPayment {
  const [studentId = '', courseId = ''] = group.split('/');
  return {
    paymentId,
    key: `key-${paymentId}`,
    story,
    amountCents: 1500,
    currency: 'USD',
    // A card of its own, as every charged payment of the stream has.
    card: `5${[...paymentId].map((c) => c.charCodeAt(0) % 10).join('').padStart(15, '0').slice(-15)}`,
    purpose: group.includes('/') ? { kind: 'course', studentId, courseId } : { kind: 'copay', prescriptionId: group },
    outcome: 'delivered',
    group,
    copies: 1,
    together: false,
    send: { when: 'awaiting-payment' },
    ...changes,
  };
}

/** The processor's charge under a payment's key: succeeded with `refunded` cents given back, or failed. */
function charge(p: ExpectedPayment, status: 'succeeded' | 'failed' = 'succeeded', refunded = 0): ProviderCharge {
  return {
    charge_id: `ch_${p.paymentId}`,
    idempotency_key: `charge:${p.paymentId}`,
    status,
    amount_cents: p.amountCents,
    amount_refunded_cents: refunded,
    card_fingerprint: cardFingerprint(p.card),
    description: p.purpose.kind === 'course' ? `course ${p.purpose.courseId}` : `copay for prescription ${p.purpose.prescriptionId}`,
  };
}

/** The ledger row a settled payment leaves. */
function ledgerRow(p: ExpectedPayment, status: State['ledger'][number]['status']): State['ledger'][number] {
  return {
    payment_id: p.paymentId,
    status,
    amount_cents: p.amountCents,
    provider_payment_id: status === 'Declined' ? null : `ch_${p.paymentId}`,
    provider_refund_id: status === 'Refunded' ? `re_${p.paymentId}` : null,
  };
}

const copay = payment('t_rxpay2', 'copay', 't_rx2');

function expectations(): Expectations {
  return {
    bookings: new Map([['t_b0', 'Accepted']]),
    purchases: new Map([['t_s1/course_kafka', { studentId: 't_s1', courseId: 'course_kafka', payments: ['t_pay1'], trainer: true }]]),
    prescriptions: new Map([
      [
        't_rx2',
        {
          story: 'rxPaid',
          outcome: 'Delivered',
          steps: paidSteps,
          copays: { paymentIds: ['t_rxpay2'], copayCents: 1500 },
        },
      ],
    ]),
    poison: new Map([['chaos-t-7', { kind: 'latin1', topic: 'booking-events' }]]),
    poisonIds: new Set(['t_x3']),
    refusals: new Set(),
    payments: new Map([[copay.paymentId, copay]]),
  };
}

function cleanState(): State {
  return {
    bookings: [{ booking_id: 't_b0', status: 'Accepted' }],
    bookingDuplicates: 0,
    purchases: [{ payment_id: 't_pay1', student_id: 't_s1', course_id: 'course_kafka', is_active: true }],
    allocations: [{ allocation_id: 'alloc_1', student_id: 't_s1', course_id: 'course_kafka' }],
    adminAllocations: [{ student_id: 't_s1', course_id: 'course_kafka', n: 1 }],
    sessions: new Map([['alloc_1', { total: sessionWindowSize, distinct: sessionWindowSize }]]),
    prescriptions: [
      {
        prescription_id: 't_rx2',
        status: 'Delivered',
        pharmacy_id: 'pharmacy_1',
        claim_id: 'claim-t_rx2',
        copay_cents: 1500,
        payment_id: 't_rxpay2',
        tracking_number: 'LP1',
      },
    ],
    prescriptionAudit: new Map([['t_rx2', [...paidSteps]]]),
    prescriptionPayments: new Map([['t_rx2', { paymentId: 't_rxpay2', amountCents: 1500 }]]),
    prescriptionOutcomes: new Map([['t_rx2', 'Delivered']]),
    partners: {
      claims: [{ claim_id: 'claim-t_rx2', member_id: 'Mt2' }],
      pharmacySelections: [{ prescription_id: 't_rx2', pharmacy_id: 'pharmacy_1' }],
      labels: [{ shipment_id: 'shipment-t_rx2', tracking_number: 'LP1' }],
    },
    parked: [{ marker: 'chaos-t-7', reason: 'value is not valid UTF-8 at byte 52', topic: 'booking-events' }],
    needsAttention: [],
    lag: [],
    ledger: [ledgerRow(copay, 'Charged')],
    charges: [charge(copay)],
    paymentAnswers: [],
    emitted: {
      events: [
        { topic: 'purchase-created', eventId: 'PURCHASE_CREATED:t_pay1', step: 'PURCHASE_CREATED t_s1/course_kafka', content: '{"purchaseId":"p1"}' },
        { topic: 'trainer-allocated', eventId: 'TRAINER_ALLOCATED:alloc_1', step: 'TRAINER_ALLOCATED t_s1/course_kafka', content: '{"trainerId":"t1"}' },
        {
          topic: 'prescription.validation.completed',
          eventId: 'PRESCRIPTION_VALIDATION_COMPLETED:t_rx2',
          step: 'PRESCRIPTION_VALIDATION_COMPLETED t_rx2',
          content: '{"valid":true}',
        },
        ...['PATIENT_ENROLLMENT_COMPLETED', 'PHARMACY_SELECTED', 'INSURANCE_ADJUDICATION_COMPLETED', 'PAYMENT_LINK_CREATED', 'SHIPMENT_LABEL_CREATED'].map(
          (type) => ({ topic: type.toLowerCase(), eventId: `${type}:t_rx2`, step: `${type} t_rx2`, content: '{}' }),
        ),
        // The payment run's announcement of the copay.
        { topic: 'payment.completed', eventId: 'PAYMENT_COMPLETED:t_rxpay2', step: 'PAYMENT_COMPLETED t_rx2 t_rxpay2', content: '{}' },
      ],
    },
  };
}

const injected: FaultOutcome[] = [{ name: 'SIGKILL worker', injected: true, evidence: 'inject resolved' }];

/** The figures and the verdict main.ts would print for this state. */
function judge(state: State, faults = injected) {
  const figures = evaluate(expectations(), state, faults);
  return { figures, ...verdict(figures, { drain: 'drained', startedTwice: [] }) };
}

describe('the chaos checker', () => {
  it('meets the goal for a state that holds exactly what the stream implies', () => {
    const { figures, met, missed } = judge(cleanState());
    expect(missed).toEqual([]);
    expect(met).toBe(true);
    expect(figures.complete).toBe(true);
    expect(figures.prescriptionsRecorded).toBe(1);
    expect(figures.prescriptionsAtPartners).toBe(1);
  });

  it('finds a booking with no row lost', () => {
    const { figures, met } = judge({ ...cleanState(), bookings: [] });
    expect(figures.lost).toEqual(['booking t_b0 (expected Accepted): no row']);
    expect(met).toBe(false);
  });

  it('finds an audit row for a step the prescription should not take wrong', () => {
    const state = cleanState();
    state.prescriptionAudit.set('t_rx2', [...paidSteps, 'expirePaymentLink']);
    const { figures, met } = judge(state);
    expect(figures.wrong).toEqual(['prescription t_rx2 (rxPaid): audit rows for steps it should not take: expirePaymentLink']);
    expect(met).toBe(false);
  });

  it('flags a poison record parked with another kind\'s reason', () => {
    const state = cleanState();
    state.parked = [{ marker: 'chaos-t-7', reason: 'schema violation: guests: Too small', topic: 'booking-events' }];
    const { figures, met, missed } = judge(state);
    expect(figures.poisonWrongReason).toEqual([
      'poison record chaos-t-7 (latin1 on booking-events): wrong reason: schema violation: guests: Too small',
    ]);
    expect(figures.poisonParked).toBe(0);
    expect(missed).toContain('every poison record parked with its reason');
    expect(met).toBe(false);
  });

  it('does not count a run as drained while a bridge group is behind its topic', () => {
    const state = { ...cleanState(), lag: [{ group: 'booking-workflow-bridge', topic: 'booking-events', partition: 2, behind: 3 }] };
    const { figures, met, missed } = judge(state);
    expect(figures.complete).toBe(false);
    expect(figures.lag).toEqual(['booking-workflow-bridge booking-events/2: 3 behind']);
    expect(missed).toContain('consumer lag 0');
    expect(met).toBe(false);
  });

  it('fails the run for a fault that did not happen, naming it and its evidence', () => {
    const faults = [...injected, { name: 'SIGKILL Kafka', injected: false, evidence: 'scripts/stack.sh up failed (exit 1)' }];
    const { figures, met } = judge(cleanState(), faults);
    expect(figures.faultsNotInjected).toEqual(['SIGKILL Kafka: scripts/stack.sh up failed (exit 1)']);
    expect(met).toBe(false);
  });

  it('counts an event emitted twice with one ID as re-emitted, and two IDs for one step as duplicated', () => {
    const state = cleanState();
    const [created] = state.emitted.events;
    state.emitted.events.push({ ...created! });
    const again = judge(state);
    expect(again.figures.reemitted).toEqual(['PURCHASE_CREATED:t_pay1 on purchase-created: 2 times']);
    expect(again.figures.duplicated).toEqual([]);
    // At least once with a stable ID is the contract (consumers drop repeats by ID): reported, not a failure.
    expect(again.missed).toEqual([]);

    const other = cleanState();
    other.emitted.events.push({ ...created!, eventId: 'PURCHASE_CREATED:t_pay1_again' });
    const twice = judge(other);
    expect(twice.figures.duplicated).toEqual([
      'emitted PURCHASE_CREATED t_s1/course_kafka: 2 events with different IDs (PURCHASE_CREATED:t_pay1, PURCHASE_CREATED:t_pay1_again)',
    ]);
    expect(twice.met).toBe(false);
  });

  it('finds an event re-emitted with other content than its first copy wrong', () => {
    const state = cleanState();
    const validated = state.emitted.events[2]!;
    state.emitted.events.push({ ...validated, content: '{"valid":false}' });
    const { figures, missed } = judge(state);
    expect(figures.wrong).toEqual([
      'emitted PRESCRIPTION_VALIDATION_COMPLETED:t_rx2 on prescription.validation.completed: its copies say different things ({"valid":true} / {"valid":false})',
    ]);
    expect(missed).toEqual(['wrong 0']);
  });

  it('finds an event the stream implies that was never emitted lost, and one no story implies wrong', () => {
    const state = cleanState();
    state.emitted.events = state.emitted.events.filter((e) => e.step !== 'TRAINER_ALLOCATED t_s1/course_kafka');
    state.emitted.events.push({ topic: 'prescription.payment.completed', eventId: 'PAYMENT_COMPLETED:t_rx2', step: 'PAYMENT_COMPLETED t_rx2', content: '{}' });
    const { figures, met } = judge(state);
    expect(figures.lost).toEqual(['event TRAINER_ALLOCATED t_s1/course_kafka: never emitted']);
    expect(figures.wrong).toEqual(['event PAYMENT_COMPLETED t_rx2: emitted, but no story implies it']);
    expect(met).toBe(false);
  });

  it('fails the run when the emitted events could not be read', () => {
    const { met, missed } = judge({ ...cleanState(), emitted: { events: [], unread: 'reading the emitted events took over 180 s' } });
    expect(missed).toEqual(['emitted events read']);
    expect(met).toBe(false);
  });

  it('finds a second claim at the insurer for one prescription, under another claim ID', () => {
    const state = cleanState();
    state.partners.claims.push({ claim_id: 'claim-t_rx2-retry', member_id: 'Mt2' });
    const { figures, met } = judge(state);
    expect(figures.duplicated).toEqual([
      'insurer: 2 claims for one member (claim-t_rx2, claim-t_rx2-retry)',
      'insurer: claim claim-t_rx2-retry, which no prescription holds',
    ]);
    expect(met).toBe(false);
  });

  it('finds a label at the carrier for a prescription whose run never shipped', () => {
    const state = cleanState();
    state.prescriptionAudit.set('t_rx2', paidSteps.slice(0, 4));
    const exp = expectations();
    exp.prescriptions.set('t_rx2', { story: 'rxClaimRejected', outcome: 'ClaimRejected', steps: paidSteps.slice(0, 4) });
    state.prescriptions = [{ ...state.prescriptions[0]!, status: 'ClaimRejected', copay_cents: null, payment_id: null }];
    state.prescriptionOutcomes.set('t_rx2', 'ClaimRejected');
    state.prescriptionPayments.clear();
    state.emitted.events = state.emitted.events.filter((e) => !/PAYMENT_LINK_CREATED|PAYMENT_COMPLETED|SHIPMENT_LABEL_CREATED/.test(e.step));
    exp.payments.clear();
    Object.assign(state, { ledger: [], charges: [] });
    const figures = evaluate(exp, state, injected);
    expect(figures.wrong).toEqual(['prescription t_rx2 (rxClaimRejected): label LP1 although the run never shipped']);
    expect(verdict(figures, { drain: 'drained', startedTwice: [] }).met).toBe(false);
  });

  it('finds a prescription row holding another payment than the one the patient made wrong', () => {
    const state = cleanState();
    state.prescriptions = [{ ...state.prescriptions[0]!, payment_id: 't_rxpay9' }];
    state.prescriptionPayments.set('t_rx2', { paymentId: 't_rxpay9', amountCents: 900 });
    const { figures, met, missed } = judge(state);
    expect(figures.wrong).toEqual([
      'prescription t_rx2 (rxPaid): row payment t_rxpay9, expected t_rxpay2',
      'prescription t_rx2 (rxPaid): audit log payment t_rxpay9 of 900 cents, expected t_rxpay2 of 1500',
    ]);
    expect(missed).toContain('every prescription row recorded as expected');
    expect(met).toBe(false);
  });

  it('finds a prescription row whose status is not the run\'s end wrong', () => {
    const state = cleanState();
    state.prescriptions = [{ ...state.prescriptions[0]!, status: 'Shipped' }];
    const { figures, met } = judge(state);
    expect(figures.wrong).toEqual(['prescription t_rx2 (rxPaid): row status Shipped, expected Delivered']);
    expect(met).toBe(false);
  });
});

describe('the money check', () => {
  // A course bought once, a declined course, a course paid twice and a prescription paid twice.
  const course = payment('pay_c1', 'course', 't_s4/course_kafka', { amountCents: 5000, send: { at: 0.1 } });
  const declined = payment('pay_d1', 'declined course', 't_s5/t_course5', { card: testCards.declined, outcome: 'declined', send: { at: 0.2 } });
  const first = payment('pay_c2a', 'course', 't_s6/course_temporal', { amountCents: 7000, outcome: 'one-of', send: { at: 0.3 } });
  const second = payment('pay_c2b', 'second course', 't_s6/course_temporal', { amountCents: 7000, outcome: 'one-of', send: { at: 0.5 } });
  const copay1 = payment('pay_r1', 'copay', 't_rx8', { outcome: 'one-of' });
  const copay2 = payment('pay_r2', 'second copay', 't_rx8', { outcome: 'one-of', send: { when: 'paid', delaySeconds: 5 } });
  const all = [course, declined, first, second, copay1, copay2];

  const moneyExpectations = (): Expectations => ({ ...expectations(), payments: new Map(all.map((p) => [p.paymentId, p])) });
  /** What the other engineers' refunds leave: each second payment refunded in full, the first one delivered. */
  const settled = () => ({
    ledger: [
      ledgerRow(course, 'Charged'),
      ledgerRow(declined, 'Declined'),
      ledgerRow(first, 'Charged'),
      ledgerRow(second, 'Refunded'),
      ledgerRow(copay1, 'Charged'),
      ledgerRow(copay2, 'Refunded'),
    ],
    charges: [charge(course), charge(declined, 'failed'), charge(first), charge(second, 'succeeded', 7000), charge(copay1), charge(copay2, 'succeeded', 1500)],
    purchases: [
      { payment_id: 'pay_c1', student_id: 't_s4', course_id: 'course_kafka', is_active: true },
      { payment_id: 'pay_c2a', student_id: 't_s6', course_id: 'course_temporal', is_active: true },
    ],
    prescriptions: [{ ...cleanState().prescriptions[0]!, prescription_id: 't_rx8', payment_id: 'pay_r1' }],
    paymentAnswers: [],
  });

  it('holds for payments declined, delivered, and paid twice with the second refunded', () => {
    const money = evaluatePayments(moneyExpectations(), settled());
    expect(money).toMatchObject({ paymentsExpected: 6, paymentsSettled: 6, paymentsBalanced: 6, paymentsAsExpected: 6 });
    expect([...money.doubleCharges, ...money.ledgerProblems, ...money.moneyUnbalanced, ...money.paymentExpectations]).toEqual([]);
    expect(money.paymentsByStory).toEqual({ course: [2, 2], 'declined course': [1, 1], 'second course': [1, 1], copay: [1, 1], 'second copay': [1, 1] });
  });

  it('accepts either payment of a pair as the one delivered, the other refunded', () => {
    const state = settled();
    state.ledger = state.ledger.map((r) => (r.payment_id === 'pay_r1' ? ledgerRow(copay1, 'Refunded') : r.payment_id === 'pay_r2' ? ledgerRow(copay2, 'Charged') : r));
    state.charges = state.charges.map((c) => (c.idempotency_key === 'charge:pay_r1' ? charge(copay1, 'succeeded', 1500) : c.idempotency_key === 'charge:pay_r2' ? charge(copay2) : c));
    state.prescriptions = [{ ...state.prescriptions[0]!, payment_id: 'pay_r2' }];
    expect(evaluatePayments(moneyExpectations(), state).paymentsAsExpected).toBe(6);
  });

  it('names a second payment charged and never refunded or delivered, with its money and why', () => {
    // What the pipelines do before second payments are refunded: both charged, one delivered.
    const state = settled();
    state.ledger = state.ledger.map((r) => (r.payment_id === 'pay_c2b' ? ledgerRow(second, 'Charged') : r.payment_id === 'pay_r2' ? ledgerRow(copay2, 'Charged') : r));
    state.charges = state.charges.map((c) => (c.idempotency_key === 'charge:pay_c2b' ? charge(second) : c.idempotency_key === 'charge:pay_r2' ? charge(copay2) : c));
    const money = evaluatePayments(moneyExpectations(), state);
    expect(money.moneyUnbalanced).toEqual([
      'payment pay_c2b (second course, t_s6/course_temporal): charged 7000 − refunded 0 = 7000 cents, delivered 0',
      'payment pay_r2 (second copay, t_rx8): charged 1500 − refunded 0 = 1500 cents, delivered 0',
    ]);
    expect(money.paymentExpectations).toEqual([
      'payment pay_c2b (second course, t_s6/course_temporal): expected refunded (payment pay_c2a holds t_s6/course_temporal); ledger Charged, charged 7000, refunded 0',
      'payment pay_r2 (second copay, t_rx8): expected refunded (payment pay_r1 holds t_rx8); ledger Charged, charged 1500, refunded 0',
    ]);
    // The ledger is right about it: the failure is the money, not the bookkeeping.
    expect(money.ledgerProblems).toEqual([]);
    const { missed } = verdict(evaluate(moneyExpectations(), { ...cleanState(), ...state }, injected), { drain: 'drained', startedTwice: [] });
    expect(missed).toEqual(expect.arrayContaining(['charged − refunded = delivered for every payment', 'every payment ended as its story expects']));
  });

  it('finds a purchase undone without its refund, and a pair both delivered', () => {
    const undone = settled();
    undone.purchases = undone.purchases.map((r) => (r.payment_id === 'pay_c1' ? { ...r, is_active: false } : r));
    expect(evaluatePayments(moneyExpectations(), undone).moneyUnbalanced).toEqual([
      'payment pay_c1 (course, t_s4/course_kafka): charged 5000 − refunded 0 = 5000 cents, delivered 0',
    ]);
    const both = settled();
    both.purchases.push({ payment_id: 'pay_c2b', student_id: 't_s6', course_id: 'course_temporal', is_active: true });
    expect(evaluatePayments(moneyExpectations(), both).paymentExpectations).toContain(
      't_s6/course_temporal: 2 of its 2 payments delivered (pay_c2a, pay_c2b), expected exactly 1',
    );
  });

  it('counts a card charged twice for one thing, and a charge under no payment\'s key, as double charges', () => {
    const state = settled();
    state.charges.push({ ...charge(course), charge_id: 'ch_again', idempotency_key: 'charge:pay_other' });
    expect(evaluatePayments(moneyExpectations(), state).doubleCharges).toEqual([
      'key charge:pay_other: a charge (ch_again succeeded) on the run\'s cards under no payment\'s key',
      `card ${cardFingerprint(course.card).slice(0, 12)}… "course course_kafka": 2 charges, 1 expected (keys charge:pay_c1, charge:pay_other)`,
    ]);
  });

  it('finds a ledger row the card processor contradicts, one never settled, and one never written', () => {
    const state = settled();
    state.ledger = state.ledger
      .filter((r) => r.payment_id !== 'pay_c2a')
      .map((r) => (r.payment_id === 'pay_c1' ? ledgerRow(course, 'Accepted') : r.payment_id === 'pay_d1' ? ledgerRow(declined, 'Charged') : r));
    state.charges = state.charges.map((c) => (c.idempotency_key === 'charge:pay_r1' ? charge(copay1, 'succeeded', 1500) : c));
    expect(evaluatePayments(moneyExpectations(), state).ledgerProblems).toEqual([
      `payment pay_c1 (course, t_s4/course_kafka): still Accepted (never settled); the processor's charge ch_pay_c1 succeeded, 0 of 5000 cents refunded`,
      `payment pay_d1 (declined course, t_s5/t_course5): Charged in the ledger (charge ch_pay_d1, 1500 cents), the processor's charge ch_pay_d1 failed, 0 of 1500 cents refunded`,
      'payment pay_c2a (course, t_s6/course_temporal): no ledger row: the payment API never accepted it',
      `payment pay_r1 (copay, t_rx8): Charged in the ledger (charge ch_pay_r1, 1500 cents), the processor's charge ch_pay_r1 succeeded, 1500 of 1500 cents refunded`,
    ]);
  });

  it('finds a declined payment that was charged, and a copay held by a prescription never filled', () => {
    const state = settled();
    state.charges = state.charges.map((c) => (c.idempotency_key === 'charge:pay_d1' ? charge(declined) : c));
    state.prescriptions = [{ ...state.prescriptions[0]!, status: 'PaymentExpired' }];
    const money = evaluatePayments(moneyExpectations(), state);
    expect(money.paymentExpectations).toContain(
      'payment pay_d1 (declined course, t_s5/t_course5): expected declined with nothing charged; ledger Declined, charged 1500, delivered 0',
    );
    expect(moneyOf(copay1, state).delivered).toBe(0);
    expect(money.paymentExpectations).toContain('t_rx8: 0 of its 2 payments delivered (pay_r1, pay_r2), expected exactly 1');
  });

  it('reports a wrong answer of the payment API as a ledger problem', () => {
    const answers = ['payment pay_c1 (course, t_s4/course_kafka): the API answered 409: Idempotency-Key already used for another request'];
    expect(evaluatePayments(moneyExpectations(), { ...settled(), paymentAnswers: answers }).ledgerProblems).toEqual(answers);
  });
});

describe('the stream\'s payments', () => {
  it('leave out second payments when asked, and give every charged payment a card of its own', () => {
    const withAll = [...buildStream(20261202, 't', 2000).expect.payments.values()];
    // A quick run's few prescriptions still have a second copay and a declined one.
    const quick = new Set([...buildStream(20261202, 't', 300).expect.payments.values()].map((p) => p.story));
    expect(quick).toContain('second copay');
    expect(quick).toContain('declined copay');
    const stories = new Set(withAll.map((p) => p.story));
    expect(stories).toEqual(
      new Set(['course', 'declined course', 'course, first of two', 'second course', 'copay', 'declined copay', 'copay, first of two', 'second copay']),
    );
    const charged = withAll.filter((p) => p.card !== testCards.declined);
    expect(new Set(charged.map((p) => p.card)).size).toBe(charged.length);
    // Declined ones share the test card: each pays for something of its own instead.
    const declinedPairs = withAll.filter((p) => p.card === testCards.declined).map((p) => `${p.group} ${p.purpose.kind}`);
    expect(new Set(declinedPairs).size).toBe(declinedPairs.length);

    const without = [...buildStream(20261202, 't', 2000, undefined, paymentKinds.filter((k) => !k.startsWith('second'))).expect.payments.values()];
    expect(without.some((p) => p.outcome === 'one-of')).toBe(false);
    expect(without.some((p) => p.story === 'copay')).toBe(true);
  });
});

describe('runs started twice', () => {
  it('counts a workflow ID with two runs, and not a run that continued as new into its next one', () => {
    const runs = [
      { workflowId: 'shipment-tracking-t_rx2', status: 'CONTINUED_AS_NEW' },
      { workflowId: 'shipment-tracking-t_rx2', status: 'CONTINUED_AS_NEW' },
      { workflowId: 'shipment-tracking-t_rx2', status: 'COMPLETED' },
      { workflowId: 'purchase-t_pay1', status: 'COMPLETED' },
      { workflowId: 'purchase-t_pay1', status: 'RUNNING' },
    ];
    expect(startedTwice(runs)).toEqual(['purchase-t_pay1']);
    const { met, missed } = verdict(evaluate(expectations(), cleanState(), injected), { drain: 'drained', startedTwice: startedTwice(runs) });
    expect(missed).toEqual(['duplicated 0']);
    expect(met).toBe(false);
  });
});

describe('poison reasons', () => {
  const routes = new Map([...bookingRoutes(), ...purchaseRoutes(), ...prescriptionRoutes()].map((r) => [r.topic, r]));
  const asKafka = (value: Buffer | string | null): Buffer | null => (value === null ? null : Buffer.from(value));

  it('match what the bridge parks each poison kind of the stream with, on every topic it is sent on', () => {
    const { records, expect: implied } = buildStream(20261202, 't', 400);
    const checked = new Set<string>();
    for (const record of records) {
      const marker = String(record.headers['correlation-id']);
      const poison = implied.poison.get(marker);
      if (!poison) continue;
      const message = {
        key: asKafka(record.key),
        value: asKafka(record.value),
        headers: Object.fromEntries(Object.entries(record.headers).map(([k, v]) => [k, asKafka(v as string)])),
        offset: '0',
      } as KafkaMessage;
      const decoded = readRecord(routes.get(record.topic)!, 0, message).decoded;
      expect(decoded.ok, `${poison.kind} on ${record.topic} was not refused`).toBe(false);
      // As parked_events keeps it (src/bridges/parked-events.ts).
      const reason = printable((decoded as { refused: string }).refused);
      expect(reason, `${poison.kind} on ${record.topic}`).toMatch(poisonReasons[poison.kind]);
      checked.add(`${poison.kind} ${record.topic}`);
    }
    // Every kind on every topic it is sent on.
    expect(checked.size).toBe(20);
  });
});
