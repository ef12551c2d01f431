import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * Names shared by every pipeline workflow, the bridge and the operator's CLI commands.
 * `searchAttributes` is the one list the dev server, docker-compose.yml and the test servers
 * register (see scripts/stack/search-attributes.ts).
 */
export const pipelineStatusKey = defineSearchAttributeKey('PipelineStatus', 'KEYWORD');
export const failedStepKey = defineSearchAttributeKey('FailedStep', 'KEYWORD');
/** `Outage` (the run keeps retrying by itself) or `Refusal` (it waits for a person); unset when running. */
export const attentionKindKey = defineSearchAttributeKey('AttentionKind', 'KEYWORD');
export const correlationIdKey = defineSearchAttributeKey('CorrelationId', 'KEYWORD');
/**
 * Set on a run that gives money back (src/workflows/refunds.ts): `Refunding` from the moment it
 * asks, `Refunded` once the provider has. A refund the provider refuses leaves `Refunding` with
 * the run `NeedsAttention` at `refundPayment`: `RefundStatus='Refunding'` lists the money a person must see to.
 */
export const refundStatusKey = defineSearchAttributeKey('RefundStatus', 'KEYWORD');

export const searchAttributes = [pipelineStatusKey, failedStepKey, attentionKindKey, correlationIdKey, refundStatusKey];

export type PipelineStatus = 'Running' | 'NeedsAttention' | 'Completed' | 'Rejected' | 'Aborted';

/**
 * Why a run needs attention. An outage (timeouts, connection refused, 5xx: the step's retries ran
 * out on a retryable failure) is retried by the run itself at a slow interval until its option
 * set's deadline; a refusal (a non-retryable failure, e.g. "no trainer available") waits for a person.
 */
/**
 * Why a run needs a person: a step's `Outage` or `Refusal`; or, with no failed step, a parcel
 * `Overdue` past its delivery deadline, a `LatePayment` that arrived while its link was closing, or
 * a payment refused (`PaymentRefused`): one the ledger does not have, or not the one the run asked for.
 * `Undecodable` is never a pipeline run's own: it marks the flag a worker starts for a run whose
 * workflow task it cannot decode (src/contracts/undecodable-run.ts), since the stuck run itself
 * cannot run a line of code to say so.
 */
export type AttentionKind = 'Outage' | 'Refusal' | 'Overdue' | 'LatePayment' | 'PaymentRefused' | 'Undecodable' | 'DemographicsChanged';

export type OperatorDecision = 'retry' | 'abort';

/**
 * Sent by an operator to a workflow parked in `NeedsAttention`:
 *   temporal workflow signal --workflow-id <id> --name operatorDecision --input '"retry"'
 */
export const operatorDecisionSignal = defineSignal<[OperatorDecision]>('operatorDecision');

/** What an undo registered by a step did when the run was aborted or refused. */
export interface CompensationOutcome {
  step: string;
  outcome: 'Compensated' | 'Failed';
  error?: string;
}

/** Where a parked workflow stopped and why; `temporal workflow query --name attention`. */
export interface Attention {
  status: PipelineStatus;
  failedStep?: string;
  kind?: AttentionKind;
  lastError?: string;
  /** While an outage lasts: how often Temporal tries the step again (e.g. `2 minutes`). */
  retryingEvery?: string;
  /** Runs before Temporal retried outages: when the run tries the step again by itself (ISO time). */
  nextRetryAt?: string;
  /** After this (ISO time) an outage also waits for a person. */
  retriesBySelfUntil?: string;
  compensations?: CompensationOutcome[];
}
export const attentionQuery = defineQuery<Attention>('attention');
