import { bookingPipeline } from './booking';
import { declarePersonalFields } from '../logger';
import { paymentPipeline } from './payment';
import type { Pipeline } from './pipeline';
import { prescriptionFulfillmentPipeline } from './prescription-fulfillment';
import { purchaseToSessionsPipeline } from './purchase-to-sessions';

/**
 * The one list of pipelines. Workers, bridges, topic creation, search attributes, the history
 * recorder, the demo and the static checks of docker-compose.yml and the recorded histories all
 * read it. Adding a pipeline is one line here.
 */
export const pipelines: Pipeline[] = [bookingPipeline, purchaseToSessionsPipeline, prescriptionFulfillmentPipeline, paymentPipeline];

declarePersonalFields(pipelines.flatMap((p) => p.settings.personalFields));

export { bridgedPipelines, topicsOf, type Infrastructure, type Pipeline, type TopicSpec } from './pipeline';
