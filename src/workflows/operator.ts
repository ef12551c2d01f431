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
   * run on with `setStatus`; the question is then dropped, and a late decision is ignored. While a
   * step of the run waits for a person, the step's question is shown and answered first.
   */
  askPerson(about: string, kind: AttentionKind, reason: string, decisions: Record<OperatorDecision, string>): Promise<OperatorDecision>;
  /**
   * Leaves the run `NeedsAttention` as it ends, for what a person must do by hand (refund a
   * payment that came too late): call it after the run's final `setStatus`. Nobody waits on a
   * flag, so a decision sent then is ignored; while the run waits for a person about something
   * else, the flag is only logged, and that question stays shown.
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

/**
 * A decision answers the question the run shows, and only that one. A run can wait for a person
 * about two things at once: a prescription's tracking refused by the carrier while its delivery
 * deadline passes. With one decision for the whole run, one answer settled both, though the run
 * showed one; and a decision sent while the run waited on nothing (it showed a flag, or was undoing
 * its steps after an abort) was kept, and acted on at a later, unrelated question. Runs that began
 * before keep one decision for the whole run. A workflow where that could have happened (it waits
 * on two things at once, flags a person mid-run, or has undos) lists this patch in its
 * `patchesOfThisRun`, so its runs under way keep the old rule; in the others the two rules decide
 * alike, and every run since `patches-decided-at-start` takes the new one.
 */
export const oneDecisionPerQuestion = 'one-decision-per-question';

/** A wait for a person: how the run shows it, and the decision once one comes. */
interface Question {
  show: () => void;
  decision?: OperatorDecision;
}

/** A step's activity, called with its own option set, or with `slowly`'s while an outage lasts. */
type StepCall<T> = (slowly?: ActivityOptions) => Promise<T>;

/** How Temporal's retries of an outage ended when the activity did not: a decision, or the deadline. */
const decided = Symbol('decided');
const deadlinePassed = Symbol('deadlinePassed');

