import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { createAllocationActivities, type AdminServiceOptions } from '../activities/allocation';
import { createBookingActivities } from '../activities/booking';
import { createCacheActivities } from '../activities/cache';
import { createEventActivities } from '../activities/events';
import { createPurchaseActivities } from '../activities/purchase';
import { createSessionActivities } from '../activities/sessions';
import type { PurchaseEventTopics } from '../contracts/purchase';

export interface ActivityDependencies {
  db: Pool;
  /** What the purchase pipeline talks to besides PostgreSQL; without it only the booking activities exist. */
  purchases?: PurchaseDependencies;
}

export interface PurchaseDependencies {
  /** Connected. */
  producer: Producer;
  redis: Redis;
  adminService: AdminServiceOptions;
  /** Where PURCHASE_CREATED and TRAINER_ALLOCATED go; the contract's topics unless a test gives its own. */
  eventTopics?: PurchaseEventTopics;
}

/** Every activity the workers register, built from real dependencies. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createBookingActivities(deps.db),
    ...(deps.purchases && createPurchasePipelineActivities(deps.db, deps.purchases)),
  };
}

export function createPurchasePipelineActivities(db: Pool, deps: PurchaseDependencies) {
  return {
    ...createPurchaseActivities(db),
    ...createEventActivities(deps.producer, deps.eventTopics),
    ...createCacheActivities(deps.redis),
    ...createAllocationActivities(db, deps.adminService),
    ...createSessionActivities(db),
  };
}
