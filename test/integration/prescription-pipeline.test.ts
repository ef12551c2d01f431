import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrescriptionActivities } from '../../src/activities/prescription';
import { createPaymentActivities } from '../../src/activities/prescription-payment';
import { createCardPaymentActivities } from '../../src/activities/card-payment';
import { createRefundActivities } from '../../src/activities/refund';
import { paymentRefundWorkflowId, paymentTaskQueue } from '../../src/contracts/payment';
import { attentionQuery, operatorDecisionSignal } from '../../src/contracts/pipeline';
import { paymentApiWithRuns } from '../support/payment-api';
import { createPaymentProviderClient, paymentProviderOptions } from '../../src/partners/payment-provider';
import { prescriptionRoutes } from '../../src/bridges/prescription-routes';
import {
  finalFulfillmentStatuses,
  fulfillmentStateQuery,
  prescriptionWorkflowId,
  type FulfillmentState,
  type PrescriptionTopics,
} from '../../src/contracts/prescription';
import { createCarrierService, ensureCarrierSchema, type CarrierService } from '../../stand-ins/partner-services/carrier';
import type { StandIn } from '../../stand-ins/http';
import { createInsurerService, ensureInsurerSchema } from '../../stand-ins/partner-services/insurer';
import { createPharmacyService, ensurePharmacySchema } from '../../stand-ins/partner-services/pharmacy';
import { createPartnerClients } from '../../src/partners/clients';
import type { prescriptionFulfillmentWorkflow } from '../../src/workflows/prescription';
import { readFileSync } from 'node:fs';
import { readable } from '../support/history-payloads';
import { activityInterceptors } from '../../src/workers/workflows-path';
import { connectRealStack, deleteAsRetentionWould, eventually, type RealStack } from '../support/real-stack';
import { stepsOf } from '../support/history-steps';
import { temporalCliRaw } from '../support/temporal-cli';
import { createOwnerPool } from '../support/owner-db';

const patientName = 'Zebulon Quixote-Fairweather';

/**
 * Kafka → bridge → Temporal → PostgreSQL, the partner systems over HTTP and back onto Kafka, all
 * real. The pharmacy, insurer and carrier stand-ins run in this file on free ports, so it can make
 * them fail without touching the ones the stack runs.
 */
