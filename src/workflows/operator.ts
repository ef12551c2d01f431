import { msToNumber as ms, RetryState, type ActivityOptions } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  attentionKindKey,
  attentionQuery,
  failedStepKey,
  operatorDecisionSignal,
  pipelineStatusKey,
  type Attention,
  type AttentionKind,
  type CompensationOutcome,
  type OperatorDecision,
  type PipelineStatus,
} from '../contracts/pipeline';
import type { StepOptions } from './step-options';
import type { RunPatches } from './patches';

/**
 * Replaces the legacy dead-letter queue. When a step has used up its fast retries the workflow
 * does not disappear: it marks itself `NeedsAttention` (searchable in the Web UI and with
 * `temporal workflow list --query "PipelineStatus='NeedsAttention'"`), says why in its current
 * details, and either retries by itself (an outage) or waits for an operator's `retry` or `abort`
 * (a refusal, or an outage that outlived its step's deadline).
 */
export interface OperatorControls {
  /**
   * Declares each step once, by its activity's name: the activity is called with its step's option
   * set, through the outage and refusal handling of that set, and the step is named after the
   * activity (in the search attributes, the details and the `attention` query). The result holds
   * only the declared activities, though its type names every activity of `A`.
   */
  steps<A>(declared: StepDeclarations<A>): Steps<A>;
  /**
   * Registers how to undo a step that has succeeded. On an operator's abort, or a refusal whose
   * step says `compensate`, the undos run newest first, each with its own activity options.
   * `undoes` says what it does ("refund payment pay_1"): a parked run's details list what abort
   * would undo, from these.
   */
  addCompensation(step: string, undo: () => Promise<unknown>, undoes?: string): void;
  setStatus(status: PipelineStatus): void;
  /**
   * Asks for a person about something no step failed at (a parcel past its deadline), while the
   * run goes on: the run is `NeedsAttention` with `kind`, the reason and what each decision does;
   * resolves with the operator's decision. If the matter settles by itself, the caller moves the
   * run on with `setStatus`; the question is then dropped, and a late decision is ignored.
   */
  askPerson(about: string, kind: AttentionKind, reason: string, decisions: Record<OperatorDecision, string>): Promise<OperatorDecision>;
  /**
   * Leaves the run `NeedsAttention` as it ends, for what a person must do by hand (refund a
   * payment that came too late): call it after the run's final `setStatus`.
   */
  flagForPerson(about: string, kind: AttentionKind, reason: string): void;
}

/** A step's option set; `stepName` when the operator has always known it by another name than its activity's. */
export type StepDeclarations<A> = { [K in keyof A]?: StepOptions & { stepName?: string } };

/** The declared activities, each called as an operator step. */
export type Steps<A> = {
  [K in keyof A]-?: A[K] extends (...args: infer P) => Promise<infer R> ? (...args: P) => Promise<Awaited<R>> : never;
};

/** Runs that park at an outage keep retrying by themselves; older histories waited for a person. */
const outageRetriesItself = 'outage-retries-itself';
/**
 * An outage's slow retries are Temporal's: one activity with a retry policy of `retryEvery` until
 * the deadline, whose attempts write nothing to the history. Runs before this retried in a loop
 * of their own, a timer and a round of fast attempts each time: about 11 events every 2 minutes,
 * a booking's day-long outage past 10,000 events and on its way to the history limit.
 */
const outageRetriedByTemporal = 'outage-retried-by-temporal';

/** A step's activity, called with its own option set, or with `slowly`'s while an outage lasts. */
type StepCall<T> = (slowly?: ActivityOptions) => Promise<T>;

/** How Temporal's retries of an outage ended when the activity did not: a decision, or the deadline. */
const decided = Symbol('decided');
const deadlinePassed = Symbol('deadlinePassed');