export function operatorControls(patches: RunPatches): OperatorControls {
  const attention: Attention = { status: 'Running' };
  const compensations: Array<{ step: string; undo: () => Promise<unknown>; undoes?: string }> = [];
  const perQuestion = patches.has(oneDecisionPerQuestion);
  /** Runs before `oneDecisionPerQuestion`: the one decision, whichever question it answers. */
  let decision: OperatorDecision | undefined;
  // A step that waits for a person is shown, and answered, before a question about the run: the
  // run cannot go on until it is settled.
  const stepQuestions: Question[] = [];
  const runQuestions: Question[] = [];
  const shownQuestion = (): Question | undefined => stepQuestions.at(-1) ?? runQuestions.at(-1);

  // A decision is for a question the run is waiting on; one sent to a run that is not waiting would
  // otherwise be acted on at some later, unrelated failure.
  setHandler(operatorDecisionSignal, (d) => {
    const waiting = perQuestion ? shownQuestion() !== undefined : attention.status === 'NeedsAttention';
    if (!waiting) {
      log.warn('Operator decision ignored: the run is not waiting for one', { decision: d, status: attention.status });
      return;
    }
    if (perQuestion) shownQuestion()!.decision = d;
    else decision = d;
  });
  setHandler(attentionQuery, () => attention);

  const answered = (q: Question): boolean => (perQuestion ? q.decision : decision) !== undefined;

  /** Waits on `q` from now on; shows it unless another question is shown before it. */
  function ask(q: Question, queue: Question[]): void {
    if (!queue.includes(q)) queue.push(q);
    if (!perQuestion || shownQuestion() === q) q.show();
  }

  /** `q`'s decision; `q` waits no longer. */
  function takeDecision(q: Question): OperatorDecision | undefined {
    const taken = perQuestion ? q.decision : decision;
    decision = undefined;
    withdraw(q);
    return taken;
  }

  function withdraw(q: Question): void {
    for (const queue of [stepQuestions, runQuestions]) if (queue.includes(q)) queue.splice(queue.indexOf(q), 1);
  }

  /**
   * The run goes on: questions about the run are dropped (a late decision is ignored), and a step
   * still waiting for a person is shown again.
   */
  function setStatus(status: PipelineStatus): void {
    runQuestions.length = 0;
    showStatus(status);
    if (perQuestion && status === 'Running') shownQuestion()?.show();
  }

  /**
   * The run resumes after a step's wait; another step still waiting for a person is shown. (Under
   * the old rule nothing reads the questions, so this is `setStatus('Running')` there.)
   */
  function resume(): void {
    showStatus('Running');
    if (perQuestion) shownQuestion()?.show();
  }

  function showStatus(status: PipelineStatus): void {
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
    let lastError: string | undefined;
    /** This step's wait for a person, from its first park until it runs on (kept across the slow retries). */
    let question: Question | undefined;
    const parkHere = (show: () => void): Question => {
      question ??= { show };
      question.show = show;
      ask(question, stepQuestions);
      return question;
    };
    for (;;) {
      try {
        const retrying = slowly;
        const result = retrying ? await retriedByTemporal(retrying.options, call, retrying.until, question!) : await call();
        slowly = undefined;
        if (result === deadlinePassed) {
          log.error('Outage outlived its deadline; waiting for an operator', { step: name });
          const q = parkHere(() => park(name, 'Outage', lastError ?? 'outage', { until: retrying!.until }));
          await condition(() => answered(q));
        } else if (result !== decided) {
          // A step that succeeds clears the run's attention: its own wait, or a flag (nobody waits on a flag).
          const waited = question !== undefined;
          if (question) withdraw(question);
          question = undefined;
          if (attention.status === 'NeedsAttention' && (!perQuestion || waited || !shownQuestion())) {
            log.info('Step succeeded after an outage', { step: name });
            decision = undefined;
            resume();
          }
          return result;
        }
      } catch (err) {
        slowly = undefined;
        const kind = attentionKindOf(err);
        if (!kind) throw err;
        const error = rootMessage(err);
        lastError = error;
        // The question is not cleared here: a decision sent while a self-retry was in flight may
        // arrive in the same activation as its failure, and must not be lost.

        if (kind === 'Refusal' && options.onRefusal === 'compensate') {
          log.warn('Step refused; undoing the steps before it', { step: name, error });
          if (question) withdraw(question);
          await compensate();
          setStatus('Rejected');
          throw ApplicationFailure.nonRetryable(`Step ${name} refused: ${error}`, 'StepRefused');
        }

        if (!patches.has(outageRetriesItself)) {
          log.error('Step exhausted its retries; waiting for an operator', { step: name, error });
          const q = parkHere(() => parkAsReleased(name, error));
          await condition(() => answered(q));
        } else if (kind === 'Outage' && options.outage) {
          outageBegan ??= Date.now(); // workflow time: deterministic on replay
          const until = new Date(outageBegan + ms(options.outage.for));
          const remaining = until.getTime() - Date.now();
          if (remaining > 0 && patches.has(outageRetriedByTemporal)) {
            log.warn('Outage outlived the fast retries; Temporal retries it', { step: name, error, every: options.outage.retryEvery });
            const q = parkHere(() => park(name, kind, error, { every: String(options.outage!.retryEvery), until }));
            slowly = { options: outageRetries(options), until };
            if (!answered(q)) continue;
          } else if (remaining > 0) {
            const wait = Math.min(ms(options.outage.retryEvery), remaining);
            log.warn('Outage outlived the fast retries; retrying by itself', { step: name, error, retryInMs: wait });
            const nextRetryAt = new Date(Date.now() + wait);
            const q = parkHere(() => park(name, kind, error, { nextRetryAt, until }));
            if (!(await condition(() => answered(q), wait))) continue;
          } else {
            log.error('Outage outlived its deadline; waiting for an operator', { step: name, error });
            const q = parkHere(() => park(name, kind, error, { until }));
            await condition(() => answered(q));
          }
        } else {
          log.error(`${kind === 'Refusal' ? 'Step refused' : 'Step exhausted its retries'}; waiting for an operator`, {
            step: name,
            error,
          });
          const q = parkHere(() => park(name, kind, error));
          await condition(() => answered(q));
        }
      }

      const decidedNow = takeDecision(question!);
      question = undefined;
      slowly = undefined;
      if (decidedNow === 'abort') {
        // An undo that is a step of its own clears the run's error when it succeeds; the abort's is this one.
        const error = lastError;
        await compensate();
        setStatus('Aborted');
        Object.assign(attention, { failedStep: name, lastError: error });
        throw ApplicationFailure.nonRetryable(`Aborted by an operator at step ${name}`, 'OperatorAbort');
      }
      log.info('Operator asked to retry', { step: name });
      outageBegan = undefined;
      resume();
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
    question: Question,
  ): Promise<T | typeof decided | typeof deadlinePassed> {
    const scope = new CancellationScope();
    try {
      return await scope.run(() =>
        Promise.race([
          sleep(options.retry!.initialInterval!).then(() => call(options)),
          condition(() => answered(question)).then((): typeof decided => decided),
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
    const question: Question = { show: () => park(about, kind, reason, undefined, decisions) };
    ask(question, runQuestions);
    await condition(() => answered(question));
    return takeDecision(question)!;
  }

  /** A flag is shown unless the run waits for a person: the question it waits on stays shown, and answerable. */
  function flagForPerson(about: string, kind: AttentionKind, reason: string): void {
    if (perQuestion && shownQuestion()) {
      log.warn('Not shown while the run waits for a person about something else', { about, kind, reason });
      return;
    }
    park(about, kind, reason, undefined, {});
  }

  return {
    steps,
    addCompensation: (stepName, undo, undoes) => void compensations.push({ step: stepName, undo, undoes }),
    setStatus,
    askPerson,
    flagForPerson,
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
