import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { attentionQuery, operatorDecisionSignal, type Attention, type AttentionKind } from '../../../src/contracts/pipeline';
import {
  defaultFulfillmentTimings,
  fulfillmentStateQuery,
  paymentCompletedSignal,
  prescriptionWorkflowId,
  type FulfillmentState,
  type FulfillmentStatus,
  type FulfillmentTimings,
  type PrescriptionRequest,
} from '../../../src/contracts/prescription';
import { paymentTaskQueue, paymentWorkflowId } from '../../../src/contracts/payment';
import { paymentApiWithRuns, paymentRun } from '../../support/payment-api';
import { nothingOwedSteps } from '../../support/prescription-intake';
import { paymentPipeline } from '../../../src/pipelines/payment';
import type { TraceContext } from '../../../src/trace';
import { workflowCodeOf } from '../../../src/workers/workflows-path';
import { prescriptionFulfillmentWorkflow } from '../../../src/workflows/prescription';
import type { PipelineHistories, StackRecordingContext, TestServerContext } from './scenarios';
import { prescriptionFulfillmentPipeline } from '../../../src/pipelines/prescription-fulfillment';
import { undeliverablePostalCode } from '../../../stand-ins/partner-services/carrier';

type Prescription = WorkflowHandle<typeof prescriptionFulfillmentWorkflow>;

/**
 * What sets a recorded prescription on its path, by the stand-ins' rules (stand-ins/partner-services):
 * the payer picks the insurer's answer and a member ID starting LAPSED is ineligible; the carrier
 * never delivers to postal code 99999; an NPI with a wrong check digit is invalid.
 */
interface Story {
  payerId?: string;
  memberId?: string;
  npi?: string;
  postalCode?: string;
  /** Another prescription's patient, as a (perhaps forged) intake naming them would. */
  patientId?: string;
  timings?: Partial<FulfillmentTimings>;
}

/** Short enough that a payment link expires, a parcel is tracked and a deadline passes while the recorder waits. */
const stackTimings: FulfillmentTimings = { paymentWindow: '5 seconds', trackingInterval: '2 seconds', deliveryDeadline: '1 minute' };

function startPrescription(client: Client, taskQueue: string, trace: TraceContext, prescriptionId: string, story: Story, timings: FulfillmentTimings) {
  return client.workflow.start(prescriptionFulfillmentWorkflow, {
    workflowId: prescriptionWorkflowId(prescriptionId),
    taskQueue,
    args: [
      {
        prescriptionId,
        patient: {
          patientId: story.patientId ?? `patient_${prescriptionId}`,
          name: 'Recorded Patient',
          dateOfBirth: '1970-01-01',
          address: { line1: '1 Test Street', city: 'Testville', postalCode: story.postalCode ?? '10001', country: 'US' },
        },
        prescriber: { npi: story.npi ?? '1234567893', name: 'Dr. Recorder' },
        medication: { ndc: '11111-0001-01', name: 'Metformin', quantity: 60 },
        insurance: { payerId: story.payerId ?? 'payer-standard', memberId: story.memberId ?? `M_${prescriptionId}` },
        writtenOn: '2030-01-01',
        receivedAt: '2030-01-02T09:00:00Z',
        trace,
        timings: { ...timings, ...story.timings },
      } satisfies PrescriptionRequest,
    ],
  });
}

/** The run's outcome, which must be the one its scenario is named for: a recording of another path fails. */
async function endsAs(h: Prescription, status: FulfillmentStatus): Promise<FulfillmentState> {
  const outcome = await h.result();
  assert.equal(outcome.status, status, `${h.workflowId} ended ${outcome.status} (${outcome.reason ?? 'no reason'})`);
  return outcome;
}

/** Likewise for where a run waits for a person. */
function parkedAs({ status, failedStep, kind }: Attention, step: string, expected: AttentionKind): void {
  assert.deepEqual({ status, failedStep, kind }, { status: 'NeedsAttention', failedStep: step, kind: expected });
}

/**
 * Sets a partner stand-in's control (`/control/faults` of every stand-in, `/control/delivery` of the
 * carrier's); answers what it was before, to put back.
 */
async function control<T>(serviceUrl: string, path: '/control/faults' | '/control/delivery', change: object): Promise<T> {
  const url = new URL(path, serviceUrl);
  const before = (await (await fetch(url)).json()) as T;
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(change) });
  assert.ok(res.ok, `${url} answered ${res.status}`);
  return before;
}

