import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { TraceContext } from '../trace';
import type { RefundOutcome } from './payment';
import type { PurchaseConfirmed, PurchaseCreated, TrainerAllocated } from './purchase-events';

/**
 * Contract of the purchase-to-sessions process (seeds 001 and 003): topics, event shapes,
 * workflow identities and messages. The bridge, workflows, activities and tests all import these;
 * the event schemas are in ./purchase-events, out of the workflow bundle.
 */
export type { PurchaseConfirmed, PurchaseCreated, TrainerAllocated };
export const purchaseTaskQueue = 'purchases';
export const purchaseConfirmedTopic = 'purchase-confirmed';
export const purchaseCreatedTopic = 'purchase-created';
export const trainerAllocatedTopic = 'trainer-allocated';

/** Where the emitted events go; tests give each run its own topics. */
export interface PurchaseEventTopics {
  purchaseCreated: string;
  trainerAllocated: string;
}
export const purchaseEventTopics: PurchaseEventTopics = {
  purchaseCreated: purchaseCreatedTopic,
  trainerAllocated: trainerAllocatedTopic,
};

// A purchase's identity is its payment: the payment service keeps provider payment IDs unique.
const purchasePrefix = 'purchase-';
export const purchaseWorkflowId = (paymentId: string): string => `${purchasePrefix}${paymentId}`;
export const paymentIdFromWorkflowId = (workflowId: string): string | undefined =>
  workflowId.startsWith(purchasePrefix) ? workflowId.slice(purchasePrefix.length) : undefined;

const sessionWindowPrefix = 'session-window-';
export const sessionWindowWorkflowId = (allocationId: string): string => `${sessionWindowPrefix}${allocationId}`;
export const allocationIdFromWorkflowId = (workflowId: string): string | undefined =>
  workflowId.startsWith(sessionWindowPrefix) ? workflowId.slice(sessionWindowPrefix.length) : undefined;


export const purchaseCreatedEventId = (paymentId: string): string => `PURCHASE_CREATED:${paymentId}`;
export const trainerAllocatedEventId = (allocationId: string): string => `TRAINER_ALLOCATED:${allocationId}`;

/**
 * The admin service said no ("no trainer available", or it refused the request). Retrying cannot
 * change that, so the activity throws it non-retryable: the workflow parks as a `Refusal` until an
 * operator has made room and sends `retry`.
 */
export const allocationRefusedErrorType = 'AllocationRefused';

/**
 * The confirmation as the bridge hands it to the workflow, with its Kafka trace context.
 * `paymentTaskQueue`: where the payment workers make refunds; the payment contract's unless a test
 * runs its own.
 */
export type PurchaseRequest = PurchaseConfirmed & { trace: TraceContext; paymentTaskQueue?: string };

export type PurchaseStatus =
  | 'CreatingPurchase'
  | 'AllocatingTrainer'
  | 'SessionsScheduled'
  /**
   * Another purchase of the same course by the same student is active (`purchaseId` is that one);
   * nothing was changed, and this payment was refunded (`refunds`) or left to a person to refund.
   */
  | 'AlreadyPurchased'
  /**
   * This payment's purchase was deactivated by an earlier run's abort (after that abort's refund):
   * a confirmation delivered again once that run has left Temporal changes nothing.
   */
  | 'Deactivated';

export interface PurchaseOutcome {
  status: PurchaseStatus;
  purchaseId?: string;
  allocationId?: string;
  trainerId?: string;
  /** The money this run gave back: a second payment for an active course, or an abort's refund. */
  refunds?: RefundOutcome[];
}

export const purchaseStateQuery = defineQuery<PurchaseOutcome>('purchaseState');

/**
 * The allocation a session window serves. Windows started before the trace travelled as a header
 * also have a `trace` field here; nothing reads it any more.
 */
export interface SessionWindowInput {
  allocationId: string;
  studentId: string;
  trainerId: string;
}

export interface SessionWindowState {
  allocationId: string;
  /** Top-up checks in this run (the count restarts after continue-as-new). */
  checks: number;
  /** Sessions this run added. */
  sessionsAdded: number;
  ended: boolean;
}

/**
 * The allocation is over; the window stops adding sessions:
 *   temporal workflow signal --workflow-id session-window-<allocationId> --name allocationEnded
 */
export const allocationEndedSignal = defineSignal('allocationEnded');
export const sessionWindowStateQuery = defineQuery<SessionWindowState>('sessionWindowState');
