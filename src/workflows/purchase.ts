import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import type { AllocationActivities, TrainerAllocation } from '../activities/allocation';
import type { CacheActivities } from '../activities/cache';
import type { EventActivities } from '../activities/events';
import type { PurchaseActivities } from '../activities/purchase';
import { correlationIdKey, pipelineStatusKey } from '../contracts/pipeline';
import {
  purchaseCreatedEventId,
  purchaseStateQuery,
  sessionWindowWorkflowId,
  trainerAllocatedEventId,
  type PurchaseCreated,
  type PurchaseOutcome,
  type PurchaseRequest,
  type TrainerAllocated,
} from '../contracts/purchase';
import { pipelineStartOptions, type TraceContext } from '../trace';
import { operatorControls, type OperatorControls } from './operator';
import { bestEffort, databaseStep, externalCall } from './step-options';
import { sessionWindowWorkflow } from './session-window';

/** Each step of the purchase, named after its activity, with its option set. */
const purchaseSteps = (operator: OperatorControls) =>
  operator.steps<PurchaseActivities & EventActivities & AllocationActivities>({
    createPurchase: databaseStep,
    emitPurchaseCreated: databaseStep,
    // A refusal by the admin service ("no trainer available") is an answer, not an outage: it is
    // thrown non-retryable and waits for an operator who has made room (see allocationRefusedErrorType).
    allocateTrainer: externalCall,
    emitTrainerAllocated: databaseStep,
  });
// Not a step: nobody waits for it, and its failure is only logged.
const { invalidateStudentCaches } = proxyActivities<CacheActivities>(bestEffort.activity);

/**
 * One workflow per confirmed payment (the bridge starts it from `purchase-confirmed`): create the
 * purchase, announce it, invalidate the student's caches alongside, allocate a trainer, announce
 * that, and hand the allocation to its own long-running session window.
 */
export async function purchaseToSessionsWorkflow(request: PurchaseRequest): Promise<PurchaseOutcome> {
  const { studentId, courseId } = request;
  const outcome: PurchaseOutcome = { status: 'CreatingPurchase' };
  const operator = operatorControls();
  const steps = purchaseSteps(operator);
  setHandler(purchaseStateQuery, () => outcome);

  const purchase = await steps.createPurchase(request);
  outcome.purchaseId = purchase.purchaseId;
  if (purchase.outcome === 'AlreadyActive') {
    log.info('The student already has an active purchase of this course; nothing changes', { studentId, courseId });
    return finish('AlreadyPurchased');
  }
  // This payment's purchase went all the way in a run that has left Temporal (retention), and its
  // confirmation came again: end as that run did, announcing and starting nothing. No recorded
  // result holds this outcome, which is new, so old histories replay unchanged without a patch.
  if (purchase.outcome === 'AlreadyAllocated') {
    Object.assign(outcome, purchase.allocation);
    return finish('SessionsScheduled');
  }
  const created = purchaseCreatedEvent(request, purchase.purchaseId);
  await steps.emitPurchaseCreated(created);
  const cachesInvalidated = invalidateCaches(studentId);

  outcome.status = 'AllocatingTrainer';
  const allocation = await steps.allocateTrainer({ purchaseId: purchase.purchaseId, studentId, courseId });
  Object.assign(outcome, allocation);
  const allocated = trainerAllocatedEvent(created, allocation);
  await steps.emitTrainerAllocated(allocated);

  await startSessionWindow(allocation, request);
  await cachesInvalidated;
  return finish('SessionsScheduled');

  function finish(status: PurchaseOutcome['status']): PurchaseOutcome {
    outcome.status = status;
    operator.setStatus('Completed');
    return outcome;
  }
}

/** Runs alongside the purchase, which never waits for it to succeed: a failure is only logged. */
async function invalidateCaches(studentId: string): Promise<void> {
  try {
    await invalidateStudentCaches(studentId);
  } catch (err) {
    log.warn('Cache invalidation failed; the purchase goes on', { studentId, error: (err as Error).message });
  }
}

/**
 * The session window's start takes the options every pipeline start takes. Before this, it wrote
 * the correlation ID whole as its search attribute, and the bridge lets a correlation ID be up to
 * 8 KB: over 2,048 bytes the server refused the start and terminated the purchase
 * (BadStartChildExecutionAttributes) before its sessions were scheduled. Runs that began before
 * this keep their start as it was.
 */
const sessionWindowStartBounded = 'session-window-start-bounded';

/**
 * The session window outlives this workflow: it runs for as long as the allocation does. One that
 * this allocation already has (the admin service answered an allocation this student already had,
 * or an operator reset this run) is that allocation's window; nothing to start. Runs that began
 * before `sessionWindowStartBounded` count only a running window: they would start another after
 * one ended.
 */
async function startSessionWindow(allocation: TrainerAllocation, { studentId, trace }: PurchaseRequest): Promise<void> {
  const { allocationId, trainerId } = allocation;
  try {
    await startChild(sessionWindowWorkflow, {
      workflowId: sessionWindowWorkflowId(allocationId),
      // The trace goes as a header (src/workflows/trace-context.ts); the memo shows it in the Web UI.
      args: [{ allocationId, studentId, trainerId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      ...(patched(sessionWindowStartBounded)
        ? pipelineStartOptions(trace, `allocation ${allocationId}`)
        : unboundedStartOptions(trace)),
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    log.info('The allocation already has its session window', { allocationId });
  }
}

/** What the session window's start took before `sessionWindowStartBounded`, for the runs that began then. */
const unboundedStartOptions = (trace: TraceContext) => ({
  memo: { trace },
  typedSearchAttributes: [
    { key: pipelineStatusKey, value: 'Running' },
    { key: correlationIdKey, value: trace.correlationId },
  ],
});

// Event IDs come from the business identity and times from the workflow clock, so an operator's
// retry or a replay re-sends exactly the same event.
function purchaseCreatedEvent(request: PurchaseRequest, purchaseId: string): PurchaseCreated {
  const { paymentId, studentId, courseId } = request;
  const occurredAt = new Date().toISOString();
  return { eventId: purchaseCreatedEventId(paymentId), type: 'PURCHASE_CREATED', purchaseId, paymentId, studentId, courseId, occurredAt };
}

function trainerAllocatedEvent(purchase: PurchaseCreated, allocation: TrainerAllocation): TrainerAllocated {
  const { purchaseId, studentId, courseId } = purchase;
  return {
    eventId: trainerAllocatedEventId(allocation.allocationId),
    type: 'TRAINER_ALLOCATED',
    ...allocation,
    purchaseId,
    studentId,
    courseId,
    occurredAt: new Date().toISOString(),
  };
}

// The purchase pipeline's workers bundle this module: the session windows it starts run there too.
export { sessionWindowWorkflow } from './session-window';

// Every pipeline's workers also run the flag for a run they cannot decode (src/pipelines/pipeline.ts).
export { undecodableRunWorkflow } from './undecodable-run';