async function onStack(recording: StackRecordingContext) {
  const { client, taskQueue, run, trace, waitUntilParked, config } = recording;
  // The real activities, calling the stack's partner stand-ins (scripts/stack.sh up starts them);
  // the audit log names the recorder as the actor.
  const activities = prescriptionFulfillmentPipeline.createActivities({ ...recording, config: { ...config, SERVICE_NAME: 'record-histories' } });
  const prescription = (n: string, story: Story = {}) => startPrescription(client, taskQueue, trace, `rx_rec_${run}_${n}`, story, stackTimings);
  const nothingOwed = 'payer-full-coverage';

  // Payments are checked in the ledger and refunded by the payment pipeline: its API (here, with the
  // recorder's client, so its runs hold clear text too) and its workers on its task queue, charging
  // through the stack's payment provider.
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const paymentWorker = await Worker.create({
    connection,
    taskQueue: paymentTaskQueue,
    ...workflowCodeOf(paymentPipeline.workflowsPath),
    activities: paymentPipeline.createActivities(recording),
  });
  const payments = paymentWorker.run();
  const api = await paymentApiWithRuns({ db: recording.db, client });
  /** Pays the copay's link through the payment API; answers the payment once charged, as `payment.completed` announces it. */
  const pay = async ({ prescriptionId }: FulfillmentState, amountCents = 1500) => {
    const linkId = `link-${prescriptionId}`;
    const response = await api.inject({
      method: 'POST',
      url: '/payments',
      headers: { 'idempotency-key': `rec-${randomUUID()}` },
      payload: { amountCents, currency: 'USD', card: '4242424242424242', purpose: { kind: 'copay', prescriptionId, linkId } },
    });
    assert.equal(response.statusCode, 202, response.body);
    const { paymentId } = response.json<{ paymentId: string }>();
    await (await paymentRun(client, paymentId)).result();
    return { prescriptionId, paymentId, linkId, amountCents, paidAt: '2030-01-02T10:00:00Z' };
  };
  const awaitingPayment = async (h: Prescription) => {
    while ((await h.query(fulfillmentStateQuery)).status !== 'AwaitingPayment') await new Promise((r) => setTimeout(r, 200));
    return h.query(fulfillmentStateQuery);
  };

  const scenarios: Record<string, () => Promise<string>> = {
    'prescription-paid-and-delivered': async () => {
      const h = await prescription('paid', { timings: { paymentWindow: '1 minute' } });
      await h.signal(paymentCompletedSignal, await pay(await awaitingPayment(h)));
      await endsAs(h, 'Delivered');
      return h.workflowId;
    },
    // A forged payment (not in the ledger) and a charge of 1 cent are refused, the charge refunded;
    // the copay that follows is taken.
    'prescription-payment-refused-then-paid': async () => {
      const h = await prescription('refused', { timings: { paymentWindow: '1 minute' } });
      const state = await awaitingPayment(h);
      const { prescriptionId } = state;
      const forged = { prescriptionId, paymentId: `pay_forged_${run}`, linkId: `link-${prescriptionId}`, amountCents: 1500, paidAt: '2030-01-02T10:00:00Z' };
      await h.signal(paymentCompletedSignal, forged);
      await h.signal(paymentCompletedSignal, await pay(state, 1));
      await h.signal(paymentCompletedSignal, await pay(state));
      const outcome = await endsAs(h, 'Delivered');
      assert.equal(outcome.refusedPayments?.length, 2);
      assert.equal(outcome.refunds?.length, 1);
      return h.workflowId;
    },
    'prescription-second-payment-refunded': async () => {
      const h = await prescription('second', { timings: { paymentWindow: '1 minute' } });
      const state = await awaitingPayment(h);
      await h.signal(paymentCompletedSignal, await pay(state));
      await h.signal(paymentCompletedSignal, await pay(state));
      const outcome = await endsAs(h, 'Delivered');
      assert.match(outcome.refunds?.[0]?.reason ?? '', /^second payment for prescription /);
      return h.workflowId;
    },
    // The carrier refuses the label after the payment; an operator aborts: the payment is refunded,
    // the link closed and the abort audited.
    'prescription-paid-then-aborted': async () => {
      const carrier = config.CARRIER_SERVICE_URL;
      const h = await prescription('aborted', { timings: { paymentWindow: '1 minute' } });
      const payment = await pay(await awaitingPayment(h));
      const before = await control<{ failStatus: number }>(carrier, '/control/faults', { failNext: 1, failStatus: 422 });
      try {
        await h.signal(paymentCompletedSignal, payment);
        parkedAs(await waitUntilParked(h.workflowId), 'createShippingLabel', 'Refusal');
        await h.signal(operatorDecisionSignal, 'abort');
        await assert.rejects(h.result(), /Workflow execution failed/);
        assert.equal((await h.query(fulfillmentStateQuery)).refunds?.[0]?.reason, `prescription ${payment.prescriptionId} aborted`);
        return h.workflowId;
      } finally {
        await control(carrier, '/control/faults', { failNext: 0, failStatus: before.failStatus });
      }
    },
    // An intake names the patient of an open prescription with another address: a person is asked,
    // confirms the change, and the run goes on (runs since demographics-change-held).
    'prescription-demographics-change-confirmed': async () => {
      const open = await prescription('open', { timings: { paymentWindow: '1 minute' } });
      const openState = await awaitingPayment(open);
      const h = await prescription('changed', { payerId: nothingOwed, postalCode: '10002', patientId: `patient_${openState.prescriptionId}` });
      parkedAs(await waitUntilParked(h.workflowId), 'enrollPatient', 'DemographicsChanged');
      await h.signal(operatorDecisionSignal, 'retry');
      await endsAs(h, 'Delivered');
      await open.signal(paymentCompletedSignal, await pay(openState));
      await endsAs(open, 'Delivered');
      return h.workflowId;
    },
    'prescription-nothing-owed-delivered': async () => {
      const h = await prescription('covered', { payerId: nothingOwed });
      await endsAs(h, 'Delivered');
      return h.workflowId;
    },
    'prescription-claim-rejected': async () => {
      const h = await prescription('rejected', { payerId: 'payer-formulary-strict' });
      await endsAs(h, 'ClaimRejected');
      return h.workflowId;
    },
    // No 'shipment-tracking-delivered' any more: runs since tracked-by-activity-retries start no
    // tracking child. Its recorded histories stay, for the runs that began before.
    'prescription-payment-expired': async () => {
      const h = await prescription('expired');
      await endsAs(h, 'PaymentExpired');
      return h.workflowId;
    },
    'prescription-invalid': async () => {
      const h = await prescription('invalid', { npi: '1234567890' }); // the check digit of 123456789 is 3
      await endsAs(h, 'Invalid');
      return h.workflowId;
    },
    'prescription-ineligible': async () => {
      const h = await prescription('ineligible', { memberId: `LAPSED_rec_${run}` });
      await endsAs(h, 'Ineligible');
      return h.workflowId;
    },
    // The carrier never delivers to this postal code; past the deadline a person is asked, and gives up.
    'prescription-delivery-overdue': async () => {
      const h = await prescription('overdue', { payerId: nothingOwed, postalCode: undeliverablePostalCode, timings: { deliveryDeadline: '5 seconds' } });
      parkedAs(await waitUntilParked(h.workflowId), 'trackShipment', 'Overdue');
      await h.signal(operatorDecisionSignal, 'abort');
      await endsAs(h, 'DeliveryOverdue');
      return h.workflowId;
    },
    // The parcel comes after the deadline, while a person is asked: the run ends delivered, and the question is dropped.
    'prescription-delivered-after-overdue': async () => {
      const carrier = config.CARRIER_SERVICE_URL;
      // Labels take the carrier's timing when they are made; this one is delivered 15 s after.
      const before = await control<{ deliveredAfterMs: number }>(carrier, '/control/delivery', { deliveredAfterMs: 15_000 });
      try {
        const h = await prescription('late', { payerId: nothingOwed, timings: { deliveryDeadline: '5 seconds' } });
        parkedAs(await waitUntilParked(h.workflowId), 'trackShipment', 'Overdue');
        await endsAs(h, 'Delivered');
        return h.workflowId;
      } finally {
        await control(carrier, '/control/delivery', before);
      }
    },
    // The pharmacy network refuses once (a 4xx: no retries); the run waits at that step until an
    // operator retries it. The fault is the stand-in's, for whichever request comes next: on a stack
    // that something else also calls, the run may not park, and then waitUntilParked fails.
    'prescription-parked-then-retried': async () => {
      const pharmacy = config.PHARMACY_SERVICE_URL;
      const before = await control<{ failStatus: number }>(pharmacy, '/control/faults', { failNext: 1, failStatus: 422 });
      try {
        const h = await prescription('parked', { payerId: nothingOwed });
        parkedAs(await waitUntilParked(h.workflowId), 'selectPharmacy', 'Refusal');
        await h.signal(operatorDecisionSignal, 'retry');
        await endsAs(h, 'Delivered');
        return h.workflowId;
      } finally {
        await control(pharmacy, '/control/faults', { failNext: 0, failStatus: before.failStatus });
      }
    },
  };
  const close = async () => {
    await api.close();
    paymentWorker.shutdown();
    await payments;
    await connection.close();
  };
  return { activities, scenarios, close };
}

