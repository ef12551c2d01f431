import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  log,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import type { AllocationActivities, TrainerAllocation } from '../activities/allocation';
import type { CacheActivities } from '../activities/cache';
import type { EventActivities } from '../activities/events';
import type { PurchaseActivities } from '../activities/purchase';
import { correlationIdKey, pipelineStatusKey } from '../contracts/pipeline';
import type { RefundOutcome } from '../contracts/payment';
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
import { oneDecisionPerQuestion, operatorControls, type OperatorControls } from './operator';
import { patchesOfThisRun, type RunPatches } from './patches';
import { paymentLedger } from './refunds';
import { bestEffort, databaseStep, externalCall, localBestEffort, localDatabaseStep } from './step-options';
import { sessionWindowWorkflow } from './session-window';

/**
 * The purchase's PostgreSQL and Kafka steps are a few milliseconds each. They run as local
 * activities, inside the workflow task that needs them, with the same timeout, retries and outage
 * handling, instead of a round trip through the server each: creating and announcing the purchase
 * takes the first workflow task, and announcing the allocation the one that takes the admin
 * service's answer. A worker that dies mid-step runs the step again, which all allow (unique keys,
 * event IDs from the business identity). Runs that began before this keep their remote steps.
 */
const ledgerStepsLocal = 'purchase-ledger-steps-local';

/** Each step of the purchase, named after its activity, with its option set. */
const purchaseSteps = (operator: OperatorControls, local: boolean) => {
  const ledgerStep = local ? localDatabaseStep : databaseStep;
  return operator.steps<PurchaseActivities & EventActivities & AllocationActivities>({
    createPurchase: ledgerStep,
    emitPurchaseCreated: ledgerStep,
    // A refusal by the admin service ("no trainer available") is an answer, not an outage: it is
    // thrown non-retryable and waits for an operator who has made room (see allocationRefusedErrorType).
    allocateTrainer: externalCall,
    emitTrainerAllocated: ledgerStep,
    deactivatePurchase: ledgerStep,
  });
};
// Not a step: nobody waits for it, and its failure is only logged.
const caches = proxyActivities<CacheActivities>(bestEffort.activity);
/**
 * Deleting two Redis keys takes a millisecond: as a local activity it runs inside the purchase's
 * first workflow task instead of as an activity task of its own, whose completion woke the run for
 * a workflow task that did nothing else (6 of a purchase's 28 events). Runs that began before keep
 * it remote.
 */
const cacheInvalidationLocal = 'purchase-cache-invalidation-local';
const localCaches = proxyLocalActivities<CacheActivities>(localBestEffort.localActivity);

/**
 * Runs from here on keep no money they cannot use: a second payment for a course the student has
 * active is refunded, and an operator's abort refunds the payment and deactivates the purchase.
 * Runs that began before kept the payment and undid nothing on abort.
 */
const moneyGivenBack = 'purchase-money-given-back';

/**
 * One workflow per confirmed payment (the bridge starts it from `purchase-confirmed`): create the
 * purchase, announce it, invalidate the student's caches alongside, allocate a trainer, announce
 * that, and hand the allocation to its own long-running session window.
 */
