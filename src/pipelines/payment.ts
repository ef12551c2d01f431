import path from 'node:path';
import { createCardPaymentActivities } from '../activities/card-payment';
import { createRefundActivities } from '../activities/refund';
import { paymentTaskQueue } from '../contracts/payment';
import { prescriptionTopics } from '../contracts/prescription';
import { purchaseConfirmedTopic } from '../contracts/purchase';
import { paymentDemo } from '../demo/payments';
import { createPaymentProviderClient, paymentProviderOptions } from '../partners/payment-provider';
import { paymentRefundWorkflow, paymentWorkflow } from '../workflows/payment';
import { moduleFile } from '../module-file';
import { everyPipelinesActivities, everyPipelinesWorkflowTypes, type Pipeline } from './pipeline';
import { paymentSettings } from './payment-settings';

/**
 * Payment (seed 002): the payment API starts one workflow per Idempotency-Key, which charges the
 * card and tells the process it pays for; its workers also make every refund, whoever asks. No
 * Kafka bridge: the API starts the runs itself, which is what seed 002's RabbitMQ commands did.
 */
export const paymentPipeline: Pipeline = {
  name: 'payments',
  settings: paymentSettings,
  taskQueue: paymentTaskQueue,
  emits: [
    { topic: purchaseConfirmedTopic, partitions: 3 },
    { topic: prescriptionTopics.paymentCompleted, partitions: 3 },
  ],
  workflowsPath: moduleFile(__dirname, '..', 'workflows', 'payment'),
  workflowTypes: [paymentWorkflow.name, paymentRefundWorkflow.name, ...everyPipelinesWorkflowTypes],
  createActivities: ({ db, producer, config }) => {
    const provider = createPaymentProviderClient(paymentProviderOptions(config));
    return { ...createCardPaymentActivities({ db, producer, provider }), ...createRefundActivities({ db, provider }), ...everyPipelinesActivities() };
  },
  historiesPath: path.join(__dirname, '..', '..', 'test', 'histories', 'scenarios', 'payment.ts'),
  demo: paymentDemo,
};
