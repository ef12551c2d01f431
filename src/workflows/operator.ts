import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  log,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  attentionQuery,
  failedStepKey,
  operatorDecisionSignal,
  pipelineStatusKey,
  type Attention,
  type OperatorDecision,
  type PipelineStatus,
} from '../contracts/pipeline';

/**
 * Replaces the legacy dead-letter queue. When a step has used up its retry policy the workflow
 * does not disappear: it marks itself `NeedsAttention` (searchable in the Web UI and with
 * `temporal workflow list --query "PipelineStatus='NeedsAttention'"`) and waits for an operator
 * to send `retry` or `abort`.
 */
export interface OperatorControls {
  /** Runs `run`; on an activity failure parks until an operator decides, then retries or aborts. */
  step<T>(name: string, run: () => Promise<T>): Promise<T>;
  setStatus(status: PipelineStatus): void;
}

export function operatorControls(): OperatorControls {
  const attention: Attention = { status: 'Running' };
  let decision: OperatorDecision | undefined;

  setHandler(operatorDecisionSignal, (d) => {
    decision = d;
  });
  setHandler(attentionQuery, () => attention);

  function setStatus(status: PipelineStatus, failedStep = ''): void {
    attention.status = status;
    attention.failedStep = failedStep || undefined;
    upsertSearchAttributes([
      { key: pipelineStatusKey, value: status },
      { key: failedStepKey, value: failedStep },
    ]);
  }

  async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await run();
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        attention.lastError = (err.cause ?? err).message;
        log.error('Step exhausted its retries; waiting for an operator', { step: name, error: attention.lastError });
        setStatus('NeedsAttention', name);
        decision = undefined;
        await condition(() => decision !== undefined);
        if (decision === 'abort') {
          setStatus('Aborted', name);
          throw ApplicationFailure.nonRetryable(`Aborted by an operator at step ${name}`, 'OperatorAbort');
        }
        log.info('Operator asked to retry', { step: name });
        setStatus('Running');
      }
    }
  }

  return { step, setStatus };
}