describe('prescription fulfillment on the real stack', () => {
  let stack: RealStack;
  let topics: PrescriptionTopics;
  let carrier: CarrierService;
  let standIns: StandIn[];
  let eventsConsumer: Consumer;
  let bridge: Consumer;
  let paymentActivities: ReturnType<typeof createPaymentActivities>;
  let paymentApi: Awaited<ReturnType<typeof paymentApiWithRuns>>;
  let prescriptionActivities: ReturnType<typeof createPrescriptionActivities>;
  const emitted: Array<{ topic: string; event: Record<string, any>; headers: Record<string, string> }> = [];
  const labelAddresses = new Map<string, unknown>();

  beforeAll(async () => {
    stack = await connectRealStack();
    const id = stack.runId;
    topics = {
      intakeReceived: `prescription.intake.received-${id}`,
      validationCompleted: `prescription.validation.completed-${id}`,
      enrollmentCompleted: `patient.enrollment.completed-${id}`,
      pharmacySelected: `pharmacy.selected-${id}`,
      adjudicationCompleted: `insurance.adjudication.completed-${id}`,
      paymentLinkCreated: `payment.link.created-${id}`,
      paymentCompleted: `payment.completed-${id}`,
      shipmentLabelCreated: `shipment.label.created-${id}`,
    };
    await stack.createTopics(...Object.values(topics));

    await Promise.all([ensurePharmacySchema(stack.db), ensureInsurerSchema(stack.db), ensureCarrierSchema(stack.db)]);
    const pharmacy = createPharmacyService(stack.db);
    const insurer = createInsurerService(stack.db);
    carrier = createCarrierService(stack.db);
    standIns = [pharmacy, insurer, carrier];
    const partners = createPartnerClients({
      pharmacyUrl: await pharmacy.listen(0),
      insurerUrl: await insurer.listen(0),
      carrierUrl: await carrier.listen(0),
      timeoutMs: 5_000,
    });
    Object.assign(carrier.delivery, { inTransitAfterMs: 500, deliveredAfterMs: 1_500 });
    // Where each parcel was addressed: the carrier stand-in keeps no address.
    const createLabel = partners.createShippingLabel.bind(partners);
    partners.createShippingLabel = async (request) => {
      labelAddresses.set(request.shipmentId, request.address);
      return createLabel(request);
    };

    const taskQueue = `prescriptions-${id}`;
    const deps = { db: stack.db, producer: stack.producer, actor: 'prescription-test-worker', topics };
    paymentActivities = createPaymentActivities({ ...deps, paymentLinkBaseUrl: 'https://pay.example.com/links' });
    prescriptionActivities = createPrescriptionActivities({ ...deps, partners });
    await stack.startWorker(taskQueue, { ...prescriptionActivities, ...paymentActivities });
    // The payment pipeline as it runs: its API (in this process), and its workers on its task queue,
    // charging through the stack's payment provider and announcing copays on this file's topic.
    // They also answer every run's ledger look-ups and refunds, which go to that task queue.
    const provider = createPaymentProviderClient(paymentProviderOptions(stack.config));
    await stack.startWorker(paymentTaskQueue, {
      ...createCardPaymentActivities({
        db: stack.db,
        producer: stack.producer,
        provider,
        topics: { paymentCompleted: topics.paymentCompleted, purchaseConfirmed: `purchase.confirmed-${id}` },
      }),
      ...createRefundActivities({ db: stack.db, provider }),
    });
    paymentApi = await paymentApiWithRuns({ db: stack.db, client: stack.client });
    bridge = await stack.startBridge(
      prescriptionRoutes({
        taskQueue,
        topics,
        timings: { paymentWindow: '15 seconds', trackingInterval: '1 second', deliveryDeadline: '1 minute' },
      }),
    );

    // What the existing consumers of the legacy topics would see.
    eventsConsumer = stack.kafka.consumer({ groupId: `test-prescription-events-${id}` });
    await eventsConsumer.connect();
    const { intakeReceived: _intake, ...emittedTopics } = topics;
    await eventsConsumer.subscribe({ topics: Object.values(emittedTopics), fromBeginning: true });
    await eventsConsumer.run({
      eachMessage: async ({ topic, message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        emitted.push({ topic, event: JSON.parse(message.value!.toString()), headers });
      },
    });
  });

  afterAll(async () => {
    await paymentApi?.close();
    await eventsConsumer?.disconnect();
    await Promise.all((standIns ?? []).map((s) => s.close()));
    await stack?.stop();
  });

  let sequence = 0;
  const intakes = new Map<string, Record<string, any>>();
  /** Publishes an intake `times` times; returns its prescription ID. */
  const publishIntake = async (changes: { payerId?: string; memberId?: string } = {}, times = 1): Promise<string> => {
    const prescriptionId = `rx-${stack.runId}-${++sequence}`;
    const intake = {
      type: 'PRESCRIPTION_INTAKE_RECEIVED',
      prescriptionId,
      patient: {
        patientId: `patient-${prescriptionId}`,
        name: patientName,
        dateOfBirth: '1961-02-03',
        address: { line1: '7 Lighthouse Lane', city: 'Portsmouth', postalCode: '03801', country: 'US' },
      },
      prescriber: { npi: '1234567893', name: 'Dr. Test' },
      medication: { ndc: '11111-0001-01', name: 'Metformin', quantity: 60 },
      insurance: { payerId: changes.payerId ?? 'payer-standard', memberId: changes.memberId ?? `M-${prescriptionId}` },
      writtenOn: new Date().toISOString().slice(0, 10),
      receivedAt: new Date().toISOString(),
    };
    intakes.set(prescriptionId, intake);
    for (let i = 0; i < times; i++) await sendIntake(intake);
    return prescriptionId;
  };
  /** Sends one record keyed by its prescription, as the producers do; answers where it went. */
  const send = async (topic: string, prescriptionId: string, value: object, correlationId: string) => {
    const [sent] = await stack.producer.send({
      topic,
      messages: [{ key: prescriptionId, value: JSON.stringify(value), headers: { 'correlation-id': correlationId } }],
    });
    return { topic, ...sent! };
  };
  /** An intake: the one first published again, or a corrected copy. */
  const sendIntake = (intake: Record<string, any>) => send(topics.intakeReceived, intake.prescriptionId, intake, `corr-${intake.prescriptionId}`);
  /** Waits until the bridge has committed past a record: delivered, acknowledged as a duplicate, or parked. */
  const settled = ({ topic, partition, baseOffset }: { topic: string; partition: number; baseOffset?: string }) =>
    eventually(() => stack.committedOffset(bridge, topic, partition), (offset) => offset > Number(baseOffset));
  /** A `payment.completed` written straight to the topic, as anyone who can write to it could. */
  const announce = (prescriptionId: string, paymentId: string, amountCents = 1500) =>
    send(
      topics.paymentCompleted,
      prescriptionId,
      { type: 'PAYMENT_COMPLETED', prescriptionId, paymentId, linkId: `link-${prescriptionId}`, amountCents, paidAt: new Date().toISOString() },
      `corr-pay-${prescriptionId}`,
    );
  /** Pays through the payment API, as the patient's link does; answers the payment ID. */
  const pay = async (prescriptionId: string, { amountCents = 1500, linkId = `link-${prescriptionId}` } = {}): Promise<string> => {
    const response = await paymentApi.inject({
      method: 'POST',
      url: '/payments',
      headers: { 'idempotency-key': randomUUID(), 'x-correlation-id': `corr-pay-${prescriptionId}` },
      payload: { amountCents, currency: 'USD', card: '4242424242424242', purpose: { kind: 'copay', prescriptionId, linkId } },
    });
    expect(response.statusCode).toBe(202);
    return response.json<{ paymentId: string }>().paymentId;
  };
  /** The payment as the ledger has it. */
  const ledgerRow = async (paymentId: string) =>
    (
      await stack.db.query<{ status: string; amount_cents: number; refund_reason: string | null }>(
        'SELECT status, amount_cents, refund_reason FROM payments WHERE payment_id = $1',
        [paymentId],
      )
    ).rows[0];
  const refunded = (paymentId: string) => eventually(() => ledgerRow(paymentId), (row) => row?.status === 'Refunded', 60_000);
  /** What the card processor charged for a prescription's copays (oldest first), with what it refunded of each. */
  const chargesAtProvider = async (prescriptionId: string) => {
    const url = new URL('/control/charges', stack.config.PAYMENT_PROVIDER_URL);
    url.searchParams.set('description', `copay for prescription ${prescriptionId}`);
    const { charges } = (await (await fetch(url)).json()) as { charges: Array<{ amountCents: number; amountRefundedCents: number }> };
    return charges.map((c) => ({ amountCents: c.amountCents, amountRefundedCents: c.amountRefundedCents }));
  };
  const handleOf = (prescriptionId: string) =>
    stack.client.workflow.getHandle<typeof prescriptionFulfillmentWorkflow>(prescriptionWorkflowId(prescriptionId));
  const untilStatus = (prescriptionId: string, status: string) =>
    eventually(
      () => handleOf(prescriptionId).query(fulfillmentStateQuery).catch(() => undefined),
      (state) => state?.status === status,
    );
  /** The run's result, once the bridge has started it and it has ended. */
  const resultOf = async (prescriptionId: string): Promise<FulfillmentState> =>
    (await eventually(() => handleOf(prescriptionId).result().catch(() => undefined), Boolean, 90_000))!;
  const auditOf = async (prescriptionId: string) =>
    (
      await stack.db.query<{ step: string; outcome: string; actor: string; workflow_id: string; correlation_id: string }>(
        'SELECT step, outcome, actor, workflow_id, correlation_id FROM prescription_audit_log WHERE prescription_id = $1 ORDER BY id',
        [prescriptionId],
      )
    ).rows;
  const eventsOf = (prescriptionId: string) => emitted.filter((e) => e.event.prescriptionId === prescriptionId);

  it('a copay paid through the payment API: the prescription goes from intake to delivered, every seed event on its topic, an audit row per step, the correlation ID throughout', async () => {
    const id = await publishIntake();
    await untilStatus(id, 'AwaitingPayment');
    const paymentId = await pay(id);
    const outcome: FulfillmentState = await handleOf(id).result();
    expect(outcome).toMatchObject({ status: 'Delivered', copayCents: 1500, paymentId, deliveredAt: expect.any(String) });
    expect(outcome).not.toHaveProperty('refunds');
    expect(await ledgerRow(paymentId)).toEqual({ status: 'Charged', amount_cents: 1500, refund_reason: null });
    expect(await chargesAtProvider(id)).toEqual([{ amountCents: 1500, amountRefundedCents: 0 }]);

    const seedEvents = [
      [topics.validationCompleted, 'PRESCRIPTION_VALIDATION_COMPLETED'],
      [topics.enrollmentCompleted, 'PATIENT_ENROLLMENT_COMPLETED'],
      [topics.pharmacySelected, 'PHARMACY_SELECTED'],
      [topics.adjudicationCompleted, 'INSURANCE_ADJUDICATION_COMPLETED'],
      [topics.paymentLinkCreated, 'PAYMENT_LINK_CREATED'],
      [topics.shipmentLabelCreated, 'SHIPMENT_LABEL_CREATED'],
    ];
    // The provider's payment.completed (sent above) is on its topic too; these are the ones we emitted.
    const ours = async () => eventsOf(id).filter((e) => e.topic !== topics.paymentCompleted);
    const events = await eventually(ours, (found) => found.length >= seedEvents.length);
    expect(events.map((e) => [e.topic, e.event.type])).toEqual(seedEvents);
    for (const { event, headers } of events) {
      expect(event).toMatchObject({ eventId: `${event.type}:${id}`, correlationId: `corr-${id}` });
      expect(headers['correlation-id']).toBe(`corr-${id}`);
      // Identifiers and decisions only: the patient's name never leaves the intake topic.
      expect(JSON.stringify(event)).not.toContain(patientName);
    }

    const audit = await auditOf(id);
    expect(audit.map((a) => [a.step, a.outcome])).toEqual([
      ['validatePrescription', 'Valid'],
      ['enrollPatient', 'Enrolled'],
      ['selectPharmacy', 'Selected'],
      ['adjudicateClaim', 'Approved'],
      ['requestPayment', 'LinkCreated'],
      ['recordPayment', 'Paid'],
      ['createShippingLabel', 'LabelCreated'],
      ['recordDelivery', 'Delivered'],
    ]);
    for (const row of audit) {
      expect(row).toMatchObject({ actor: 'prescription-test-worker', workflow_id: prescriptionWorkflowId(id), correlation_id: `corr-${id}` });
    }
    const { rows } = await stack.db.query('SELECT status, payment_id, tracking_number FROM prescriptions WHERE prescription_id = $1', [id]);
    expect(rows).toEqual([{ status: 'Delivered', payment_id: paymentId, tracking_number: outcome.trackingNumber }]);
  });

  it("Temporal's stored history of a run holds no plaintext PHI; the codec server shows it to a signed-in operator", async () => {
    const id = await publishIntake({ payerId: 'payer-full-coverage' });
    await resultOf(id);
    const show = ['workflow', 'show', '--workflow-id', prescriptionWorkflowId(id), '--output', 'json'];
    const stored = await temporalCliRaw(...show);
    expect(stored).toContain('"eventType"'); // a history, read back as the server keeps it
    for (const phi of [patientName, '1961-02-03', '7 Lighthouse Lane']) expect(readable(stored)).not.toContain(phi);

    const credential = readFileSync(stack.config.CODEC_OPERATOR_CREDENTIAL_FILE, 'utf8').trim();
    const decoded = await temporalCliRaw(...show, '--codec-endpoint', stack.config.CODEC_SERVER_URL, '--codec-auth', `Bearer ${credential}`);
    expect(readable(decoded)).toContain(patientName);
  });

  it('a claim the insurer rejects ends the run as ClaimRejected, announced, with nothing asked of the patient', async () => {
    const id = await publishIntake({ payerId: 'payer-formulary-strict' });
    const outcome = await resultOf(id);
    expect(outcome).toMatchObject({ status: 'ClaimRejected', reason: expect.stringContaining('formulary') });
    const adjudication = await eventually(
      async () => eventsOf(id).find((e) => e.event.type === 'INSURANCE_ADJUDICATION_COMPLETED'),
      Boolean,
    );
    expect(adjudication!.event).toMatchObject({ approved: false, reason: expect.stringContaining('formulary') });
    expect((await auditOf(id)).map((a) => a.step)).toEqual(['validatePrescription', 'enrollPatient', 'selectPharmacy', 'adjudicateClaim']);
  });

  it('an unpaid payment link expires: the run ends PaymentExpired, and a payment after that is refunded by the payment pipeline, not parked', async () => {
    const id = await publishIntake();
    const outcome = await resultOf(id);
    expect(outcome).toMatchObject({ status: 'PaymentExpired' });
    expect((await auditOf(id)).map((a) => [a.step, a.outcome]).slice(-2)).toEqual([
      ['requestPayment', 'LinkCreated'],
      ['expirePaymentLink', 'Expired'],
    ]);

    const late = await pay(id);
    expect(await refunded(late)).toMatchObject({ refund_reason: `payment for prescription ${id} came after its run ended (PaymentExpired)` });
    expect(await chargesAtProvider(id)).toEqual([{ amountCents: 1500, amountRefundedCents: 1500 }]);
    const refund = stack.client.workflow.getHandle(paymentRefundWorkflowId(late));
    expect(await refund.result()).toMatchObject({ paymentId: late, amountCents: 1500 });
    // Delivered again, it starts no second refund and is not parked.
    await settled(await announce(id, late));
    expect((await stack.db.query('SELECT reason FROM parked_events WHERE correlation_id = $1', [`corr-pay-${id}`])).rows).toEqual([]);
    expect(await chargesAtProvider(id)).toEqual([{ amountCents: 1500, amountRefundedCents: 1500 }]);

    // A payment.completed the ledger never had, after the run: nothing charged, nothing refunded, a person told.
    const forged = `forged-${id}`;
    await settled(await announce(id, forged));
    const flagged = stack.client.workflow.getHandle(paymentRefundWorkflowId(forged));
    expect(await flagged.result()).toEqual({ paymentId: forged, notRefunded: `payment ${forged} is not in the payment ledger: nothing was charged, so nothing was refunded` });
    expect(await flagged.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', kind: 'PaymentRefused', failedStep: 'lookUpPayment' });
  }, 120_000);

  it('after its run, a declined payment is not refunded but flagged, and a payment for a run ended by hand is parked for a person', async () => {
    const id = await publishIntake({ payerId: 'payer-formulary-strict' });
    expect(await resultOf(id)).toMatchObject({ status: 'ClaimRejected' });
    const response = await paymentApi.inject({
      method: 'POST',
      url: '/payments',
      headers: { 'idempotency-key': randomUUID() },
      payload: { amountCents: 1500, currency: 'USD', card: '4000000000000002', purpose: { kind: 'copay', prescriptionId: id, linkId: `link-${id}` } },
    });
    const declined = response.json<{ paymentId: string }>().paymentId;
    await eventually(() => ledgerRow(declined), (row) => row?.status === 'Declined');
    await settled(await announce(id, declined));
    const refund = stack.client.workflow.getHandle(paymentRefundWorkflowId(declined));
    expect(await refund.result()).toEqual({ paymentId: declined, notRefunded: `payment ${declined} was declined: nothing was charged, so nothing was refunded` });
    expect(await refund.query(attentionQuery)).toMatchObject({ status: 'NeedsAttention', kind: 'PaymentRefused' });
    expect(await ledgerRow(declined)).toMatchObject({ status: 'Declined' });

    const byHand = await publishIntake();
    await untilStatus(byHand, 'AwaitingPayment');
    await handleOf(byHand).terminate('filled by hand');
    await settled(await announce(byHand, `pay-${byHand}`));
    const { rows } = await stack.db.query('SELECT reason FROM parked_events WHERE correlation_id = $1', [`corr-pay-${byHand}`]);
    expect(rows).toEqual([
      { reason: `payment pay-${byHand}: the fulfillment run of prescription ${byHand} was ended by hand (Terminated); refund it or fill the prescription by hand` },
    ]);
  }, 120_000);

  it('a payment that comes while the expiring link is held by an outage is refunded by the run, which ends PaymentExpired', async () => {
    const id = await publishIntake();
    await untilStatus(id, 'AwaitingPayment');
    // A lock on the prescription's row holds the link's closing (each attempt gives up at the lock timeout).
    const locker = await stack.db.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      await locker.query('SELECT 1 FROM prescriptions WHERE prescription_id = $1 FOR UPDATE', [id]);
      // expirePaymentLink is a local activity, listed under no pending activity: wait until a step's
      // statement waits on this lock (nothing else touches the row while the run awaits its payment).
      const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await eventually(
        async () => (await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [lockerPid])).rows[0]!.n,
        (blocked) => blocked > 0,
        60_000,
      );
      const late = await pay(id);
      await eventually(() => handleOf(id).query(fulfillmentStateQuery), (state) => state.refunds?.[0]?.paymentId === late, 30_000);
      await locker.query('COMMIT');
      const outcome = await resultOf(id);
      const reason = `payment for prescription ${id} came after its payment link link-${id} expired`;
      expect(outcome).toMatchObject({ status: 'PaymentExpired', refusedPayments: [{ paymentId: late, reason }], refunds: [{ paymentId: late, reason }] });
      expect(outcome).not.toHaveProperty('paymentId');
      expect(await ledgerRow(late)).toEqual({ status: 'Refunded', amount_cents: 1500, refund_reason: reason });
      expect(await chargesAtProvider(id)).toEqual([{ amountCents: 1500, amountRefundedCents: 1500 }]);
      expect(await handleOf(id).query(attentionQuery)).toMatchObject({ status: 'Rejected' });
      expect(stepsOf(await handleOf(id).fetchHistory())).toContain('expirePaymentLink');
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
  }, 120_000);

  it('a second payment for a paid prescription is refunded, saying why; the first one is delivered', async () => {
    const id = await publishIntake();
    await untilStatus(id, 'AwaitingPayment');
    const first = await pay(id);
    await eventually(() => handleOf(id).query(fulfillmentStateQuery), (state) => state.paymentId === first);
    const second = await pay(id);
    const reason = `second payment for prescription ${id}, already paid by ${first}`;
    expect(await refunded(second)).toMatchObject({ refund_reason: reason });
    const outcome = await resultOf(id);
    expect(outcome).toMatchObject({ status: 'Delivered', paymentId: first, refunds: [{ paymentId: second, amountCents: 1500, reason }] });
    expect(await ledgerRow(first)).toMatchObject({ status: 'Charged' });
    expect(await chargesAtProvider(id)).toEqual([
      { amountCents: 1500, amountRefundedCents: 0 },
      { amountCents: 1500, amountRefundedCents: 1500 },
    ]);
  }, 120_000);

  it('payments that are not the copay are refused and never accepted: forged, for another prescription, 1 cent, another link; the run says why, refunds the charges, and takes a valid payment', async () => {
    const id = await publishIntake();
    await untilStatus(id, 'AwaitingPayment');
    const refusal = async (paymentId: string) => {
      const state = await eventually(
        () => handleOf(id).query(fulfillmentStateQuery),
        (s) => Boolean(s.refusedPayments?.some((r) => r.paymentId === paymentId)),
        60_000,
      );
      // The refusal is in the state before its refund is done; the run asks for a person after it.
      const attention = await eventually(
        () => handleOf(id).query(attentionQuery),
        (a) => a.status === 'NeedsAttention' && Boolean(a.lastError?.includes(`payment ${paymentId} `)),
        60_000,
      );
      expect(attention).toMatchObject({ status: 'NeedsAttention', kind: 'PaymentRefused' });
      expect(state.paymentId).toBeUndefined();
      return { reason: state.refusedPayments!.find((r) => r.paymentId === paymentId)!.reason, attention: attention.lastError };
    };

    const forged = `forged-${id}`;
    await announce(id, forged);
    expect(await refusal(forged)).toMatchObject({ reason: `payment ${forged} refused: the payment ledger has no such payment` });
    // A real charge for another prescription, announced to this one: refused, and not this run's to refund.
    const otherPrescription = `rx-${stack.runId}-other-${++sequence}`;
    const others = await pay(otherPrescription);
    await eventually(() => ledgerRow(others), (row) => row?.status === 'Charged');
    await announce(id, others);
    expect((await refusal(others)).reason).toBe(`payment ${others} refused: it pays for prescription ${otherPrescription}, not ${id}`);

    const cent = await pay(id, { amountCents: 1 });
    const centReason = `payment ${cent} for prescription ${id} refused: it is 1 cents; the copay is 1500 cents`;
    expect(await refusal(cent)).toMatchObject({ reason: centReason, attention: expect.stringContaining(`${centReason}; refunded. The run goes on waiting`) });
    const oldLink = await pay(id, { linkId: 'link-old' });
    expect((await refusal(oldLink)).reason).toBe(`payment ${oldLink} for prescription ${id} refused: it was paid through link link-old, not link-${id}`);

    const good = await pay(id);
    const outcome = await resultOf(id);
    expect(outcome).toMatchObject({ status: 'Delivered', paymentId: good });
    expect(outcome.refunds!.map((r) => r.paymentId)).toEqual([cent, oldLink]);
    expect(await ledgerRow(cent)).toEqual({ status: 'Refunded', amount_cents: 1, refund_reason: centReason });
    expect(await ledgerRow(oldLink)).toMatchObject({ status: 'Refunded' });
    expect(await ledgerRow(others)).toMatchObject({ status: 'Charged' });
    expect(await chargesAtProvider(id)).toEqual([
      { amountCents: 1, amountRefundedCents: 1 },
      { amountCents: 1500, amountRefundedCents: 1500 },
      { amountCents: 1500, amountRefundedCents: 0 },
    ]);
    expect((await auditOf(id)).filter((a) => a.step === 'recordPayment')).toHaveLength(1);
  }, 180_000);

  it('aborting a run parked after its payment refunds the payment, closes the link and writes the abort to the audit log', async () => {
    const id = await publishIntake();
    await untilStatus(id, 'AwaitingPayment');
    carrier.faults.failNext = 1;
    carrier.faults.failStatus = 422; // the carrier refuses the label: the run waits for a person
    const paymentId = await pay(id);
    await eventually(() => handleOf(id).query(attentionQuery), (a) => a.status === 'NeedsAttention' && a.failedStep === 'createShippingLabel', 60_000);
    await handleOf(id).signal(operatorDecisionSignal, 'abort');
    await expect(handleOf(id).result()).rejects.toThrow();
    expect(await ledgerRow(paymentId)).toEqual({ status: 'Refunded', amount_cents: 1500, refund_reason: `prescription ${id} aborted` });
    expect(await chargesAtProvider(id)).toEqual([{ amountCents: 1500, amountRefundedCents: 1500 }]);
    expect((await auditOf(id)).map((a) => [a.step, a.outcome]).slice(-3)).toEqual([
      ['recordPayment', 'Paid'],
      ['closePaymentLink', 'Closed'],
      ['recordAbort', 'Aborted'],
    ]);
    const { rows } = await stack.db.query("SELECT detail FROM prescription_audit_log WHERE prescription_id = $1 AND step = 'recordAbort'", [id]);
    expect(rows[0].detail).toEqual({ closedLinkId: `link-${id}`, refundedPaymentIds: [paymentId] });
    expect(await handleOf(id).query(fulfillmentStateQuery)).toMatchObject({ refunds: [{ paymentId, reason: `prescription ${id} aborted` }] });
  }, 120_000);

  it('a carrier outage while labelling and tracking is retried by the run itself until the parcel is delivered', async () => {
    carrier.faults.failNext = 3;
    carrier.faults.failStatus = 503;
    const before = carrier.requests;
    const id = await publishIntake({ payerId: 'payer-full-coverage' });
    const outcome = await resultOf(id);
    expect(outcome).toMatchObject({ status: 'Delivered', paymentId: `nothing-owed-${id}` });
    expect(carrier.faults.failNext).toBe(0);
    // The three refused requests, then the label and at least one successful look.
    expect(carrier.requests - before).toBeGreaterThanOrEqual(5);
  }, 120_000);

  it('tracking is one activity that Temporal retries every tracking interval until the carrier says delivered: the polls are its attempts, none of them in the history', async () => {
    const timing = { ...carrier.delivery };
    Object.assign(carrier.delivery, { deliveredAfterMs: 4_500 });
    try {
      const id = await publishIntake({ payerId: 'payer-full-coverage' });
      expect(await resultOf(id)).toMatchObject({ status: 'Delivered' });
      const { events } = await handleOf(id).fetchHistory();
      const scheduled = events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitDelivery');
      expect(scheduled).toHaveLength(1);
      const started = events!.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled[0]!.eventId!.toString())!;
      const attempt = started.activityTaskStartedEventAttributes!.attempt!;
      // Delivered 4.5 s after the label: the first look and at least three more, a second apart.
      expect(attempt).toBeGreaterThanOrEqual(4);
      const msOf = (t: typeof started.eventTime) => Number(t!.seconds) * 1000 + (t!.nanos ?? 0) / 1e6;
      const waited = msOf(started.eventTime) - msOf(scheduled[0]!.eventTime);
      expect(waited).toBeGreaterThanOrEqual((attempt - 1) * 1_000 - 100);
      expect(events!.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1); // the delivery deadline's
    } finally {
      Object.assign(carrier.delivery, timing);
    }
  }, 120_000);

  it("a forged intake naming an open prescription's patient with another address cannot redirect that parcel: it waits for a person, and the audit log names the change by fingerprints only", async () => {
    const victimId = await publishIntake();
    await untilStatus(victimId, 'AwaitingPayment');
    const victimIntake = intakes.get(victimId)!;
    const forgedId = `rx-${stack.runId}-${++sequence}`;
    const elsewhere = { line1: '13 Parcel Drop Road', city: 'Elsewhere', postalCode: '66601', country: 'US' };
    await sendIntake({ ...victimIntake, prescriptionId: forgedId, patient: { ...victimIntake.patient, address: elsewhere } });
    const forged = handleOf(forgedId);
    const attention = await eventually(() => forged.query(attentionQuery).catch(() => undefined), (a) => a?.status === 'NeedsAttention');
    expect(attention).toMatchObject({ kind: 'DemographicsChanged', failedStep: 'enrollPatient' });
    expect(attention!.lastError).toContain(`changes patient ${victimIntake.patient.patientId}'s address while prescription(s) ${victimId} of theirs are open`);

    // The victim's parcel goes where their prescription was enrolled to.
    await pay(victimId);
    expect(await handleOf(victimId).result()).toMatchObject({ status: 'Delivered' });
    expect(labelAddresses.get(`shipment-${victimId}`)).toEqual(victimIntake.patient.address);

    await forged.signal(operatorDecisionSignal, 'abort');
    expect(await forged.result()).toMatchObject({ status: 'Ineligible', reason: "an operator refused this intake's change of the patient's demographics" });
    const patient = await stack.db.query('SELECT address FROM patients WHERE patient_id = $1', [victimIntake.patient.patientId]);
    expect(patient.rows[0].address).toEqual(victimIntake.patient.address);
    const audit = await stack.db.query<{ detail: any }>(`SELECT detail FROM prescription_audit_log WHERE prescription_id = $1 AND step = 'enrollPatient'`, [forgedId]);
    expect(audit.rows[0]!.detail.demographics).toMatchObject({
      fields: ['address'],
      applied: false,
      decision: 'refused',
      before: { address: expect.stringMatching(/^[\w-]{43}$/) },
      after: { address: expect.stringMatching(/^[\w-]{43}$/) },
    });
    for (const value of ['Parcel Drop', '66601', 'Lighthouse', '03801']) expect(JSON.stringify(audit.rows[0]!.detail)).not.toContain(value);
    expect(labelAddresses.has(`shipment-${forgedId}`)).toBe(false);
  });

  it("a change of address a person confirms updates the patient's record, and the open prescription still ships where it was enrolled to", async () => {
    const firstId = await publishIntake();
    await untilStatus(firstId, 'AwaitingPayment');
    const first = intakes.get(firstId)!;
    const movedId = `rx-${stack.runId}-${++sequence}`;
    const newHome = { line1: '2 Harbour View', city: 'Kittery', postalCode: '03904', country: 'US' };
    await sendIntake({ ...first, prescriptionId: movedId, patient: { ...first.patient, address: newHome } });
    const moved = handleOf(movedId);
    await eventually(() => moved.query(attentionQuery).catch(() => undefined), (a) => a?.kind === 'DemographicsChanged');
    await moved.signal(operatorDecisionSignal, 'retry');
    await untilStatus(movedId, 'AwaitingPayment');
    const patient = await stack.db.query('SELECT address FROM patients WHERE patient_id = $1', [first.patient.patientId]);
    expect(patient.rows[0].address).toEqual(newHome);

    await pay(firstId);
    expect(await handleOf(firstId).result()).toMatchObject({ status: 'Delivered' });
    expect(labelAddresses.get(`shipment-${firstId}`)).toEqual(first.patient.address);
    await pay(movedId);
    expect(await moved.result()).toMatchObject({ status: 'Delivered' });
    expect(labelAddresses.get(`shipment-${movedId}`)).toEqual(newHome);
  });

  it('the same intake delivered many times makes one run, one row and one audit row per step; our own payment event is a duplicate', async () => {
    const id = await publishIntake({ payerId: 'payer-full-coverage' }, 5);
    const outcome = await resultOf(id);
    expect(outcome.status).toBe('Delivered');
    const runs = [];
    for await (const run of stack.client.workflow.list({ query: `WorkflowId = '${prescriptionWorkflowId(id)}'` })) runs.push(run);
    expect(runs).toHaveLength(1);
    const steps = (await auditOf(id)).map((a) => a.step);
    expect(steps).toEqual([...new Set(steps)]);
    expect((await stack.db.query('SELECT count(*)::int AS n FROM prescriptions WHERE prescription_id = $1', [id])).rows[0].n).toBe(1);
    // The payment.completed we emitted for nothing owed reached the bridge too, and was not parked.
    await eventually(async () => eventsOf(id).filter((e) => e.event.type === 'PAYMENT_COMPLETED'), (found) => found.length > 0);
    const parked = await stack.db.query('SELECT reason FROM parked_events WHERE topic = $1 AND message_key = $2', [topics.paymentCompleted, id]);
    expect(parked.rows).toEqual([]);
  }, 120_000);

  it('the audit log is append-only: the database refuses to update, delete or truncate it, for the application role and the owner alike', async () => {
    const id = await publishIntake({ payerId: 'payer-formulary-strict' });
    await eventually(() => auditOf(id), (rows) => rows.length >= 4);
    // The processes' role has no such privilege.
    await expect(stack.db.query("UPDATE prescription_audit_log SET outcome = 'Forged' WHERE prescription_id = $1", [id])).rejects.toThrow(/permission denied/);
    await expect(stack.db.query('DELETE FROM prescription_audit_log WHERE prescription_id = $1', [id])).rejects.toThrow(/permission denied/);
    await expect(stack.db.query('TRUNCATE prescription_audit_log')).rejects.toThrow(/permission denied/);
    // The owner has, and the triggers refuse it (while it leaves them on: test/integration/database-roles.test.ts).
    const ownerDb = createOwnerPool(stack.config);
    try {
      await expect(ownerDb.query("UPDATE prescription_audit_log SET outcome = 'Forged' WHERE prescription_id = $1", [id])).rejects.toThrow(/append-only/);
      await expect(ownerDb.query('DELETE FROM prescription_audit_log WHERE prescription_id = $1', [id])).rejects.toThrow(/append-only/);
      await expect(ownerDb.query('TRUNCATE prescription_audit_log')).rejects.toThrow(/append-only/);
    } finally {
      await ownerDb.end();
    }
    expect((await auditOf(id)).length).toBeGreaterThanOrEqual(4);
  });
  /** Everything the database and the topics hold of a prescription. */
  const recordOf = async (prescriptionId: string) => ({
    row: (await stack.db.query('SELECT * FROM prescriptions WHERE prescription_id = $1', [prescriptionId])).rows,
    audit: (await stack.db.query('SELECT * FROM prescription_audit_log WHERE prescription_id = $1 ORDER BY id', [prescriptionId])).rows,
    events: eventsOf(prescriptionId).map((e) => [e.topic, e.event.type]),
  });

  it('an intake delivered again after its run left Temporal (retention) starts a run that ends as recorded, changing and emitting nothing', async () => {
    const id = await publishIntake();
    await untilStatus(id, 'AwaitingPayment');
    const paymentId = await pay(id);
    const first = await resultOf(id);
    expect(first.status).toBe('Delivered');
    // Our six events and the provider's payment.
    await eventually(async () => eventsOf(id), (events) => events.length === 7);
    const before = await recordOf(id);
    const firstRun = (await handleOf(id).describe()).runId;

    await deleteAsRetentionWould(stack.client, prescriptionWorkflowId(id));
    await settled(await sendIntake(intakes.get(id)!));
    const again = await resultOf(id);
    expect((await handleOf(id).describe()).runId).not.toBe(firstRun);
    // Ended at once in what the database recorded, with the identifiers the bridge judges payments by.
    expect(again).toMatchObject({
      status: 'Delivered',
      prescriptionId: id,
      pharmacyId: first.pharmacyId,
      claimId: first.claimId,
      copayCents: first.copayCents,
      paymentLinkId: first.paymentLinkId,
      paymentId: first.paymentId,
      trackingNumber: first.trackingNumber,
      reason: 'already Delivered when this run started; nothing was done again',
    });
    const steps = stepsOf(await handleOf(id).fetchHistory());
    expect(steps).toEqual(['validatePrescription']);

    // The payment delivered again now meets that run: still the duplicate it was, not parked or refunded.
    await settled(await announce(id, paymentId));
    expect(await ledgerRow(paymentId)).toMatchObject({ status: 'Charged' });
    expect((await stack.db.query('SELECT reason FROM parked_events WHERE correlation_id = $1', [`corr-pay-${id}`])).rows).toEqual([]);

    await sleep(3_000); // time for any event a step might still have emitted to arrive
    expect(await recordOf(id)).toEqual({ ...before, events: [...before.events, [topics.paymentCompleted, 'PAYMENT_COMPLETED']] });
  });

  it("validatePrescription answers how a prescription ended in another run, and a retried attempt of its own run as it recorded it", async () => {
    const id = `rx-${stack.runId}-${++sequence}`;
    const intake = {
      prescriptionId: id,
      patient: {
        patientId: `patient-${id}`,
        name: patientName,
        dateOfBirth: '1961-02-03',
        address: { line1: '7 Lighthouse Lane', city: 'Portsmouth', postalCode: '03801', country: 'US' },
      },
      prescriber: { npi: '1234567890', name: 'Dr. Test' }, // a wrong check digit: Invalid
      medication: { ndc: '11111-0001-01', name: 'Metformin', quantity: 60 },
      insurance: { payerId: 'payer-standard', memberId: `M-${id}` },
      writtenOn: new Date().toISOString().slice(0, 10),
      receivedAt: new Date().toISOString(),
    };
    const attemptIn = (runId: string) =>
      new MockActivityEnvironment(
        { activityType: 'validatePrescription', workflowExecution: { workflowId: prescriptionWorkflowId(id), runId } },
        { interceptors: activityInterceptors },
      ).run(prescriptionActivities.validatePrescription, intake);
    const problems = ['prescriber NPI is not a valid National Provider Identifier'];

    expect(await attemptIn('run-1')).toEqual({ valid: false, problems });
    // Its own run again (the first attempt's answer was lost): what it recorded, announced again.
    expect(await attemptIn('run-1')).toEqual({ valid: false, problems });
    await eventually(async () => eventsOf(id), (events) => events.length === 2);
    // Another run: the prescription had ended; nothing is written or announced.
    const before = await recordOf(id);
    expect(await attemptIn('run-2')).toEqual({
      valid: false,
      problems,
      ended: { status: 'Invalid', prescriptionId: id, reason: 'already Invalid when this run started; nothing was done again' },
    });
    await sleep(2_000);
    expect(await recordOf(id)).toEqual(before);
  });

  it('a corrected intake for a finished prescription is parked, naming the fields that differ and no value; the same intake again is still a duplicate', async () => {
    const id = await publishIntake({ payerId: 'payer-full-coverage' });
    expect((await resultOf(id)).status).toBe('Delivered');
    // The run keeps a hash of each of its intake's fields, by the field's path.
    const { memo } = await handleOf(id).describe();
    expect(Object.keys(memo!.intake as object)).toEqual(expect.arrayContaining(['medication.quantity', 'patient.name', 'patient.address.line1']));
    expect(JSON.stringify(memo!.intake)).not.toContain(patientName);

    const intake = intakes.get(id)!;
    const newStreet = '9 Harbour Road';
    const corrected = { ...intake, medication: { ...intake.medication, quantity: 90 }, patient: { ...intake.patient, address: { ...intake.patient.address, line1: newStreet } } };
    await settled(await sendIntake(corrected));
    const parkedOf = async () =>
      (await stack.db.query('SELECT reason FROM parked_events WHERE topic = $1 AND message_key = $2', [topics.intakeReceived, id])).rows.map((r) => r.reason);
    expect(await parkedOf()).toEqual([
      `intake differs from the one prescription ${id}'s run fulfilled (fields: medication.quantity, patient.address.line1); the run ended Delivered`,
    ]);

    await settled(await sendIntake(intake));
    expect(await parkedOf()).toHaveLength(1);
  });

  it('the database keeps a prescription in its final status: a step that would move it is refused at its first attempt, and its audit row is rolled back with it', async () => {
    const id = await publishIntake({ payerId: 'payer-full-coverage' });
    expect((await resultOf(id)).status).toBe('Delivered');
    const before = await recordOf(id);

    // What an old payment link's expiry did over a delivery before the guard, run as a worker runs
    // an activity (with its interceptors), for a run other than the one that recorded the steps.
    const worker = new MockActivityEnvironment(
      { activityType: 'expirePaymentLink', workflowExecution: { workflowId: prescriptionWorkflowId(id), runId: 'a-later-run' } },
      { interceptors: activityInterceptors },
    );
    const refused = await worker.run(paymentActivities.expirePaymentLink, { prescriptionId: id, linkId: `link-${id}` }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused).toMatchObject({
      nonRetryable: true,
      message: `PostgreSQL refused the change (SQLSTATE 23514): prescription ${id} is Delivered, a final status; it cannot become PaymentExpired`,
    });
    expect(await recordOf(id)).toEqual(before);
  });

  it('the prescriptions table refuses to move a row out of a final status, and lets an overdue delivery become delivered', async () => {
    const insert = async (status: string) => {
      const id = `rx-${stack.runId}-${status}-${++sequence}`;
      await stack.db.query(
        `INSERT INTO prescriptions (prescription_id, patient_id, medication_ndc, quantity, prescriber_npi, status, received_at)
         VALUES ($1, 'patient-x', '11111-0001-01', 1, '1234567893', $2, now())`,
        [id, status],
      );
      return id;
    };
    for (const status of finalFulfillmentStatuses) {
      const id = await insert(status);
      const next = status === 'Delivered' ? 'PaymentExpired' : 'Delivered';
      const refused = await stack.db.query('UPDATE prescriptions SET status = $2 WHERE prescription_id = $1', [id, next]).catch((err: unknown) => err);
      expect(refused).toMatchObject({ code: '23514', message: `prescription ${id} is ${status}, a final status; it cannot become ${next}` });
      // Its other columns, and the status written again as it is, are not a move.
      await stack.db.query('UPDATE prescriptions SET status = status, updated_at = now() WHERE prescription_id = $1', [id]);
      expect((await stack.db.query('SELECT status FROM prescriptions WHERE prescription_id = $1', [id])).rows).toEqual([{ status }]);
    }
    const overdue = await insert('DeliveryOverdue');
    await stack.db.query("UPDATE prescriptions SET status = 'Delivered' WHERE prescription_id = $1", [overdue]);
    expect((await stack.db.query('SELECT status FROM prescriptions WHERE prescription_id = $1', [overdue])).rows).toEqual([{ status: 'Delivered' }]);
  });
});
