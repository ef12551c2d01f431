import path from 'node:path';
import { createAllocationActivities, type AdminServiceOptions } from '../activities/allocation';
import { createCacheActivities } from '../activities/cache';
import { createEventActivities } from '../activities/events';
import { createPurchaseActivities } from '../activities/purchase';
import { createSessionActivities } from '../activities/sessions';
import { purchaseRoutes } from '../bridges/purchase-routes';
import {
  purchaseConfirmedTopic,
  purchaseCreatedTopic,
  purchaseTaskQueue,
  trainerAllocatedTopic,
  type PurchaseEventTopics,
} from '../contracts/purchase';
import { purchaseDemo } from '../demo/purchases';
import { purchaseToSessionsWorkflow } from '../workflows/purchase';
import { sessionWindowWorkflow } from '../workflows/session-window';
import { moduleFile } from '../module-file';
import { everyPipelinesActivities, everyPipelinesWorkflowTypes, type Infrastructure, type Pipeline } from './pipeline';
import { purchaseToSessionsSettings } from './purchase-to-sessions-settings';

export interface PurchaseToSessionsDependencies extends Pick<Infrastructure, 'db' | 'producer' | 'redis'> {
  adminService: AdminServiceOptions;
  /** Where PURCHASE_CREATED and TRAINER_ALLOCATED go; the contract's topics unless a test gives its own. */
  eventTopics?: PurchaseEventTopics;
}

export function createPurchaseToSessionsActivities(deps: PurchaseToSessionsDependencies) {
  return {
    ...createPurchaseActivities(deps.db),
    ...createEventActivities(deps.producer, deps.eventTopics),
    ...createCacheActivities(deps.redis),
    ...createAllocationActivities(deps.db, deps.adminService),
    ...createSessionActivities(deps.db),
  };
}

/**
 * Purchase to sessions (seeds 001 and 003): a confirmed payment becomes a purchase, a trainer
 * allocation through the admin service, and a rolling window of sessions.
 */
export const purchaseToSessionsPipeline: Pipeline = {
  name: 'purchase-to-sessions',
  settings: purchaseToSessionsSettings,
  taskQueue: purchaseTaskQueue,
  bridge: {
    consumerGroup: 'purchase-workflow-bridge',
    consumes: [{ topic: purchaseConfirmedTopic, partitions: 3 }],
    routes: () => purchaseRoutes(),
  },
  emits: [
    { topic: purchaseCreatedTopic, partitions: 3 },
    { topic: trainerAllocatedTopic, partitions: 3 },
  ],
  workflowsPath: moduleFile(__dirname, '..', 'workflows', 'purchase'),
  workflowTypes: [purchaseToSessionsWorkflow.name, sessionWindowWorkflow.name, ...everyPipelinesWorkflowTypes],
  createActivities: ({ db, producer, redis, config }) => ({
    ...createPurchaseToSessionsActivities({ db, producer, redis, adminService: { url: config.ADMIN_SERVICE_URL } }),
    ...everyPipelinesActivities(),
  }),
  historiesPath: path.join(__dirname, '..', '..', 'test', 'histories', 'scenarios', 'purchase-to-sessions.ts'),
  demo: purchaseDemo,
};