export async function purchaseToSessionsWorkflow(request: PurchaseRequest): Promise<PurchaseOutcome> {
  const patches = patchesOfThisRun([cacheInvalidationLocal, oneDecisionPerQuestion]);
  const { paymentId, studentId, courseId } = request;
  const outcome: PurchaseOutcome = { status: 'CreatingPurchase' };
  const operator = operatorControls(patches);
  const steps = purchaseSteps(operator, patches.has(ledgerStepsLocal));
  const refunds: RefundOutcome[] = [];
  const ledger = paymentLedger(operator, refunds, request.paymentTaskQueue);
  setHandler(purchaseStateQuery, () => outcome);

  const purchase = await steps.createPurchase(request);
  outcome.purchaseId = purchase.purchaseId;
  const givesMoneyBack = patches.has(moneyGivenBack);
  if (givesMoneyBack) outcome.refunds = refunds;
  if (purchase.outcome === 'AlreadyActive') {
    if (!givesMoneyBack) {
      log.info('The student already has an active purchase of this course; nothing changes', { studentId, courseId });
      return finish('AlreadyPurchased');
    }
    return refundSecondPayment(purchase.purchaseId);
  }
  // This payment's purchase went all the way in a run that has left Temporal (retention), and its
  // confirmation came again: end as that run did, announcing and starting nothing. No recorded
  // result holds this outcome, which is new, so old histories replay unchanged without a patch.
  if (purchase.outcome === 'AlreadyAllocated') {
    Object.assign(outcome, purchase.allocation);
    return finish('SessionsScheduled');
  }
  // Likewise new: an aborted run refunded this payment and deactivated its purchase.
  if (purchase.outcome === 'Deactivated') return finish('Deactivated');
  if (givesMoneyBack) undoOnAbort(purchase.purchaseId);
  const created = purchaseCreatedEvent(request, purchase.purchaseId);
  await steps.emitPurchaseCreated(created);
  const cachesInvalidated = invalidateCaches(studentId, patches.has(cacheInvalidationLocal) ? localCaches : caches);

  outcome.status = 'AllocatingTrainer';
  // No undo ends the allocation: the admin service has no way to release one, and an allocation
  // ended in our table alone would break the student's next purchase of the course (the admin
  // service answers this same allocation again, which allocateTrainer would find ended). An abort
  // here, "no trainer available", has none to end; one at emitTrainerAllocated leaves the trainer's
  // allocation for a person to release at the admin service, with no session window started.
  const allocation = await steps.allocateTrainer({ purchaseId: purchase.purchaseId, studentId, courseId });
  Object.assign(outcome, allocation);
  const allocated = trainerAllocatedEvent(created, allocation);
  await steps.emitTrainerAllocated(allocated);

  await startSessionWindow(patches, allocation, request);
  await cachesInvalidated;
  return finish('SessionsScheduled');

  function finish(status: PurchaseOutcome['status']): PurchaseOutcome {
    outcome.status = status;
    operator.setStatus('Completed');
    return outcome;
  }

  /**
   * A second payment for a course the student has active is refunded, not kept as credit: there is
   * no credit ledger to keep it in, and a refund is what the student sees on their card. A payment
   * our ledger does not have (the legacy payment service's during the migration, or a forged
   * confirmation) cannot be refunded through the provider from here: the run ends flagged for a
   * person to refund it by hand.
   */
  async function refundSecondPayment(activePurchaseId: string): Promise<PurchaseOutcome> {
    const payment = await ledger.lookUpPayment(paymentId);
    if (!payment) {
      log.warn('Second payment for an active course is not in our ledger; a person must refund it', { paymentId, activePurchaseId });
      finish('AlreadyPurchased');
      operator.flagForPerson('refundPayment', 'Refusal', `refund payment ${paymentId} by hand: it is not in our ledger`);
      return outcome;
    }
    await ledger.refund({ paymentId, reason: `student ${studentId} already has course ${courseId} (purchase ${activePurchaseId})` });
    log.info('The student already has an active purchase of this course; the payment was refunded', { paymentId, activePurchaseId });
    return finish('AlreadyPurchased');
  }

  /**
   * What an operator's abort undoes once the purchase exists, newest first: the refund, then the
   * purchase. In that order, a refund that waits for a person (the provider refused it, or our
   * ledger has no such payment) leaves the student the course they paid for, never neither.
   */
  function undoOnAbort(purchaseId: string): void {
    operator.addCompensation('createPurchase', () => steps.deactivatePurchase(purchaseId), `deactivate purchase ${purchaseId}`);
    operator.addCompensation(
      'payment',
      () => ledger.refund({ paymentId, reason: `purchase ${purchaseId} aborted` }),
      `refund payment ${paymentId}`,
    );
  }
}

/** Runs alongside the purchase, which never waits for it to succeed: a failure is only logged. */
async function invalidateCaches(studentId: string, { invalidateStudentCaches }: CacheActivities): Promise<void> {
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
async function startSessionWindow(patches: RunPatches, allocation: TrainerAllocation, { studentId, trace }: PurchaseRequest): Promise<void> {
  const { allocationId, trainerId } = allocation;
  try {
    await startChild(sessionWindowWorkflow, {
      workflowId: sessionWindowWorkflowId(allocationId),
      // The trace goes as a header (src/workflows/trace-context.ts); the memo shows it in the Web UI.
      args: [{ allocationId, studentId, trainerId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      ...(patches.has(sessionWindowStartBounded)
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
