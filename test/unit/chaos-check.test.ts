import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { evaluate, startedTwice, verdict, type FaultOutcome, type State } from '../../bench/chaos/check';
import { buildStream, poisonReasons, type Expectations } from '../../bench/chaos/stream';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import { prescriptionRoutes } from '../../src/bridges/prescription-routes';
import { purchaseRoutes } from '../../src/bridges/purchase-routes';
import { readRecord } from '../../src/bridges/records';
import { printable } from '../../src/bridges/utf8';
import { sessionWindowSize } from '../../src/workflows/session-window';

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
          payment: { paymentId: 't_rxpay2', amountCents: 1500, deliveries: 1 },
          paid: { paymentId: 't_rxpay2', amountCents: 1500 },
        },
      ],
    ]),
    poison: new Map([['chaos-t-7', { kind: 'latin1', topic: 'booking-events' }]]),
    poisonIds: new Set(['t_x3']),
    refusals: new Set(),
  };
}

function cleanState(): State {
  return {
    bookings: [{ booking_id: 't_b0', status: 'Accepted' }],
    bookingDuplicates: 0,
    purchases: [{ payment_id: 't_pay1', student_id: 't_s1', course_id: 'course_kafka' }],
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
    state.emitted.events = state.emitted.events.filter((e) => !/PAYMENT_LINK_CREATED|SHIPMENT_LABEL_CREATED/.test(e.step));
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
      const reason = printable((decoded as { reason: string }).reason);
      expect(reason, `${poison.kind} on ${record.topic}`).toMatch(poisonReasons[poison.kind]);
      checked.add(`${poison.kind} ${record.topic}`);
    }
    // Every kind on every topic it is sent on.
    expect(checked.size).toBe(20);
  });
});
