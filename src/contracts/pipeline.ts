import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * Names shared by every pipeline workflow, the bridge and the operator's CLI commands.
 * The search attributes are registered by `scripts/stack/temporal.sh` (and docker-compose.yml).
 */
export const pipelineStatusKey = defineSearchAttributeKey('PipelineStatus', 'KEYWORD');
export const failedStepKey = defineSearchAttributeKey('FailedStep', 'KEYWORD');
export const correlationIdKey = defineSearchAttributeKey('CorrelationId', 'KEYWORD');

export type PipelineStatus = 'Running' | 'NeedsAttention' | 'Completed' | 'Rejected' | 'Aborted';

export type OperatorDecision = 'retry' | 'abort';

/**
 * Sent by an operator to a workflow parked in `NeedsAttention`:
 *   temporal workflow signal --workflow-id <id> --name operatorDecision --input '"retry"'
 */
export const operatorDecisionSignal = defineSignal<[OperatorDecision]>('operatorDecision');

/** Where a parked workflow stopped and why; `temporal workflow query --name attention`. */
export interface Attention {
  status: PipelineStatus;
  failedStep?: string;
  lastError?: string;
}
export const attentionQuery = defineQuery<Attention>('attention');
