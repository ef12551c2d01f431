import path from 'node:path';
import { createPrescriptionActivities } from '../activities/prescription';
import { createPaymentActivities } from '../activities/prescription-payment';
import { prescriptionRoutes } from '../bridges/prescription-routes';
import { prescriptionTaskQueue, prescriptionTopics, type FulfillmentTimings } from '../contracts/prescription';
import { prescriptionDemo } from '../demo/prescriptions';
import { paymentLinksUrl } from '../payment-api/links';
import { createPartnerClients, partnerClientOptions } from '../partners/clients';
import { prescriptionFulfillmentWorkflow, shipmentTrackingWorkflow } from '../workflows/prescription';
import { moduleFile } from '../module-file';
import { everyPipelinesActivities, everyPipelinesWorkflowTypes, type Pipeline, type TopicSpec } from './pipeline';
import { prescriptionFulfillmentSettings } from './prescription-fulfillment-settings';

const topic = (name: string): TopicSpec => ({ topic: name, partitions: 3 });

/** The timings the bridge writes into each run, from this pipeline's variables (or its profile's). */
export function fulfillmentTimings(env: NodeJS.ProcessEnv = process.env): FulfillmentTimings {
  const settings = prescriptionFulfillmentSettings.read(env);
  return {
    paymentWindow: settings.PRESCRIPTION_PAYMENT_WINDOW,
    trackingInterval: settings.PRESCRIPTION_TRACKING_INTERVAL,
    deliveryDeadline: settings.PRESCRIPTION_DELIVERY_DEADLINE,
  };
}

/**
 * Prescription fulfillment (seed 000): an intake starts one workflow per prescription, which runs
 * the legacy workers' chain as steps and waits for the patient's payment as a signal.
 */
export const prescriptionFulfillmentPipeline: Pipeline = {
  name: 'prescription-fulfillment',
  settings: prescriptionFulfillmentSettings,
  taskQueue: prescriptionTaskQueue,
  bridge: {
    consumerGroup: 'prescription-workflow-bridge',
    consumes: [topic(prescriptionTopics.intakeReceived), topic(prescriptionTopics.paymentCompleted)],
    routes: () => prescriptionRoutes({ timings: fulfillmentTimings() }),
  },
  emits: [
    topic(prescriptionTopics.validationCompleted),
    topic(prescriptionTopics.enrollmentCompleted),
    topic(prescriptionTopics.pharmacySelected),
    topic(prescriptionTopics.adjudicationCompleted),
    topic(prescriptionTopics.paymentLinkCreated),
    // Ours when nothing is owed; the bridge finds it already recorded.
    topic(prescriptionTopics.paymentCompleted),
    topic(prescriptionTopics.shipmentLabelCreated),
  ],
  workflowsPath: moduleFile(__dirname, '..', 'workflows', 'prescription'),
  workflowTypes: [prescriptionFulfillmentWorkflow.name, shipmentTrackingWorkflow.name, ...everyPipelinesWorkflowTypes],
  createActivities: ({ db, producer, config }) => {
    const actor = config.SERVICE_NAME;
    return {
      ...createPrescriptionActivities({ db, producer, actor, partners: createPartnerClients(partnerClientOptions(config)) }),
      ...createPaymentActivities({ db, producer, actor, paymentLinkBaseUrl: paymentLinksUrl(config.PAYMENT_API_URL) }),
      ...everyPipelinesActivities(),
    };
  },
  historiesPath: path.join(__dirname, '..', '..', 'test', 'histories', 'scenarios', 'prescription-fulfillment.ts'),
  demo: prescriptionDemo,
};
