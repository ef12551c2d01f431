import path from 'node:path';
import { createCardPaymentActivities } from '../activities/card-payment';
import { createRefundActivities } from '../activities/refund';
import { PaymentRunStarter } from '../bridges/payment-runs';
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
 * Payment (seed 002): one workflow per Idempotency-Key, which charges the card and tells the
 * process it pays for; its workers also make every refund, whoever asks. No Kafka bridge: the
 * payment API writes the ledger, and the bridges process starts a run for each payment it accepted
 * (seed 002's outbox and RabbitMQ commands).
 */
export const paymentPipeline: Pipeline = {
  name: 'payments',
  settings: paymentSettings,
  taskQueue: paymentTaskQueue,
  runStarter: ({ db, client }) => new PaymentRunStarter({ db, client }),
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