export function operatorControls(patches: RunPatches): OperatorControls {
  const attention: Attention = { status: 'Running' };
  const compensations: Array<{ step: string; undo: () => Promise<unknown>; undoes?: string }> = [];
  let decision: OperatorDecision | undefined;

  // A decision is for a parked step; one sent to a run that is not waiting would otherwise be
  // acted on at some later, unrelated failure.
  setHandler(operatorDecisionSignal, (d) => {
    if (attention.status !== 'NeedsAttention') {
      log.warn('Operator decision ignored: the run is not waiting for one', { decision: d, status: attention.status });
      return;
    }
    decision = d;
  });
  setHandler(attentionQuery, () => attention);

  function setStatus(status: PipelineStatus): void {
    Object.assign(attention, {
      status,
      failedStep: undefined,
      kind: undefined,
      nextRetryAt: undefined,
      retryingEvery: undefined,
      retriesBySelfUntil: undefined,
    });
    if (status !== 'Aborted') attention.lastError = undefined;
    upsertSearchAttributes([
      { key: pipelineStatusKey, value: status },
      { key: failedStepKey, value: null },
      { key: attentionKindKey, value: null },
    ]);
    setCurrentDetails('');
  }

  function park(
    step: string,
    kind: AttentionKind,
    error: string,
    bySelf?: { nextRetryAt?: Date; every?: string; until: Date },
    decisions?: Partial<Record<OperatorDecision, string>>,
  ): void {
    const wasParkedHere = attention.status === 'NeedsAttention' && attention.failedStep === step && attention.kind === kind;
    Object.assign(attention, {
      status: 'NeedsAttention',
      failedStep: step,
      kind,
      lastError: error,
      nextRetryAt: bySelf?.nextRetryAt?.toISOString(),
      retryingEvery: bySelf?.every,
      retriesBySelfUntil: bySelf?.until.toISOString(),
    });
    // Each search attribute update is a command in the history; a run retrying an outage every few
    // minutes for a day would write hundreds of identical ones.
    if (!wasParkedHere) {
      upsertSearchAttributes([
        { key: pipelineStatusKey, value: 'NeedsAttention' },
        { key: failedStepKey, value: step },
        { key: attentionKindKey, value: kind },
      ]);
    }
    setCurrentDetails(attentionDetails(attention, decisions));
  }

  /** The history before the self-retrying outage existed: park, then wait for a person. */
  function parkAsReleased(step: string, error: string): void {
    attention.status = 'NeedsAttention';
    attention.failedStep = step;
    attention.lastError = error;
    upsertSearchAttributes([
      { key: pipelineStatusKey, value: 'NeedsAttention' },
      { key: failedStepKey, value: step },
    ]);
  }

  async function compensate(): Promise<CompensationOutcome[]> {
    const outcomes: CompensationOutcome[] = [];
    for (const { step, undo } of compensations.splice(0).reverse()) {
      try {
        await undo();
        outcomes.push({ step, outcome: 'Compensated' });
      } catch (err) {
        // One undo that fails must not keep the others from running; the outcome records it.
        const error = rootMessage(err);
        log.error('Compensation failed', { step, error });
        outcomes.push({ step, outcome: 'Failed', error });
      }
    }
    if (outcomes.length) attention.compensations = [...(attention.compensations ?? []), ...outcomes];
    return outcomes;
  }

  async function step<T>(name: string, options: StepOptions, call: StepCall<T>): Promise<T> {
    let outageBegan: number | undefined;
    let slowly: { options: ActivityOptions; until: Date } | undefined;
    for (;;) {
      try {
        const retrying = slowly;
        const result = retrying ? await retriedByTemporal(retrying.options, call, retrying.until) : await call();
        slowly = undefined;
        if (result === deadlinePassed) {
          log.error('Outage outlived its deadline; waiting for an operator', { step: name });
          park(name, 'Outage', attention.lastError ?? 'outage', { until: retrying!.until });
          await condition(() => decision !== undefined);
        } else if (result !== decided) {
          if (attention.status === 'NeedsAttention') {
            log.info('Step succeeded after an outage', { step: name });
            decision = undefined;
            setStatus('Running');
          }
          return result;
        }
      } catch (err) {
        slowly = undefined;
        const kind = attentionKindOf(err);
        if (!kind) throw err;
        const error = rootMessage(err);
        // Not cleared here: a decision sent while a self-retry was in flight may arrive in the same
        // activation as its failure, and must not be lost.

        if (kind === 'Refusal' && options.onRefusal === 'compensate') {
          log.warn('Step refused; undoing the steps before it', { step: name, error });
          await compensate();
          setStatus('Rejected');
          throw ApplicationFailure.nonRetryable(`Step ${name} refused: ${error}`, 'StepRefused');
        }

        if (!patches.has(outageRetriesItself)) {
          log.error('Step exhausted its retries; waiting for an operator', { step: name, error });
          parkAsReleased(name, error);
          await condition(() => decision !== undefined);
        } else if (kind === 'Outage' && options.outage) {
          outageBegan ??= Date.now(); // workflow time: deterministic on replay
          const until = new Date(outageBegan + ms(options.outage.for));
          const remaining = until.getTime() - Date.now();
          if (remaining > 0 && patches.has(outageRetriedByTemporal)) {
            log.warn('Outage outlived the fast retries; Temporal retries it', { step: name, error, every: options.outage.retryEvery });
            park(name, kind, error, { every: String(options.outage.retryEvery), until });
            slowly = { options: outageRetries(options), until };
            if (decision === undefined) continue;
          } else if (remaining > 0) {
            const wait = Math.min(ms(options.outage.retryEvery), remaining);
            log.warn('Outage outlived the fast retries; retrying by itself', { step: name, error, retryInMs: wait });
            park(name, kind, error, { nextRetryAt: new Date(Date.now() + wait), until });
            if (!(await condition(() => decision !== undefined, wait))) continue;
          } else {
            log.error('Outage outlived its deadline; waiting for an operator', { step: name, error });
            park(name, kind, error, { until });
            await condition(() => decision !== undefined);
          }
        } else {
          log.error(`${kind === 'Refusal' ? 'Step refused' : 'Step exhausted its retries'}; waiting for an operator`, {
            step: name,
            error,
          });
          park(name, kind, error);
          await condition(() => decision !== undefined);
        }
      }

      const decidedNow = decision;
      decision = undefined;
      slowly = undefined;
      if (decidedNow === 'abort') {
        // An undo that is a step of its own clears the run's error when it succeeds; the abort's is this one.
        const error = attention.lastError;
        await compensate();
        setStatus('Aborted');
        Object.assign(attention, { failedStep: name, lastError: error });
        throw ApplicationFailure.nonRetryable(`Aborted by an operator at step ${name}`, 'OperatorAbort');
      }
      log.info('Operator asked to retry', { step: name });
      outageBegan = undefined;
      setStatus('Running');
    }
  }

  /**
   * Runs an outage's slow retries until the activity ends, an operator decides, or the deadline
   * passes; either of the last two cancels them (the server drops the next attempt). The first
   * attempt waits one interval too, as every later one does. The deadline is a workflow timer
   * rather than the activity's schedule-to-close timeout, which would end the retries up to one
   * interval early.
   */
  async function retriedByTemporal<T>(
    options: ActivityOptions,
    call: StepCall<T>,
    until: Date,
  ): Promise<T | typeof decided | typeof deadlinePassed> {
    const scope = new CancellationScope();
    try {
      return await scope.run(() =>
        Promise.race([
          sleep(options.retry!.initialInterval!).then(() => call(options)),
          condition(() => decision !== undefined).then((): typeof decided => decided),
          sleep(Math.max(until.getTime() - Date.now(), 1)).then((): typeof deadlinePassed => deadlinePassed),
        ]),
      );
    } finally {
      scope.cancel();
    }
  }

  function steps<A>(declared: StepDeclarations<A>): Steps<A> {
    const bound: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const [activity, options] of Object.entries(declared) as Array<[string, StepOptions & { stepName?: string }]>) {
      const call = options.localActivity
        ? proxyLocalActivities(options.localActivity)[activity]!
        : proxyActivities(options.activity)[activity]!;
      // An outage's slow retries run as a (remote) activity even for a local step: local retries
      // would each write a timer and a marker.
      bound[activity] = (...args) =>
        step(options.stepName ?? activity, options, (slowly) => (slowly ? proxyActivities(slowly)[activity]! : call)(...args));
    }
    return bound as Steps<A>;
  }

  async function askPerson(about: string, kind: AttentionKind, reason: string, decisions: Record<OperatorDecision, string>) {
    park(about, kind, reason, undefined, decisions);
    await condition(() => decision !== undefined);
    const decided = decision!;
    decision = undefined;
    return decided;
  }

  return {
    steps,
    addCompensation: (stepName, undo, undoes) => void compensations.push({ step: stepName, undo, undoes }),
    setStatus,
    askPerson,
    flagForPerson: (about, kind, reason) => park(about, kind, reason, undefined, {}),
  };

  /** `decisions`: what each decision does, for a run asking a person about something no step failed at. */
  function attentionDetails(a: Attention, decisions?: Partial<Record<OperatorDecision, string>>): string {
    const { workflowId } = workflowInfo();
    const what = { Outage: 'outage', Refusal: 'refusal', Overdue: 'overdue', LatePayment: 'late payment', PaymentRefused: 'payment refused', Undecodable: 'undecodable payload', DemographicsChanged: 'demographics changed' }[
      a.kind ?? 'Refusal'
    ];
    const lines = [
      decisions ? `**Needs attention** about \`${a.failedStep}\`: ${what}.` : `**Needs attention** at step \`${a.failedStep}\`: ${what}.`,
      '',
      `${decisions ? 'Reason' : 'Error'}: ${a.lastError}`,
      '',
    ];
    if (a.retryingEvery) {
      lines.push(
        `Temporal retries it every ${a.retryingEvery} until ${a.retriesBySelfUntil} (its attempts: Pending Activities); nothing to do if the outage ends.`,
        '',
      );
    } else if (a.nextRetryAt) lines.push(`Retrying by itself at ${a.nextRetryAt} (until ${a.retriesBySelfUntil}); nothing to do if the outage ends.`, '');
    else if (a.kind === 'Outage') lines.push(`Stopped retrying by itself at ${a.retriesBySelfUntil}.`, '');
    // Commands are broken over short lines, and the last line says nothing essential: the Web UI
    // (2.42) sizes the details frame a line short of its text and cuts wide lines.
    const signal = (decision: OperatorDecision) =>
      ['```', 'temporal workflow signal \\', `  --workflow-id ${workflowId} \\`, `  --name operatorDecision --input '"${decision}"'`, '```'];
    if (!decisions) {
      lines.push('What failed and when: the `attention` query (Queries tab).', '');
      lines.push('Retry the step now:', ...signal('retry'), `or give up on it (${whatAbortUndoes()}):`, ...signal('abort'));
      lines.push('These details clear once the step runs again.');
    } else {
      lines.push('What happened and when: the `attention` query (Queries tab).', '');
      for (const d of ['retry', 'abort'] as const) if (decisions[d]) lines.push(`${decisions[d]}:`, ...signal(d));
      lines.push('These details clear once the run goes on.');
    }
    return lines.join('\n');
  }

  /** What the undos registered so far do, newest first, as abort runs them. */
  function whatAbortUndoes(): string {
    if (!compensations.length) return 'nothing before it is undone';
    return `then, newest first: ${compensations.map((c) => c.undoes ?? `undo ${c.step}`).reverse().join('; ')}`;
  }
}