function onTestServer() {
  let pharmacyDown = false;
  const steps = nothingOwedSteps();
  const activities = {
    ...steps,
    async selectPharmacy() {
      if (pharmacyDown) throw new Error('pharmacy selectPharmacy answered 503 (recorded outage)');
      return steps.selectPharmacy();
    },
  };

  const scenarios = {
    // The pharmacy network is down for longer than selectPharmacy's deadline (externalCall: a day);
    // the run stops retrying and waits, and an operator retries once the network is back.
    'prescription-outage-past-deadline': async ({ client, env, taskQueue, trace }: TestServerContext) => {
      pharmacyDown = true;
      const h = await startPrescription(client, taskQueue, trace, `rx_rec_${randomUUID().slice(0, 8)}_outage`, { payerId: 'payer-full-coverage' }, defaultFulfillmentTimings);
      let attention: Attention;
      let hours = 0;
      do {
        await env.sleep('1 hour');
        attention = await h.query(attentionQuery);
      } while ((attention.status !== 'NeedsAttention' || attention.retryingEvery) && ++hours < 30);
      parkedAs(attention, 'selectPharmacy', 'Outage');
      assert.equal(attention.retryingEvery, undefined, 'the outage is still retried by itself after 30 hours');
      pharmacyDown = false;
      await h.signal(operatorDecisionSignal, 'retry');
      await endsAs(h, 'Delivered');
      return { workflowId: h.workflowId, done: async () => undefined };
    },
  };
  return { activities, scenarios };
}

export const histories: PipelineHistories = { onStack, onTestServer };
