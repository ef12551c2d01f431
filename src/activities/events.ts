import type { Producer } from 'kafkajs';
import { purchaseEventTopics, type PurchaseEventTopics } from '../contracts/purchase';
import {
  purchaseCreatedSchema,
  trainerAllocatedSchema,
  type PurchaseCreated,
  type TrainerAllocated,
} from '../contracts/purchase-events';
import { eventHeaders } from '../trace-node';
import { activityLogger } from '../logger';

/**
 * Emits the events existing consumers of the legacy workers listen to. A retried activity may send
 * an event twice; the event ID is derived from the business identity so consumers can drop repeats.
 * Messages are keyed by student, so one student's events stay in order.
 */
export function createEventActivities(producer: Producer, topics: PurchaseEventTopics = purchaseEventTopics) {
  async function emit(topic: string, event: PurchaseCreated | TrainerAllocated): Promise<void> {
    await producer.send({
      topic,
      messages: [{ key: event.studentId, value: JSON.stringify(event), headers: eventHeaders() }],
    });
    activityLogger({ activity: 'emit', topic, eventId: event.eventId }).info(`Emitted ${event.type}`);
  }
  return {
    async emitPurchaseCreated(event: PurchaseCreated): Promise<void> {
      await emit(topics.purchaseCreated, purchaseCreatedSchema.parse(event));
    },
    async emitTrainerAllocated(event: TrainerAllocated): Promise<void> {
      await emit(topics.trainerAllocated, trainerAllocatedSchema.parse(event));
    },
  };
}

export type EventActivities = ReturnType<typeof createEventActivities>;
