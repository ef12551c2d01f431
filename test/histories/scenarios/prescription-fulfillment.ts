import { fulfillmentStateQuery, paymentCompletedSignal, prescriptionWorkflowId, shipmentTrackingWorkflowId } from '../../../src/contracts/prescription';
import { prescriptionFulfillmentWorkflow } from '../../../src/workflows/prescription';
import type { PipelineHistories, StackRecordingContext } from './scenarios';
import { prescriptionFulfillmentPipeline } from '../../../src/pipelines/prescription-fulfillment';

async function onStack(recording: StackRecordingContext) {
  const { client, taskQueue, run, trace } = recording;
  // The real activities, calling the stack's partner stand-ins (scripts/stack.sh up starts them);
  // the audit log names the recorder as the actor.
  const activities = prescriptionFulfillmentPipeline.createActivities({ ...recording, config: { ...recording.config, SERVICE_NAME: 'record-histories' } });
  const prescription = (n: string, payerId = 'payer-standard') => {
    const prescriptionId = `rx_rec_${run}_${n}`;
    return client.workflow.start(prescriptionFulfillmentWorkflow, {
      workflowId: prescriptionWorkflowId(prescriptionId),
      taskQueue,
      args: [
        {
          prescriptionId,
          patient: {
            patientId: `patient_rec_${run}_${n}`,
            name: 'Recorded Patient',
            dateOfBirth: '1970-01-01',
            address: { line1: '1 Test Street', city: 'Testville', postalCode: '10001', country: 'US' },
          },
          prescriber: { npi: '1234567893', name: 'Dr. Recorder' },
          medication: { ndc: '11111-0001-01', name: 'Metformin', quantity: 60 },
          insurance: { payerId, memberId: `M_rec_${run}_${n}` },
          writtenOn: '2030-01-01',
          receivedAt: '2030-01-02T09:00:00Z',
          trace,
          timings: { paymentWindow: '5 seconds', trackingInterval: '2 seconds', deliveryDeadline: '1 minute' },
        },
      ],
    });
  };
  const scenarios: Record<string, () => Promise<string>> = {
    'prescription-paid-and-delivered': async () => {
      const h = await prescription('paid');
      while ((await h.query(fulfillmentStateQuery)).status !== 'AwaitingPayment') await new Promise((r) => setTimeout(r, 200));
      const { prescriptionId } = await h.query(fulfillmentStateQuery);
      await h.signal(paymentCompletedSignal, { prescriptionId, paymentId: `pay_rec_${run}`, amountCents: 1500, paidAt: '2030-01-02T10:00:00Z' });
      await h.result();
      return h.workflowId;
    },
    'prescription-nothing-owed-delivered': async () => {
      const h = await prescription('covered', 'payer-full-coverage');
      await h.result();
      return h.workflowId;
    },
    'prescription-claim-rejected': async () => {
      const h = await prescription('rejected', 'payer-formulary-strict');
      await h.result();
      return h.workflowId;
    },
    // The tracking child's own history (runs since trackedByChild track in a child workflow).
    'shipment-tracking-delivered': async () => {
      const h = await prescription('tracked', 'payer-full-coverage');
      const { prescriptionId } = await h.result();
      return shipmentTrackingWorkflowId(prescriptionId);
    },
    'prescription-payment-expired': async () => {
      const h = await prescription('expired');
      await h.result();
      return h.workflowId;
    },
  };
  return { activities, scenarios };
}

export const histories: PipelineHistories = { onStack };