/**
 * The slow retries of an outage: the step's own timeout per attempt, an attempt every
 * `retryEvery`, with no end of their own (the workflow's deadline timer ends them).
 */
function outageRetries(options: StepOptions): ActivityOptions {
  const every = options.outage!.retryEvery;
  const retry = { initialInterval: every, backoffCoefficient: 1, maximumInterval: every };
  // A remote step keeps every option of its own but the retry policy: a step another pipeline's
  // workers run (a refund) retries on their task queue, not this run's, where no worker has it.
  if (options.activity) return { ...options.activity, retry: { ...retry, nonRetryableErrorTypes: options.activity.retry?.nonRetryableErrorTypes } };
  // A local step has no remote options to keep (a local activity runs on the run's own worker).
  const local = options.localActivity;
  return { startToCloseTimeout: local.startToCloseTimeout, retry: { ...retry, nonRetryableErrorTypes: local.retry?.nonRetryableErrorTypes } };
}

/** Whether a step's activity failed for good at a refusal or an outage; undefined for anything else. */
function attentionKindOf(err: unknown): AttentionKind | undefined {
  if (err instanceof ActivityFailure) return err.retryState === RetryState.NON_RETRYABLE_FAILURE ? 'Refusal' : 'Outage';
  // A local activity's failure reaches the workflow as it is, without ActivityFailure's retry state.
  if (err instanceof ApplicationFailure) return err.nonRetryable ? 'Refusal' : 'Outage';
  if (err instanceof TimeoutFailure) return 'Outage';
  return undefined;
}

/** The message of the innermost cause: the activity's own error, not "Activity task failed". */
function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown };
  while (e.cause) e = e.cause as typeof e;
  return e.message ?? String(err);
}
